"""The edge side of MQTT: answer ``<prefix>/<device>/infer`` on ``<prefix>/<device>/result``.

paho's network thread only enqueues (bounded queues; overflow is counted, and the device's
retransmit recovers it); each device's frames go to one worker's queue, so they are answered
in the order they were sent (a registration before the inference behind it), while
different devices run in parallel. Worker threads run :meth:`EdgeCore.handle_frame` and publish the
reply at QoS 1. A request is identified by device, sequence number and CRC-32 of its bytes:
a redelivered or retransmitted request is answered from the :class:`SharedState` reply cache
instead of running the tail again. ``<prefix>/<device>/decision`` carries, retained, the cut
the device should use next (ASCII decimal), whenever it changes.

Several edge workers serve one fleet by subscribing as one group (``$share/<group>/...``):
the broker spreads requests among them. A worker that receives a request from a device that
registered with another worker first replays that device's registration from the shared
state, so no device ever sees "unknown device" because of which worker got its frame.
"""

from __future__ import annotations

import logging
import os
import queue
import ssl
import struct
import threading
import time
import zlib
from typing import Any

from sciot.edge._listeners import FrameHandler, frame_handler
from sciot.edge._shared_state import LocalState, SharedState
from sciot.errors import MissingExtraError, TransportError
from sciot.transport._framing import frame_device_id, frame_seq
from sciot.transport._mqtt import decision_topic, no_delay, result_topic

log = logging.getLogger("sciot.edge.mqtt")

QOS = 1
TYPE_REGISTER = 1
TYPE_REGISTER_ACK = 2
TYPE_INFER_RESPONSE = 4
_STOP = ("", b"", 0.0)


def next_cut_of(reply: bytes) -> int | None:
    """The cut a RegisterAck or InferResponse tells the device to use next (header peek)."""
    if len(reply) < 37:
        return None
    if reply[3] == TYPE_REGISTER_ACK:
        return int(struct.unpack_from("<H", reply, 24)[0])
    if reply[3] == TYPE_INFER_RESPONSE:
        body = 37 + reply[36]
        if len(reply) >= body + 2:
            return int(struct.unpack_from("<H", reply, body)[0])
    return None


class MqttListener:
    """Serves an :class:`EdgeCore` through an MQTT broker (optionally as one of a group)."""

    def __init__(
        self,
        core: FrameHandler,
        *,
        host: str,
        port: int,
        prefix: str = "sciot",
        group: str | None = None,
        workers: int = 2,
        max_queued: int = 10_000,
        state: SharedState | None = None,
        connect_timeout_s: float = 5.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.core = core
        self._tls = tls
        """Set: connect to the broker over TLS, verifying its certificate with this context."""
        self.prefix = prefix
        self.group = group
        self.state: SharedState = state if state is not None else LocalState()
        self._host = host
        self._port = port
        self._connect_timeout_s = connect_timeout_s
        # (topic, payload, when it was queued: perf_counter), per lane
        self._queues: list[queue.Queue[tuple[str, bytes, float]]] = [
            queue.Queue(max(1, max_queued // workers)) for _ in range(workers)
        ]
        self._workers = [
            threading.Thread(target=self._work, args=(q,), name=f"sciot-mqtt-{i}", daemon=True)
            for i, q in enumerate(self._queues)
        ]
        self._inflight: set[tuple[str, int, int]] = set()
        self._lock = threading.Lock()
        self._decisions: dict[str, int] = {}
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._error: str | None = None
        self._client: Any = None
        self.received = 0
        self.answered = 0
        self.duplicates = 0
        self.dropped = 0
        self.refused = 0
        self.replayed_registrations = 0

    @property
    def topic_filter(self) -> str:
        plain = f"{self.prefix}/+/infer"
        return plain if self.group is None else f"$share/{self.group}/{plain}"

    def start(self) -> MqttListener:
        try:
            import paho.mqtt.client as mqtt
            from paho.mqtt.enums import CallbackAPIVersion
        except ImportError:
            raise MissingExtraError("paho-mqtt", "edge", "the edge's MQTT listener") from None

        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"sciot-edge-{os.getpid()}-{id(self):x}",
            protocol=mqtt.MQTTv5,
        )
        client.max_inflight_messages_set(1000)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        if self._tls is not None:
            client.tls_set_context(self._tls)
        try:
            client.connect(self._host, self._port, keepalive=30)
        except (OSError, ValueError) as exc:
            raise TransportError(
                f"cannot reach the MQTT broker at {self._host}:{self._port}: {exc}"
            ) from exc
        self._client = client
        for worker in self._workers:
            worker.start()
        client.loop_start()
        if not self._subscribed.wait(self._connect_timeout_s) or self._error is not None:
            why = self._error or f"no SUBACK for {self.topic_filter}"
            self.stop()
            raise TransportError(f"MQTT broker at {self._host}:{self._port}: {why}")
        return self

    def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()
        for q in self._queues:
            q.put(_STOP)
        for worker in self._workers:
            if worker.is_alive():
                worker.join(10.0)

    def __enter__(self) -> MqttListener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --------------------------------------------------------------------- paho callbacks

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        no_delay(client)
        if reason.is_failure:
            self._error = f"connection refused ({reason})"
            self._subscribed.set()
            return
        client.subscribe(self.topic_filter, qos=QOS)  # again after every reconnect

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        if any(r.is_failure for r in reasons):
            self._error = f"subscription to {self.topic_filter} refused ({reasons})"
        self._subscribed.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("lost the MQTT broker (%s); paho reconnects", reason)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self.received += 1
        topic = message.topic
        lane = self._queues[zlib.crc32(topic.encode()) % len(self._queues)]
        try:
            lane.put_nowait((topic, bytes(message.payload), time.perf_counter()))
        except queue.Full:
            self.dropped += 1  # the device retransmits

    # --------------------------------------------------------------------- serving

    def _work(self, lane: queue.Queue[tuple[str, bytes, float]]) -> None:
        while True:
            topic, payload, queued = lane.get()
            if (topic, payload, queued) == _STOP:
                return
            try:
                self._serve(topic, payload, time.perf_counter() - queued)
            except Exception:  # keep serving the others whatever one frame did
                log.exception("MQTT request on %s failed", topic)

    def _serve(self, topic: str, payload: bytes, waited_s: float = 0.0) -> None:
        """Answer one frame that waited ``waited_s`` in its lane (the edge's queue)."""
        device_id = topic[len(self.prefix) + 1 : -len("/infer")]
        core = self.core
        if frame_device_id(payload) != device_id:
            self.refused += 1
            reason = (
                f"frame names device {frame_device_id(payload)!r} but arrived on {topic}; "
                "publish each device's frames on its own topic"
            )
            self._publish(result_topic(self.prefix, device_id), core.malformed(reason).frame)
            return
        key = (device_id, frame_seq(payload), zlib.crc32(payload))
        cached = self.state.reply(key)
        if cached is not None:
            self.duplicates += 1
            self._publish(result_topic(self.prefix, device_id), cached)
            return
        with self._lock:
            if key in self._inflight:
                self.duplicates += 1  # the copy already running answers
                return
            self._inflight.add(key)
        try:
            reply = self._answer(device_id, payload, waited_s)
        finally:
            with self._lock:
                self._inflight.discard(key)
        if reply.status >= 400:
            self.refused += 1
        else:
            self.state.remember_reply(key, reply.frame)
        self._publish(result_topic(self.prefix, device_id), reply.frame)
        self.answered += 1
        self._announce(device_id, reply.frame)

    def _answer(self, device_id: str, payload: bytes, waited_s: float = 0.0) -> Any:
        core = self.core
        is_register = len(payload) > 3 and payload[3] == TYPE_REGISTER
        if not is_register and device_id not in core.devices:
            registration = self.state.registration(device_id)
            if registration is not None:
                frame_handler(core, "mqtt")(registration, time.time())
                self.replayed_registrations += 1
        reply = frame_handler(core, "mqtt")(payload, time.time(), waited_s=waited_s)
        if is_register and reply.status == 200:
            self.state.remember_registration(device_id, payload)
        if reply.delay_s > 0.0:
            time.sleep(reply.delay_s)
        return reply

    def _announce(self, device_id: str, reply: bytes) -> None:
        cut = next_cut_of(reply)
        if cut is None or self._decisions.get(device_id) == cut:
            return
        self._decisions[device_id] = cut
        self._publish(decision_topic(self.prefix, device_id), str(cut).encode(), retain=True)

    def _publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        client = self._client
        if client is not None:
            client.publish(topic, payload, qos=QOS, retain=retain)
