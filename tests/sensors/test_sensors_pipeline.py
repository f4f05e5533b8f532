"""The whole pipeline: in-process and through a real Mosquitto started by the test."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from typing import Any

import pytest

from sciot.errors import ConfigError, TransportError
from sciot.sensors import (
    IngestStage,
    InProcessPubSub,
    MqttPubSub,
    PipelineConfig,
    PubSub,
    SensorPublisher,
    parse_broker,
    parse_config,
    run_pipeline,
)

BAD_PAYLOADS = [
    b"{not json",
    b'{"sensor_id": "temp_0", "value": 1}',
    b'{"sensor_id":"temp_0","sensor_type":"t","timestamp":"2026-03-02T00:00:00Z","value":"x"}',
    b"SCRB\x01\x00",
]


def _config(encoding: str = "batch", speed: float = 100.0, qos: int = 0) -> PipelineConfig:
    types = ("temperature", "humidity", "pressure", "power")
    sensors: list[dict[str, Any]] = [
        {"id": f"{t[:4]}_{i}", "type": t, "location": f"loc{i}", "rate_hz": 10.0}
        for i in range(2)
        for t in types
    ]
    sensors.append({"id": "vib_0", "type": "vibration", "location": "loc0", "rate_hz": 50.0})
    return parse_config(
        {
            "seed": 5,
            "sensors": sensors,
            "anomalies": {"warmup_s": 60, "mean_gap_s": 40, "min_gap_s": 40},
            "simulation": {"speed": speed, "encoding": encoding, "qos": qos},
            "alerts": {"cooldown_s": 30},
        }
    )


def _check_report(report: Any) -> None:
    doc = report.to_json()
    assert doc["published"] > 1000
    assert doc["readings"] == doc["published"], doc  # nothing lost, nothing rejected
    assert doc.get("unarrived_messages", 0) == 0
    assert doc["malformed"] == doc["dropped"] == doc["late"] == doc["duplicate"] == 0
    assert doc["alerts"] >= 3
    assert doc["events"] >= 3
    assert doc["recall"] >= 0.7 and doc["precision"] >= 0.7
    assert doc["latency_ms"]["p50"] is not None
    assert set(doc["per_kind"]) == {
        "spike",
        "level_shift",
        "drift",
        "stuck",
        "dropout",
        "noise_burst",
    }
    json.dumps(doc)


def test_in_process_pipeline_end_to_end() -> None:
    _check_report(run_pipeline(_config(), duration_s=3.0))


def test_without_a_broker_only_all_mode_makes_sense() -> None:
    with pytest.raises(ConfigError, match="needs --broker"):
        run_pipeline(_config(), mode="ingest", duration_s=1.0)


def _drive(publisher: SensorPublisher, ingest: IngestStage, bus: PubSub, sim_s: float) -> None:
    start = publisher.simulator.start_s
    for k in range(1, 61):
        publisher.publish_until(start + sim_s * k / 60)
        bus.flush(timeout_s=5.0)
        _settle(ingest, publisher.messages)


def _settle(ingest: IngestStage, expected: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ingest.step(timeout_s=0.01)
        if ingest.inbox.received >= expected and len(ingest.inbox) == 0:
            return
    raise AssertionError(f"only {ingest.inbox.received} of {expected} messages arrived")


def test_stage_skips_malformed_and_publishes_alerts() -> None:
    bus = InProcessPubSub()
    config = _config("json")
    ingest = IngestStage(config, bus)
    notifications: list[tuple[str, dict[str, Any]]] = []
    bus.subscribe("alerts/+/notification", lambda t, p: notifications.append((t, json.loads(p))))
    publisher = SensorPublisher(config, bus)
    for payload in BAD_PAYLOADS:
        bus.publish("sensors/temp_0/data", payload)
    _drive(publisher, ingest, bus, sim_s=400.0)
    counts = ingest.counts
    assert counts.malformed == len(BAD_PAYLOADS)
    assert counts.readings == publisher.readings
    assert ingest.alerts and len(notifications) == len(ingest.alerts)
    topic, doc = notifications[0]
    assert topic == f"alerts/{doc['sensor_id']}/notification"
    assert {"severity", "reason", "feature", "timestamp", "kind"} <= set(doc)


@pytest.mark.slow
@pytest.mark.parametrize("encoding", ["batch", "json"])
def test_pipeline_through_mosquitto(mosquitto: str, encoding: str) -> None:
    speed = 100.0 if encoding == "batch" else 40.0
    # QoS 1: the broker may drop QoS 0 messages under load (counted as unarrived_messages);
    # this test claims that nothing is lost, so it asks for at-least-once delivery. A loaded
    # machine moves the messages more slowly, never fewer of them: the settle bound is a
    # safety net far above the drain time, so the count checked is exact, not a race.
    config = _config(encoding, speed=speed, qos=1)
    _check_report(run_pipeline(config, duration_s=4.0, broker=mosquitto, settle_s=60.0))


@pytest.mark.slow
def test_shared_subscription_splits_load_and_malformed_is_counted(mosquitto: str) -> None:
    address = parse_broker(mosquitto)
    config = _config("batch")
    clients = [MqttPubSub(address) for _ in range(4)]
    try:
        pub, a_side, b_side, watcher = clients
        first, second = IngestStage(config, a_side), IngestStage(config, b_side)
        alerts_seen: list[str] = []
        watcher.subscribe("alerts/+/notification", lambda t, p: alerts_seen.append(t), qos=1)
        time.sleep(0.2)  # let the SUBSCRIBEs reach the broker before publishing
        publisher = SensorPublisher(config, pub)
        for payload in BAD_PAYLOADS:
            pub.publish("sensors/temp_0/data", payload)
        start = publisher.simulator.start_s
        for k in range(1, 41):
            publisher.publish_until(start + 10.0 * k)
        pub.flush(timeout_s=5.0)
        expected = publisher.messages + len(BAD_PAYLOADS)
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline:
            first.step(timeout_s=0.01)
            second.step(timeout_s=0.01)
            if first.inbox.received + second.inbox.received >= expected:
                break
        first.step(timeout_s=0.0)
        second.step(timeout_s=0.0)
        assert first.inbox.received + second.inbox.received == expected
        assert first.inbox.received > 0 and second.inbox.received > 0  # load was split
        assert first.counts.malformed + second.counts.malformed == len(BAD_PAYLOADS)
        total = first.counts.readings + second.counts.readings
        late = first.counts.late + second.counts.late
        assert total + late + first.counts.duplicate + second.counts.duplicate == (
            publisher.readings
        )
        raised = len(first.alerts) + len(second.alerts)
        assert raised > 0
        deadline = time.monotonic() + 5.0
        while len(alerts_seen) < raised and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(alerts_seen) == raised
    finally:
        for c in clients:
            c.close()


@pytest.mark.slow
def test_unreachable_broker_says_where_and_what_to_do() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens here once the socket is closed
    with pytest.raises(TransportError, match=f"127.0.0.1:{port}.*--broker"):
        run_pipeline(_config(), duration_s=1.0, broker=f"127.0.0.1:{port}")


@pytest.mark.slow
def test_simulate_and_ingest_as_separate_runs(mosquitto: str) -> None:
    config = _config("batch")
    reports: dict[str, Any] = {}

    def ingest() -> None:
        reports["ingest"] = run_pipeline(config, mode="ingest", duration_s=5.0, broker=mosquitto)

    thread = threading.Thread(target=ingest)
    thread.start()
    time.sleep(0.5)
    published = run_pipeline(config, mode="simulate", duration_s=2.5, broker=mosquitto)
    thread.join(timeout=30)
    got = reports["ingest"].to_json()
    assert published.published > 1000 and published.to_json()["readings"] == 0
    assert got["readings"] == published.published
    assert got["alerts"] >= 1
    assert got["events"] >= 1 and got["recall"] is not None  # truth came over MQTT


def test_ingest_can_be_partitioned_by_topic() -> None:
    doc = _config().model_dump()
    doc["processing"].update(group=None, topics=["sensors/temp_0/data", "sensors/vib_0/data"])
    config = parse_config(doc)
    bus = InProcessPubSub()
    ingest = IngestStage(config, bus)
    publisher = SensorPublisher(config, bus)
    publisher.publish_until(publisher.simulator.start_s + 50.0)
    while ingest.step(timeout_s=0.0):
        pass
    assert ingest.windows.seen("temp_0") and ingest.windows.seen("vib_0")
    assert not ingest.windows.seen("humi_0")
    assert ingest.counts.readings == 50 * (10 + 50)


def test_reading_topics_are_checked() -> None:
    doc = _config().model_dump()
    doc["processing"]["topics"] = ["alerts/+/notification"]
    with pytest.raises(ConfigError, match="sensors/<id>/data"):
        parse_config(doc)


@pytest.mark.slow
def test_losing_the_broker_is_an_error_not_a_hang(
    mosquitto_process: tuple[str, subprocess.Popen[bytes]],
) -> None:
    address, proc = mosquitto_process

    def stop_broker() -> None:
        time.sleep(1.0)
        proc.terminate()

    killer = threading.Thread(target=stop_broker)
    killer.start()
    started = time.monotonic()
    with pytest.raises(TransportError, match=r"lost|failed"):
        run_pipeline(_config(), duration_s=20.0, broker=address)
    killer.join()
    assert time.monotonic() - started < 15.0
