"""Topic matching, the in-process broker, the bounded inbox, broker addresses, MQTT SUBACK."""

from __future__ import annotations

import pytest

from sciot.errors import ConfigError
from sciot.sensors import Inbox, InProcessPubSub, MqttPubSub, parse_broker, topic_matches


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("sensors/+/data", "sensors/t1/data", True),
        ("sensors/+/data", "sensors/t1/anomaly", False),
        ("sensors/+/data", "sensors/t1/data/x", False),
        ("sensors/#", "sensors/t1/data", True),
        ("alerts/+/notification", "alerts/t1/notification", True),
        ("a/b", "a", False),
    ],
)
def test_topic_matches(pattern: str, topic: str, expected: bool) -> None:
    assert topic_matches(pattern, topic) is expected


def test_in_process_shared_subscription_splits_messages() -> None:
    bus = InProcessPubSub()
    first: list[str] = []
    second: list[str] = []
    everyone: list[str] = []
    bus.subscribe("$share/g/sensors/+/data", lambda t, p: first.append(t))
    bus.subscribe("$share/g/sensors/+/data", lambda t, p: second.append(t))
    bus.subscribe("sensors/#", lambda t, p: everyone.append(t))
    for i in range(10):
        bus.publish(f"sensors/s{i}/data", b"x")
    bus.publish("other/topic", b"x")
    assert len(first) == len(second) == 5
    assert len(everyone) == 10 and bus.unrouted == 1
    with pytest.raises(ConfigError, match="share"):
        bus.subscribe("$share/onlygroup", lambda t, p: None)


def test_inbox_is_bounded_and_counts_drops() -> None:
    inbox = Inbox(3)
    for i in range(5):
        inbox.offer(f"t{i}", b"p")
    assert inbox.dropped == 2 and inbox.received == 5 and len(inbox) == 3
    got = inbox.drain(2, timeout_s=0.0)
    assert [g[0] for g in got] == ["t0", "t1"]
    assert [g[0] for g in inbox.drain(10, timeout_s=0.0)] == ["t2"]
    assert inbox.drain(10, timeout_s=0.01) == []


def test_parse_broker() -> None:
    assert str(parse_broker("127.0.0.1:1884")) == "127.0.0.1:1884"
    assert parse_broker("localhost").port == 1883
    assert parse_broker("[::1]:1885").host == "::1"
    with pytest.raises(ConfigError, match="not a number"):
        parse_broker("host:abc")
    with pytest.raises(ConfigError, match=r"1\.\.65535"):
        parse_broker("host:0")


@pytest.mark.slow
def test_mqtt_subscription_is_in_place_when_subscribe_returns(mosquitto: str) -> None:
    # The very first message published on another connection right after subscribe() returns
    # must arrive: subscribe waits for the broker's SUBACK instead of racing the publisher.
    address = parse_broker(mosquitto)
    subscriber, publisher = MqttPubSub(address), MqttPubSub(address)
    try:
        inbox = Inbox(100)
        subscriber.subscribe("sensors/+/data", inbox.offer, qos=1)
        publisher.publish("sensors/first/data", b"0", qos=1)
        publisher.flush(timeout_s=5.0)
        got = inbox.drain(10, timeout_s=5.0)
        assert [(topic, payload) for topic, payload, _, _ in got] == [("sensors/first/data", b"0")]
    finally:
        subscriber.close()
        publisher.close()
