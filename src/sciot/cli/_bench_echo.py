"""The far ends of ``sciot bench net``: every transport's real listener, fronted by an echo.

HTTP and WebSocket get a minimal ASGI echo under uvicorn (the edge's own HTTP stack); TCP, UDP
and MQTT get the edge's listeners with :class:`EchoHandler` in place of an ``EdgeCore``, and
MQTT a Mosquitto started here on a free loopback port (stopped by PID) unless ``--broker``
names one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from sciot.errors import ConfigError
from sciot.transport._broker import local_mosquitto, mosquitto_binary

MAX_BYTES = 4 * 1024 * 1024


class EchoHandler:
    """A frame handler that answers every frame with itself (see ``edge._listeners``)."""

    def __init__(self, max_frame_bytes: int) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.devices: dict[str, object] = {}

    def runs_inline(self, data: bytes) -> bool:
        return True

    def handle_frame(
        self,
        data: bytes,
        now_s: float,
        *,
        transport: str = "",
        source: str = "",
        waited_s: float = 0.0,
    ) -> Any:
        from sciot.edge import Reply

        return Reply(status=200, frame=data)

    def malformed(self, reason: str) -> Any:
        return self._error(400, reason)

    def refuse_oversized(self, size_bytes: int) -> Any:
        return self._error(413, f"frame of {size_bytes} bytes is too large")

    def _error(self, code: int, reason: str) -> Any:
        from sciot.edge import Reply
        from sciot.wire import ErrorCode, ErrorFrame, encode

        return Reply(status=code, frame=encode(ErrorFrame(code=ErrorCode(code), reason=reason)))


async def _echo_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """HTTP ``POST`` and WebSocket binary messages echoed back."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].removeprefix("lifespan.")
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})
    body = bytearray()
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    headers = [(b"content-type", b"application/octet-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": bytes(body)})


@contextmanager
def echo_servers(transports: list[str], broker: str | None) -> Iterator[dict[str, str]]:
    """One echo server per transport on loopback; yields transport -> URL."""
    from sciot.edge import serve_in_thread
    from sciot.edge._mqtt_listener import MqttListener
    from sciot.edge._tcp_listener import TcpListener
    from sciot.edge._udp_listener import UdpListener

    handler = EchoHandler(MAX_BYTES + 4096)
    urls: dict[str, str] = {}
    with ExitStack() as stack:
        if {"http", "ws"} & set(transports):
            server = serve_in_thread(_echo_asgi, ws_max_size=2 * MAX_BYTES)
            stack.callback(server.stop)
            urls["http"], urls["ws"] = server.http_url, server.ws_url
        if "tcp" in transports:
            tcp = stack.enter_context(TcpListener(handler))
            urls["tcp"] = tcp.url
        if "udp" in transports:
            udp = stack.enter_context(UdpListener(handler, max_cached_replies=4))
            urls["udp"] = udp.url
        if "mqtt" in transports:
            host, port = _broker_address(broker, stack)
            if port is not None:
                stack.enter_context(MqttListener(handler, host=host, port=port))
                urls["mqtt"] = f"mqtt://{host}:{port}"
        yield {t: urls[t] for t in transports if t in urls}


def _broker_address(broker: str | None, stack: ExitStack) -> tuple[str, int | None]:
    if broker is None:
        if mosquitto_binary() is None:
            return "127.0.0.1", None
        return "127.0.0.1", stack.enter_context(local_mosquitto())
    host, _, port = broker.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--broker {broker!r} must be HOST:PORT")
    return host, int(port)
