"""A minimal HTTP/1.1 client connection for posting frames, one request at a time.

The standard library's ``http.client`` sends headers and body in two writes and parses reply
headers with the ``email`` package: together several hundred microseconds per call, more than a
whole split inference. Posting a frame needs far less: one write of request line, four headers
and body; one status line, a ``Content-Length`` and a body back. This module does exactly that,
keeps the connection alive, and also reads chunked or close-delimited replies (other servers'
error pages), failing clearly on anything else. :class:`WebSocketConnection` is the same idea
for a WebSocket: the upgrade, then masked binary messages out and replies in, on the caller's
thread.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
import struct
import time
from dataclasses import dataclass

import numpy as np

MAX_HEAD_BYTES = 64 * 1024
_RECV_BYTES = 256 * 1024


class StaleConnectionError(Exception):
    """The peer closed the connection before sending any reply byte (e.g. keep-alive expiry)."""


class HttpProtocolError(Exception):
    """The peer's reply is not HTTP/1.x this client can read."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpReply:
    status: int
    content_type: str
    body: bytes
    close: bool


def connect(host: str, port: int, timeout_s: float, tls: ssl.SSLContext | None) -> socket.socket:
    """A connected TCP socket with ``TCP_NODELAY``; with ``tls``, wrapped and handshaken, the
    server's certificate verified against the context's CAs and ``host``."""
    sock = socket.create_connection((host, port), timeout=timeout_s)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            return tls.wrap_socket(sock, server_hostname=host)
    except BaseException:
        sock.close()
        raise
    return sock


class Http11Connection:
    """One keep-alive TCP connection; ``post`` writes a request and reads its reply."""

    def __init__(
        self, host: str, port: int, *, timeout_s: float, tls: ssl.SSLContext | None = None
    ) -> None:
        self._sock = connect(host, port, timeout_s, tls)
        self._buffer = bytearray()

    def post(self, head: bytes, payload: bytes, *, timeout_s: float, max_body: int) -> HttpReply:
        """Send ``head`` (request line and headers up to ``Content-Length: ``) and the body."""
        deadline = time.monotonic() + timeout_s
        sock = self._sock
        sock.settimeout(timeout_s)
        try:
            sock.sendall(b"".join((head, str(len(payload)).encode(), b"\r\n\r\n", payload)))
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise StaleConnectionError(str(exc)) from exc
        self._buffer.clear()
        end = self._read_until_head(deadline)
        status, headers = _parse_head(bytes(self._buffer[:end]))
        del self._buffer[: end + 4]
        close = headers.get("connection", "").lower() == "close"
        length_text = headers.get("content-length")
        if length_text is None:
            if "chunked" in headers.get("transfer-encoding", "").lower():
                body = self._read_chunked(deadline, max_body)
            else:
                body = self._read_to_eof(deadline, max_body)
                close = True
        else:
            try:
                length = int(length_text)
            except ValueError as exc:
                raise HttpProtocolError(f"bad Content-Length {length_text!r}") from exc
            if not 0 <= length <= max_body:
                raise HttpProtocolError(f"reply of {length} bytes exceeds {max_body}")
            body = self._read_exactly(length, deadline)
        return HttpReply(
            status=status, content_type=headers.get("content-type", ""), body=body, close=close
        )

    def _recv(self, deadline: float) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("deadline passed")
        self._sock.settimeout(remaining)
        return self._sock.recv(_RECV_BYTES)

    def _read_until_head(self, deadline: float) -> int:
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end >= 0:
                return end
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise HttpProtocolError("reply headers longer than 64 KiB")
            try:
                chunk = self._recv(deadline)
            except ConnectionResetError as exc:
                if not self._buffer:
                    raise StaleConnectionError(str(exc)) from exc
                raise
            if not chunk:
                if not self._buffer:
                    raise StaleConnectionError("connection closed before any reply")
                raise HttpProtocolError("connection closed inside the reply headers")
            self._buffer += chunk

    def _read_exactly(self, length: int, deadline: float) -> bytes:
        while len(self._buffer) < length:
            chunk = self._recv(deadline)
            if not chunk:
                raise HttpProtocolError("connection closed inside the reply body")
            self._buffer += chunk
        body = bytes(self._buffer[:length])
        if len(self._buffer) != length:
            raise HttpProtocolError("more bytes than the reply's Content-Length")
        return body

    def _read_line(self, deadline: float) -> bytes:
        while (end := self._buffer.find(b"\r\n")) < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise HttpProtocolError("chunk header line too long")
            chunk = self._recv(deadline)
            if not chunk:
                raise HttpProtocolError("connection closed inside a chunked reply")
            self._buffer += chunk
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        return line

    def _read_chunked(self, deadline: float, max_body: int) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size_text = self._read_line(deadline).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError as exc:
                raise HttpProtocolError(f"bad chunk size {size_text[:20]!r}") from exc
            if size == 0:
                while self._read_line(deadline):  # trailer fields, then the blank line
                    pass
                return b"".join(parts)
            total += size
            if total > max_body:
                raise HttpProtocolError(f"reply exceeds {max_body} bytes")
            while len(self._buffer) < size + 2:
                chunk = self._recv(deadline)
                if not chunk:
                    raise HttpProtocolError("connection closed inside a chunk")
                self._buffer += chunk
            parts.append(bytes(self._buffer[:size]))
            del self._buffer[: size + 2]

    def _read_to_eof(self, deadline: float, max_body: int) -> bytes:
        while True:
            chunk = self._recv(deadline)
            if not chunk:
                return bytes(self._buffer)
            self._buffer += chunk
            if len(self._buffer) > max_body:
                raise HttpProtocolError(f"reply exceeds {max_body} bytes")

    def close(self) -> None:
        self._sock.close()


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise HttpProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    try:
        status = int(parts[1])
    except ValueError as exc:
        raise HttpProtocolError(f"bad status code in {lines[0][:80]!r}") from exc
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise HttpProtocolError(f"malformed header line {line[:80]!r}")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return status, headers


def request_head(host: str, port: int, path: str, content_type: str) -> bytes:
    """Everything of a POST request before the Content-Length value."""
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return (
        f"POST {path} HTTP/1.1\r\nHost: {netloc}\r\nContent-Type: {content_type}\r\n"
        f"Accept: {content_type}\r\nContent-Length: "
    ).encode("latin-1")


# ------------------------------------------------------------------------------ WebSocket

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_OP_CONTINUATION, _OP_TEXT, _OP_BINARY, _OP_CLOSE, _OP_PING, _OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_WS_LEN16 = struct.Struct("!H")
_WS_LEN64 = struct.Struct("!Q")


class WebSocketClosedError(Exception):
    """The peer closed the WebSocket (a close frame or the end of the stream)."""


class WebSocketConnection:
    """A client WebSocket (RFC 6455) for binary request/reply messages, on the caller's thread.

    No extensions, no background thread: a message is written with one ``sendall`` and the
    reply read on the calling thread, pings answered as they are met. A general-purpose
    client reads the socket in a thread of its own, which puts two thread hand-offs on every
    reply; for a device that only ever waits for the answer to its own request, that is pure
    cost.
    """

    def __init__(
        self,
        host: str,
        port: int,
        path: str,
        *,
        timeout_s: float,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        deadline = time.monotonic() + timeout_s
        self._sock = connect(host, port, timeout_s, tls)
        self._buffer = bytearray()
        try:
            self._handshake(host, port, path, deadline)
        except BaseException:
            self._sock.close()
            raise

    def _handshake(self, host: str, port: int, path: str, deadline: float) -> None:
        key = base64.b64encode(os.urandom(16))
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._sock.sendall(
            b"GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
            % (path.encode("latin-1"), netloc.encode("latin-1"), key)
        )
        end = self._read_head(deadline)
        status, headers = _parse_head(bytes(self._buffer[:end]))
        del self._buffer[: end + 4]
        if status != 101:
            raise HttpProtocolError(f"WebSocket upgrade refused with HTTP {status}")
        expected = base64.b64encode(
            hashlib.sha1(key + _WS_GUID, usedforsecurity=False).digest()
        ).decode()
        if (
            headers.get("upgrade", "").lower() != "websocket"
            or headers.get("sec-websocket-accept") != expected
        ):
            raise HttpProtocolError("the server's WebSocket upgrade reply is not valid")
        if headers.get("sec-websocket-extensions"):
            raise HttpProtocolError("the server enabled a WebSocket extension nobody asked for")

    def _read_head(self, deadline: float) -> int:
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise HttpProtocolError("reply headers longer than 64 KiB")
            chunk = _recv(self._sock, deadline)
            if not chunk:
                raise HttpProtocolError("connection closed inside the upgrade reply")
            self._buffer += chunk
        return end

    def request(self, payload: bytes, *, timeout_s: float, max_bytes: int) -> bytes | str:
        """Send one binary message and return the next data message (``str`` if text)."""
        deadline = time.monotonic() + timeout_s
        self._sock.settimeout(timeout_s)
        self._send(_OP_BINARY, payload)
        return self._receive(deadline, max_bytes)

    def _send(self, opcode: int, payload: bytes) -> None:
        length = len(payload)
        if length < 126:
            head = bytes((0x80 | opcode, 0x80 | length))
        elif length < 1 << 16:
            head = bytes((0x80 | opcode, 0x80 | 126)) + _WS_LEN16.pack(length)
        else:
            head = bytes((0x80 | opcode, 0x80 | 127)) + _WS_LEN64.pack(length)
        mask = os.urandom(4)
        self._sock.sendall(b"".join((head, mask, _masked(payload, mask))))

    def _receive(self, deadline: float, max_bytes: int) -> bytes | str:
        parts: list[bytes] = []
        size = 0
        message_opcode: int | None = None
        while True:
            fin, opcode, payload = self._frame(deadline, max_bytes)
            if opcode == _OP_PING:
                self._send(_OP_PONG, payload)
                continue
            if opcode == _OP_PONG:
                continue
            if opcode == _OP_CLOSE:
                raise WebSocketClosedError(_close_reason(payload))
            if opcode == _OP_CONTINUATION:
                if message_opcode is None:
                    raise HttpProtocolError("WebSocket continuation frame outside a message")
            elif opcode in (_OP_TEXT, _OP_BINARY) and message_opcode is None:
                message_opcode = opcode
            else:
                raise HttpProtocolError(f"unexpected WebSocket opcode 0x{opcode:x}")
            size += len(payload)
            if size > max_bytes:
                raise HttpProtocolError(f"WebSocket message exceeds {max_bytes} bytes")
            parts.append(payload)
            if fin:
                data = parts[0] if len(parts) == 1 else b"".join(parts)
                if message_opcode == _OP_TEXT:
                    return data.decode("utf-8", errors="replace")
                return data

    def _frame(self, deadline: float, max_bytes: int) -> tuple[bool, int, bytes]:
        self._fill(2, deadline)
        first, second = self._buffer[0], self._buffer[1]
        if first & 0x70:
            raise HttpProtocolError("WebSocket frame uses reserved bits (no extension agreed)")
        if second & 0x80:
            raise HttpProtocolError("the server masked a WebSocket frame")
        length = second & 0x7F
        offset = 2
        if length == 126:
            self._fill(4, deadline)
            (length,) = _WS_LEN16.unpack_from(self._buffer, 2)
            offset = 4
        elif length == 127:
            self._fill(10, deadline)
            (length,) = _WS_LEN64.unpack_from(self._buffer, 2)
            offset = 10
        if length > max_bytes:
            raise HttpProtocolError(f"WebSocket frame of {length} bytes exceeds {max_bytes}")
        self._fill(offset + length, deadline)
        payload = bytes(self._buffer[offset : offset + length])
        del self._buffer[: offset + length]
        return bool(first & 0x80), first & 0x0F, payload

    def _fill(self, size: int, deadline: float) -> None:
        while len(self._buffer) < size:
            chunk = _recv(self._sock, deadline)
            if not chunk:
                raise WebSocketClosedError("connection closed")
            self._buffer += chunk

    def close(self) -> None:
        """Say goodbye (best effort, status 1000) and close the socket."""
        try:
            self._sock.settimeout(0.2)
            self._send(_OP_CLOSE, _WS_LEN16.pack(1000))
        except OSError:
            pass
        finally:
            self._sock.close()


def _masked(payload: bytes, mask: bytes) -> bytes:
    if not payload:
        return b""
    data = np.frombuffer(payload, dtype=np.uint8)
    key = np.frombuffer(mask * (len(payload) // 4 + 1), dtype=np.uint8, count=len(payload))
    return np.bitwise_xor(data, key).tobytes()


def _close_reason(payload: bytes) -> str:
    if len(payload) >= 2:
        (code,) = _WS_LEN16.unpack_from(payload)
        reason = payload[2:].decode("utf-8", errors="replace")
        return f"closed by the server (code {code}{': ' + reason if reason else ''})"
    return "closed by the server"


def _recv(sock: socket.socket, deadline: float) -> bytes:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("deadline passed")
    sock.settimeout(remaining)
    return sock.recv(_RECV_BYTES)
