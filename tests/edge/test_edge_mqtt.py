"""Split inference over MQTT through a real Mosquitto, and what the MQTT listener refuses."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from broker_testkit import mosquitto
from edge_testkit import Fomo, edge_config
from paho.mqtt.enums import CallbackAPIVersion

from sciot.device import CutArtefacts, DeviceClient, DeviceConfig, InferenceMode
from sciot.edge import EdgeApp, start_edge
from sciot.edge._mqtt_listener import MqttListener
from sciot.errors import ConfigError, TransportError
from sciot.transport import MqttClientTransport, client_transport
from sciot.wire import (
    DeviceProfile,
    ErrorCode,
    ErrorFrame,
    InferResponse,
    OfflineAck,
    Register,
    RegisterAck,
    decode,
    encode,
)

INTERIOR_CUT = 13


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    with mosquitto(tmp_path) as port:
        yield port


@pytest.fixture
def edge(tmp_path: Path, broker: int) -> Iterator[tuple[EdgeApp, MqttListener]]:
    server, app = start_edge(edge_config(tmp_path))
    listener = MqttListener(app.core, host="127.0.0.1", port=broker).start()
    try:
        yield app, listener
    finally:
        listener.stop()
        server.stop()


def _register(device_id: str, fomo: Fomo, seq: int = 0) -> bytes:
    return encode(
        Register(
            device_id=device_id, model_id=fomo.graph.model_id, profile=DeviceProfile(), seq=seq
        )
    )


def test_split_over_mqtt_equals_the_whole_model(
    edge: tuple[EdgeApp, MqttListener], broker: int, fomo: Fomo
) -> None:
    config = DeviceConfig.from_mapping(
        {"device_id": "mqtt-cam", "timeout_s": 10.0, "initial_cut": INTERIOR_CUT}
    )
    transport = client_transport(f"mqtt://127.0.0.1:{broker}")
    with DeviceClient(config, transport, artefacts=CutArtefacts(fomo.graph)) as client:
        assert client.start()
        x = np.asarray(fomo.crossing[0][0].array)
        outcome = client.infer(x)
        assert outcome.mode is InferenceMode.SPLIT, outcome.reason
        assert outcome.cut == INTERIOR_CUT
        assert np.array_equal(next(iter(outcome.outputs.values())), fomo.expected)
        for _ in range(5):
            again = client.infer(x)
            assert again.mode is not InferenceMode.LOCAL, again.reason
            assert np.array_equal(next(iter(again.outputs.values())), fomo.expected)


class _Recorder:
    """A raw MQTT peer that sends exactly what a test needs and records every reply."""

    def __init__(self, port: int, topic: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._got = threading.Condition()
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        done = threading.Event()
        self.client.on_subscribe = lambda *a: done.set()
        self.client.subscribe(topic, qos=1)
        assert done.wait(5.0)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self._got:
            self.messages.append((message.topic, bytes(message.payload)))
            self._got.notify_all()

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout_s
        with self._got:
            while len(self.messages) < count and time.monotonic() < deadline:
                self._got.wait(deadline - time.monotonic())
            return list(self.messages)

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5.0)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_a_redelivered_request_is_answered_again_but_run_once(
    edge: tuple[EdgeApp, MqttListener], broker: int, fomo: Fomo
) -> None:
    app, listener = edge
    peer = _Recorder(broker, "sciot/dup/result")
    try:
        peer.publish("sciot/dup/infer", _register("dup", fomo))
        request = encode(fomo.request(INTERIOR_CUT, device_id="dup", seq=7))
        for _ in range(3):  # the broker redelivering, or the device retransmitting
            peer.publish("sciot/dup/infer", request)
        messages = peer.wait_for(4)
    finally:
        peer.close()
    replies = [decode(payload) for _, payload in messages]
    assert isinstance(replies[0], RegisterAck)
    results = [r for r in replies[1:] if isinstance(r, InferResponse)]
    assert len(results) == 3
    assert all(np.array_equal(r.tensors[0].array, fomo.expected) for r in results)
    assert app.core.devices["dup"].inferences == 1
    assert listener.duplicates == 2


def test_unknown_device_and_foreign_frames_are_refused_and_others_still_served(
    edge: tuple[EdgeApp, MqttListener], broker: int, fomo: Fomo
) -> None:
    _, listener = edge
    peer = _Recorder(broker, "sciot/+/result")
    try:
        peer.publish("sciot/ghost/infer", encode(fomo.request(INTERIOR_CUT, device_id="ghost")))
        peer.publish("sciot/liar/infer", _register("someone-else", fomo))
        peer.publish("sciot/junk/infer", b"\x00" * 50)
        peer.publish("sciot/short/infer", _register("short", fomo)[:-3])  # truncated frame
        messages = peer.wait_for(4)
    finally:
        peer.close()
    by_topic = {topic: decode(payload) for topic, payload in messages}
    ghost = by_topic["sciot/ghost/result"]
    assert isinstance(ghost, ErrorFrame) and ghost.code is ErrorCode.UNKNOWN_DEVICE
    liar = by_topic["sciot/liar/result"]
    assert isinstance(liar, ErrorFrame) and "arrived on sciot/liar/infer" in liar.reason
    junk = by_topic["sciot/junk/result"]
    assert isinstance(junk, ErrorFrame) and junk.code is ErrorCode.MALFORMED
    short = by_topic["sciot/short/result"]
    assert isinstance(short, ErrorFrame) and short.code is ErrorCode.MALFORMED
    transport = MqttClientTransport(f"mqtt://127.0.0.1:{broker}")
    try:
        assert isinstance(
            decode(transport.request(_register("ok", fomo), timeout_s=5.0)), RegisterAck
        )
    finally:
        transport.close()
    assert listener.refused == 4


def test_the_decision_topic_carries_the_next_cut_retained(
    edge: tuple[EdgeApp, MqttListener], broker: int, fomo: Fomo
) -> None:
    transport = MqttClientTransport(f"mqtt://127.0.0.1:{broker}")
    try:
        ack = decode(transport.request(_register("decider", fomo), timeout_s=5.0))
        assert isinstance(ack, RegisterAck)
    finally:
        transport.close()
    late = _Recorder(broker, "sciot/decider/decision")  # subscribes after it was published
    try:
        ((_, payload),) = late.wait_for(1)
    finally:
        late.close()
    assert int(payload.decode()) == ack.cut


def test_the_client_refuses_bad_urls_and_device_ids_and_names_a_missing_broker(
    fomo: Fomo,
) -> None:
    with pytest.raises(ConfigError, match="mqtt://HOST"):
        MqttClientTransport("mqtt:///nohost")
    transport = MqttClientTransport("mqtt://127.0.0.1:1")
    with pytest.raises(ConfigError, match="topic level"):
        transport.request(_register("a/b", fomo), timeout_s=1.0)
    with pytest.raises(TransportError, match="cannot reach the MQTT broker"):
        transport.request(_register("fine", fomo), timeout_s=1.0)


def test_a_late_reply_to_another_frame_of_the_same_seq_is_not_taken(
    broker: int, fomo: Fomo
) -> None:
    """A device's report and the probe it sends alongside the same inference share a
    sequence number: a late copy of the report's ack (a retransmit answered twice) must not
    be taken for the probe's reply."""
    request = fomo.request(INTERIOR_CUT, device_id="twin", seq=5)
    stale = OfflineAck(
        device_id="twin", model_id=fomo.graph.model_id, seq=5, accepted=1, next_cut=3
    )
    answer = InferResponse(
        device_id="twin",
        model_id=fomo.graph.model_id,
        seq=5,
        cut=INTERIOR_CUT,
        next_cut=INTERIOR_CUT,
        tensors=(),
    )
    edge = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)

    def answer_late_copy_first(client: Any, userdata: Any, message: Any) -> None:
        client.publish("sciot/twin/result", encode(stale), qos=1)
        client.publish("sciot/twin/result", encode(answer), qos=1)

    subscribed = threading.Event()
    edge.on_message = answer_late_copy_first
    edge.on_subscribe = lambda *a: subscribed.set()
    edge.connect("127.0.0.1", broker)
    edge.loop_start()
    try:
        edge.subscribe("sciot/twin/infer", qos=1)
        assert subscribed.wait(5.0)
        transport = MqttClientTransport(f"mqtt://127.0.0.1:{broker}")
        try:
            reply = decode(transport.request(encode(request), timeout_s=5.0))
        finally:
            transport.close()
    finally:
        edge.disconnect()
        edge.loop_stop()
    assert isinstance(reply, InferResponse) and reply == answer
