"""Publish/subscribe transports for readings and alerts, and the bounded ingest inbox.

A :class:`PubSub` moves opaque payloads on MQTT-style topics; the pipeline never knows which
one it talks to. :class:`InProcessPubSub` is the embedded default when no broker is configured
(same topic filters, ``+``/``#`` wildcards and ``$share/<group>/`` round-robin as a broker);
:class:`MqttPubSub` speaks MQTT 3.1.1 to a real broker through paho-mqtt.

Received messages go into an :class:`Inbox`: a bounded queue whose ``offer`` never blocks and
never does more than an append, because it runs on paho's network thread. When the inbox is
full the message is dropped and counted: overload shows as a number in the report, not as
silent loss or unbounded memory.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sciot.errors import ConfigError, TransportError

Handler = Callable[[str, bytes], None]


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT topic filter matching with ``+`` (one level) and ``#`` (the rest)."""
    f_parts = topic_filter.split("/")
    t_parts = topic.split("/")
    for i, part in enumerate(f_parts):
        if part == "#":
            return True
        if i >= len(t_parts) or (part != "+" and part != t_parts[i]):
            return False
    return len(f_parts) == len(t_parts)


def split_shared(topic_filter: str) -> tuple[str | None, str]:
    """``$share/<group>/<filter>`` -> (group, filter); a plain filter -> (None, filter)."""
    if topic_filter.startswith("$share/"):
        parts = topic_filter.split("/", 2)
        if len(parts) != 3 or not parts[1] or not parts[2]:
            raise ConfigError(f"shared subscription {topic_filter!r} must be $share/<group>/<f>")
        return parts[1], parts[2]
    return None, topic_filter


InboxItem = tuple[str, bytes, float, bool]


class Inbox:
    """A bounded, non-blocking queue of messages from a network thread.

    Items are ``(topic, payload, received_s, lost_before)``. ``lost_before`` is true on the
    first message of a topic queued after messages of that topic were dropped here, so the
    ingest can tell the gap it will see from a sensor that went quiet: a local drop is our
    overload, not a sensor fault.
    """

    def __init__(self, max_messages: int) -> None:
        if max_messages < 1:
            raise ConfigError(f"inbox size must be >= 1, got {max_messages}")
        self._max = max_messages
        self._items: deque[InboxItem] = deque()
        self._ready = threading.Event()
        self._lossy: set[str] = set()  # topics with a drop not yet followed by a message
        self.received = 0
        self.dropped = 0

    def offer(self, topic: str, payload: bytes) -> None:
        """Enqueue or, when full, drop and count; never blocks (safe on a network thread)."""
        self.received += 1
        if len(self._items) >= self._max:
            self.dropped += 1
            self._lossy.add(topic)
            return
        lost_before = False
        if self._lossy and topic in self._lossy:
            self._lossy.discard(topic)
            lost_before = True
        self._items.append((topic, payload, time.time(), lost_before))
        if not self._ready.is_set():
            self._ready.set()

    def drain(self, max_messages: int, timeout_s: float) -> list[InboxItem]:
        """Up to ``max_messages`` queued messages, waiting at most ``timeout_s`` for the first."""
        if not self._items:
            self._ready.clear()
            if not self._items:
                self._ready.wait(timeout_s)
        out: list[InboxItem] = []
        items = self._items
        for _ in range(min(max_messages, len(items))):
            out.append(items.popleft())
        return out

    def __len__(self) -> int:
        return len(self._items)


class PubSub(Protocol):
    """Topic publish/subscribe; implementations translate their errors to TransportError."""

    def publish(self, topic: str, payload: bytes, *, qos: int = 0) -> None: ...

    def subscribe(self, topic_filter: str, handler: Handler, *, qos: int = 0) -> None: ...

    def flush(self, timeout_s: float) -> None: ...

    def check(self) -> None:
        """Raise TransportError if the connection was lost since the last call."""
        ...

    def close(self) -> None: ...


@dataclass(slots=True)
class _Subscription:
    group: str | None
    topic_filter: str
    handler: Handler


class InProcessPubSub:
    """A broker inside the process: handlers run synchronously in the publisher's thread."""

    def __init__(self) -> None:
        self._subs: list[_Subscription] = []
        self._turns: dict[tuple[str, str], itertools.count[int]] = {}
        self._lock = threading.Lock()
        self.published = 0
        self.unrouted = 0

    def publish(self, topic: str, payload: bytes, *, qos: int = 0) -> None:
        del qos  # every in-process delivery is exactly once
        self.published += 1
        groups: dict[tuple[str, str], list[_Subscription]] = {}
        delivered = False
        for sub in self._subs:
            if not topic_matches(sub.topic_filter, topic):
                continue
            if sub.group is None:
                sub.handler(topic, payload)
                delivered = True
            else:
                groups.setdefault((sub.group, sub.topic_filter), []).append(sub)
        for key, members in groups.items():
            with self._lock:
                turn = next(self._turns.setdefault(key, itertools.count()))
            members[turn % len(members)].handler(topic, payload)
            delivered = True
        if not delivered:
            self.unrouted += 1

    def subscribe(self, topic_filter: str, handler: Handler, *, qos: int = 0) -> None:
        del qos
        group, plain = split_shared(topic_filter)
        self._subs.append(_Subscription(group, plain, handler))

    def flush(self, timeout_s: float) -> None:
        del timeout_s  # delivery is synchronous

    def check(self) -> None:
        return None

    def close(self) -> None:
        self._subs.clear()


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerAddress:
    """Where the MQTT broker listens."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_broker(text: str) -> BrokerAddress:
    """``HOST:PORT`` (or ``HOST``, port 1883; ``[::1]:1883`` for IPv6)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or (host.count(":") and not host.startswith("[")):
        host, port_text = text, "1883"
    host = host.strip("[]")
    try:
        port = int(port_text)
    except ValueError as exc:
        raise ConfigError(f"--broker {text!r}: port {port_text!r} is not a number") from exc
    if not host or not 0 < port < 65536:
        raise ConfigError(f"--broker {text!r}: expected HOST:PORT with a port in 1..65535")
    return BrokerAddress(host=host, port=port)


class MqttPubSub:
    """MQTT 3.1.1 through paho-mqtt; the network thread only enqueues."""

    def __init__(
        self,
        broker: BrokerAddress,
        *,
        client_id: str = "",
        connect_timeout_s: float = 5.0,
        keepalive_s: int = 30,
    ) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self._mqtt = mqtt
        self.broker = broker
        self._subs: list[_Subscription] = []
        self._connected = threading.Event()
        self._acked = threading.Condition()
        self._subacks: dict[int, Any] = {}  # message id -> the broker's reason codes
        self._ack_timeout_s = connect_timeout_s
        self._error: str | None = None
        self._last_info: Any = None
        self.published = 0
        self.publish_failures = 0
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
            reconnect_on_failure=False,
        )
        client.max_inflight_messages_set(1000)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._client = client
        try:
            client.connect(broker.host, broker.port, keepalive=keepalive_s)
        except (OSError, ValueError) as exc:
            raise TransportError(
                f"cannot reach the MQTT broker at {broker}: {exc}; start one (e.g. "
                f"'mosquitto -p {broker.port}') or pass --broker HOST:PORT of a running broker"
            ) from exc
        client.loop_start()
        if not self._connected.wait(connect_timeout_s) or self._error is not None:
            self.close()
            why = self._error or f"no CONNACK within {connect_timeout_s:g} s"
            raise TransportError(f"MQTT broker at {broker} did not accept us: {why}")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self._error = f"connection refused ({reason})"
        self._connected.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure and self._error is None:
            self._error = (
                f"connection to the MQTT broker at {self.broker} lost ({reason}); "
                "check that the broker is still running, then run again"
            )
        with self._acked:
            self._acked.notify_all()  # a subscribe waiting for its SUBACK gives up now

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        with self._acked:
            self._subacks[mid] = reasons
            self._acked.notify_all()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        topic = message.topic
        for sub in self._subs:
            if topic_matches(sub.topic_filter, topic):
                sub.handler(topic, message.payload)

    def publish(self, topic: str, payload: bytes, *, qos: int = 0) -> None:
        info = self._client.publish(topic, payload, qos=qos)
        if info.rc != self._mqtt.MQTT_ERR_SUCCESS:
            if info.rc == self._mqtt.MQTT_ERR_QUEUE_SIZE:
                self.publish_failures += 1
                return
            raise TransportError(
                f"publishing to {topic} on {self.broker} failed: {self._mqtt.error_string(info.rc)}"
            )
        self.published += 1
        self._last_info = info

    def subscribe(self, topic_filter: str, handler: Handler, *, qos: int = 0) -> None:
        _, plain = split_shared(topic_filter)
        self._subs.append(_Subscription(None, plain, handler))
        result, mid = self._client.subscribe(topic_filter, qos=qos)
        if result != self._mqtt.MQTT_ERR_SUCCESS or mid is None:
            raise TransportError(
                f"subscribing to {topic_filter} on {self.broker} failed: "
                f"{self._mqtt.error_string(result)}"
            )
        self._wait_for_suback(topic_filter, mid)

    def _wait_for_suback(self, topic_filter: str, mid: int) -> None:
        """Return once the broker has granted the subscription.

        The broker routes a message only to subscriptions it already holds, so a publisher
        started before the SUBACK (another connection, racing this one under load) would lose
        its first messages at any QoS.
        """
        with self._acked:
            granted = self._acked.wait_for(
                lambda: mid in self._subacks or self._error is not None,
                timeout=self._ack_timeout_s,
            )
            reasons = self._subacks.pop(mid, None)
        if not granted or reasons is None:
            why = self._error or f"no SUBACK within {self._ack_timeout_s:g} s"
            raise TransportError(f"subscribing to {topic_filter} on {self.broker} failed: {why}")
        if any(reason.is_failure for reason in reasons):
            raise TransportError(
                f"the MQTT broker at {self.broker} refused the subscription to {topic_filter} "
                f"({', '.join(str(r) for r in reasons)}); check its ACL and shared-subscription "
                "support"
            )

    def flush(self, timeout_s: float) -> None:
        """Wait until everything published so far has left this process."""
        info = self._last_info
        if info is None:
            return
        try:
            info.wait_for_publish(timeout=timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise TransportError(f"could not flush publishes to {self.broker}: {exc}") from exc

    def check(self) -> None:
        if self._error is not None:
            raise TransportError(self._error)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._client.disconnect()
        self._client.loop_stop()
