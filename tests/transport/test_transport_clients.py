"""Contract suite run over every client transport, against a real uvicorn on loopback.

The server side here is a tiny echo ASGI app (the thing under test is the client transport);
the edge's own endpoints are exercised end to end in tests/edge.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sciot.edge import serve_in_thread
from sciot.errors import ConfigError, TransportError
from sciot.transport import (
    ClientTransport,
    HttpClientTransport,
    WebSocketClientTransport,
    client_transport,
)

SLOW = b"SLOW"
TEXT = b"TEXT"


async def _echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Echo frames back; ``SLOW`` payloads answer after 2 s, ``TEXT`` ones answer non-frames."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes") or b""
            if data.startswith(SLOW):
                await asyncio.sleep(2.0)
            if data.startswith(TEXT):
                await send({"type": "websocket.send", "text": "not a frame"})
            else:
                await send({"type": "websocket.send", "bytes": data})
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if body.startswith(SLOW):
        await asyncio.sleep(2.0)
    content_type = b"text/plain" if body.startswith(TEXT) else b"application/octet-stream"
    status = 404 if scope["path"] != "/v1/frame" else 200
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type)],
        }
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def echo_server() -> Iterator[Any]:
    server = serve_in_thread(_echo_app)
    yield server
    server.stop()


Factory = Callable[[Any], ClientTransport]
FACTORIES: dict[str, Factory] = {
    "http": lambda s: HttpClientTransport(s.http_url),
    "ws": lambda s: WebSocketClientTransport(s.ws_url),
}


@pytest.fixture(params=sorted(FACTORIES))
def transport(request: pytest.FixtureRequest, echo_server: Any) -> Iterator[ClientTransport]:
    t = FACTORIES[request.param](echo_server)
    yield t
    t.close()


def test_round_trip(transport: ClientTransport) -> None:
    assert isinstance(transport, ClientTransport)
    for i in range(5):
        payload = bytes([i]) * (10 + i)
        assert transport.request(payload, timeout_s=5.0) == payload


def test_one_mebibyte_payload(transport: ClientTransport) -> None:
    payload = bytes(range(256)) * 4096
    assert transport.request(payload, timeout_s=10.0) == payload


def test_close_then_reuse_reconnects(transport: ClientTransport) -> None:
    assert transport.request(b"a", timeout_s=5.0) == b"a"
    transport.close()
    transport.close()  # idempotent
    assert transport.request(b"b", timeout_s=5.0) == b"b"


@pytest.mark.slow
def test_timeout_raises_transport_error_and_recovers(transport: ClientTransport) -> None:
    with pytest.raises(TransportError, match="did not answer"):
        transport.request(SLOW, timeout_s=0.2)
    # The late reply must not be mistaken for the next answer.
    assert transport.request(b"after", timeout_s=5.0) == b"after"


def test_non_frame_reply_is_transport_error(transport: ClientTransport) -> None:
    with pytest.raises(TransportError):
        transport.request(TEXT, timeout_s=5.0)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("scheme", ["http", "ws"])
def test_connection_refused(scheme: str) -> None:
    port = _closed_port()
    t = client_transport(f"{scheme}://127.0.0.1:{port}")
    with pytest.raises(TransportError, match="refused"):
        t.request(b"x", timeout_s=1.0)
    t.close()


@pytest.mark.parametrize("scheme", ["http", "ws"])
def test_server_gone_mid_session(scheme: str) -> None:
    server = serve_in_thread(_echo_app)
    t = FACTORIES[scheme](server)
    try:
        assert t.request(b"x", timeout_s=5.0) == b"x"
        server.stop()
        with pytest.raises(TransportError):
            t.request(b"y", timeout_s=1.0)
    finally:
        t.close()
        server.stop()


@pytest.mark.parametrize(
    "url", ["https:///nohost", "wss:///nohost", "ftp://x", "ws:///nohost", "127.0.0.1:80"]
)
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        client_transport(url)


def test_bad_timeout_is_config_error(echo_server: Any) -> None:
    t = HttpClientTransport(echo_server.http_url)
    with pytest.raises(ConfigError, match="timeout_s"):
        t.request(b"x", timeout_s=0)


class _RawWebSocketPeer:
    """A hand-written WebSocket server on a loopback socket, to script what uvicorn never
    does on demand: pings before a reply, fragmented replies, closing an idle connection."""

    def __init__(self, script: Callable[[_RawWebSocketPeer, socket.socket], None]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.pongs: list[bytes] = []
        self.connections = 0
        self._script = script
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(10.0)
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.listener.accept()
                self.connections += 1
                with conn:
                    conn.settimeout(10.0)
                    self._upgrade(conn)
                    self._script(self, conn)

    @staticmethod
    def _upgrade(conn: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(4096)
        key = next(
            line.split(b":", 1)[1].strip()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key")
        )
        accept = base64.b64encode(
            hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
        )
        conn.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )

    @staticmethod
    def read_frame(conn: socket.socket) -> tuple[int, bytes]:
        def exactly(n: int) -> bytes:
            data = b""
            while len(data) < n:
                chunk = conn.recv(n - len(data))
                if not chunk:
                    raise ConnectionError("client went away")
                data += chunk
            return data

        first, second = exactly(2)
        assert second & 0x80, "client frames must be masked"
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", exactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", exactly(8))[0]
        mask = exactly(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(exactly(length)))
        return first & 0x0F, body

    @staticmethod
    def frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
        assert len(payload) < 126
        return bytes(((0x80 if fin else 0) | opcode, len(payload))) + payload

    def close(self) -> None:
        self.listener.close()


def test_websocket_answers_pings_and_joins_fragments() -> None:
    # The peer's thread reads the pong after the client already has its reply, so the test
    # waits for the script to end instead of racing it.
    script_done = threading.Event()

    def script(peer: _RawWebSocketPeer, conn: socket.socket) -> None:
        try:
            opcode, body = peer.read_frame(conn)
            assert opcode == 0x2
            conn.sendall(peer.frame(0x9, b"are you there") + peer.frame(0x2, body[:3], fin=False))
            conn.sendall(peer.frame(0x0, body[3:]))
            opcode, pong = peer.read_frame(conn)
            assert opcode == 0xA
            peer.pongs.append(pong)
            with contextlib.suppress(ConnectionError):
                peer.read_frame(conn)  # the client's close frame
        finally:
            script_done.set()

    peer = _RawWebSocketPeer(script)
    t = WebSocketClientTransport(f"ws://127.0.0.1:{peer.port}")
    try:
        assert t.request(b"hello, edge", timeout_s=5.0) == b"hello, edge"
    finally:
        t.close()
        assert script_done.wait(10.0), "the scripted peer never finished"
        peer.close()
    assert peer.pongs == [b"are you there"]


def test_websocket_closed_while_idle_reconnects_once() -> None:
    def script(peer: _RawWebSocketPeer, conn: socket.socket) -> None:
        _, body = peer.read_frame(conn)
        conn.sendall(peer.frame(0x2, body))
        if peer.connections == 1:  # then close the idle connection, as a restarting edge does
            conn.sendall(peer.frame(0x8, struct.pack("!H", 1012)))

    peer = _RawWebSocketPeer(script)
    t = WebSocketClientTransport(f"ws://127.0.0.1:{peer.port}")
    try:
        assert t.request(b"one", timeout_s=5.0) == b"one"
        assert t.request(b"two", timeout_s=5.0) == b"two"
    finally:
        t.close()
        peer.close()
    assert peer.connections == 2
