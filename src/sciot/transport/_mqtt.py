"""Frames over MQTT through a broker: ``mqtt://HOST:PORT[/PREFIX]`` (prefix ``sciot``).

A device publishes each request frame on ``<prefix>/<device>/infer`` and reads the reply on
``<prefix>/<device>/result``, both at QoS 1 (at least once: a frame lost by a dropped
connection is redelivered, and QoS 2's extra round trip per message buys nothing here because
the edge answers a repeated sequence number from its cache instead of running it again). The
device id and sequence number come from the frame's own header, so one transport can serve
several devices. If no reply arrives within a quarter of the timeout the request is published
again with the same sequence number: an edge worker that died holding it costs one
retransmit, never the inference.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

from sciot.errors import ConfigError, MissingExtraError, TransportError
from sciot.transport._client import _check_timeout, tls_context
from sciot.transport._framing import MIN_FRAME_BYTES, answers, frame_device_id, frame_seq
from sciot.transport._http11 import connect

DEFAULT_PREFIX = "sciot"
QOS = 1
_ids = itertools.count(1)


def no_delay(client: Any) -> None:
    """Turn Nagle's algorithm off on paho's socket (paho leaves it on): otherwise every small
    frame waits for the peer's delayed ACK, about 40 ms each way."""
    sock = client.socket()
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def infer_topic(prefix: str, device_id: str) -> str:
    return f"{prefix}/{device_id}/infer"


def result_topic(prefix: str, device_id: str) -> str:
    return f"{prefix}/{device_id}/result"


def decision_topic(prefix: str, device_id: str) -> str:
    return f"{prefix}/{device_id}/decision"


def check_device_id(device_id: str) -> None:
    """A device id must be usable as one topic level."""
    if not device_id or any(c in device_id for c in "/+#\0"):
        raise ConfigError(
            f"device id {device_id!r} cannot be an MQTT topic level (no '/', '+', '#', or empty)"
        )


def parse_mqtt_url(url: str) -> tuple[str, int, str]:
    """``mqtt://HOST[:PORT][/PREFIX]`` -> (host, port, prefix); port 1883 by default
    (``mqtts://``: TLS to the broker, port 8883 by default)."""
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    except ValueError as exc:
        raise ConfigError(f"broker URL {url!r}: {exc}") from exc
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ConfigError(
            f"broker URL {url!r} must look like mqtt://HOST:PORT[/PREFIX] or mqtts://HOST:PORT"
        )
    prefix = parts.path.strip("/") or DEFAULT_PREFIX
    if any(c in prefix for c in "+#\0"):
        raise ConfigError(f"broker URL {url!r}: topic prefix {prefix!r} may not contain + or #")
    return parts.hostname, port, prefix


class MqttClientTransport:
    """Request frames published per device, replies matched by sequence number."""

    def __init__(
        self, url: str, *, connect_timeout_s: float = 5.0, ca_file: str | Path | None = None
    ) -> None:
        self._host, self._port, self.prefix = parse_mqtt_url(url)
        self._tls = tls_context(ca_file) if url.startswith("mqtts://") else None
        self._url = url
        self._connect_timeout_s = connect_timeout_s
        self._client: Any = None
        self._connected = threading.Event()
        self._error: str | None = None
        self._subscribed: set[str] = set()
        self._lock = threading.Lock()  # one request at a time
        self._replies = threading.Condition()
        self._waiting: tuple[str, int, bytes] | None = None
        self._reply: bytes | None = None
        self._suback: set[int] = set()
        self.retransmits = 0

    def __repr__(self) -> str:
        return f"MqttClientTransport({self._url!r})"

    # --------------------------------------------------------------------- connection

    def _connect(self) -> Any:
        if self._client is not None and self._error is None:
            return self._client
        self._drop()
        try:
            import paho.mqtt.client as mqtt
            from paho.mqtt.enums import CallbackAPIVersion
        except ImportError:
            raise MissingExtraError("paho-mqtt", "mqtt", "the MQTT transport") from None

        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"sciot-dev-{os.getpid()}-{next(_ids)}",
            protocol=mqtt.MQTTv311,
            reconnect_on_failure=False,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        if self._tls is not None:
            self._verify_broker()
            client.tls_set_context(self._tls)  # verifies the broker's certificate and name
        self._connected.clear()
        self._error = None
        try:
            client.connect(self._host, self._port, keepalive=30)
        except (OSError, ValueError) as exc:
            raise TransportError(f"cannot reach the MQTT broker at {self._url}: {exc}") from exc
        client.loop_start()
        self._client = client
        if not self._connected.wait(self._connect_timeout_s) or self._error is not None:
            why = self._error or f"no CONNACK within {self._connect_timeout_s:g} s"
            self._drop()
            raise TransportError(f"MQTT broker at {self._url} did not accept us: {why}")
        return client

    def _verify_broker(self) -> None:
        """One TLS handshake of our own before paho's: paho leaves the socket of a failed
        handshake open, so a broker that fails verification is found (and closed) here."""
        try:
            connect(self._host, self._port, self._connect_timeout_s, self._tls).close()
        except OSError as exc:
            raise TransportError(f"cannot reach the MQTT broker at {self._url}: {exc}") from exc

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        no_delay(client)
        if reason.is_failure:
            self._error = f"connection refused ({reason})"
        self._connected.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self._error = f"connection lost ({reason})"
        with self._replies:
            self._replies.notify_all()

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        with self._replies:
            self._suback.add(mid)
            self._replies.notify_all()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        payload = bytes(message.payload)
        with self._replies:
            waiting = self._waiting
            if waiting is None or self._reply is not None:
                return  # a late or duplicate answer
            device_id, seq, request = waiting
            if message.topic != result_topic(self.prefix, device_id):
                return
            try:
                if frame_seq(payload) not in (seq, 0):
                    return
            except TransportError:
                return
            if not answers(request, payload):
                return  # a late copy of the reply to another frame of this sequence number
            self._reply = payload
            self._replies.notify_all()

    def _subscribe(self, client: Any, device_id: str, timeout_s: float) -> None:
        topic = result_topic(self.prefix, device_id)
        if topic in self._subscribed:
            return
        result, mid = client.subscribe(topic, qos=QOS)
        if result != 0 or mid is None:
            raise TransportError(f"subscribing to {topic} on {self._url} failed (code {result})")
        deadline = time.monotonic() + timeout_s
        with self._replies:
            while mid not in self._suback:
                left = deadline - time.monotonic()
                if left <= 0 or self._error is not None:
                    raise TransportError(f"broker at {self._url} did not grant {topic}")
                self._replies.wait(left)
            self._suback.discard(mid)
        self._subscribed.add(topic)

    # --------------------------------------------------------------------- requests

    def request(self, payload: bytes, *, timeout_s: float) -> bytes:
        _check_timeout(timeout_s)
        device_id = frame_device_id(payload)
        check_device_id(device_id)
        seq = frame_seq(payload)
        with self._lock:
            client = self._connect()
            self._subscribe(client, device_id, timeout_s)
            topic = infer_topic(self.prefix, device_id)
            deadline = time.monotonic() + timeout_s
            retransmit_s = timeout_s / 4
            with self._replies:
                self._waiting = (device_id, seq, payload[:MIN_FRAME_BYTES])
                self._reply = None
            try:
                while True:
                    info = client.publish(topic, payload, qos=QOS)
                    if info.rc != 0:
                        raise TransportError(f"publishing to {topic} on {self._url} failed")
                    resend_at = min(deadline, time.monotonic() + retransmit_s)
                    with self._replies:
                        while self._reply is None and self._error is None:
                            left = resend_at - time.monotonic()
                            if left <= 0:
                                break
                            self._replies.wait(left)
                        if self._reply is not None:
                            return self._reply
                        if self._error is not None:
                            error = self._error
                            self._client_failed()
                            raise TransportError(f"MQTT broker at {self._url}: {error}")
                    if time.monotonic() >= deadline:
                        raise TransportError(
                            f"no reply on {result_topic(self.prefix, device_id)} within "
                            f"{timeout_s} s ({self.retransmits} retransmits)"
                        )
                    self.retransmits += 1
            finally:
                with self._replies:
                    self._waiting = None

    def _client_failed(self) -> None:
        self._subscribed.clear()

    def _drop(self) -> None:
        client, self._client = self._client, None
        self._subscribed.clear()
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def close(self) -> None:
        with self._lock:
            self._drop()
