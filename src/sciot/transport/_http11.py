"""A minimal HTTP/1.1 client connection for posting frames, one request at a time.

The standard library's ``http.client`` sends headers and body in two writes and parses reply
headers with the ``email`` package: together several hundred microseconds per call, more than a
whole split inference. Posting a frame needs far less: one write of request line, four headers
and body; one status line, a ``Content-Length`` and a body back. This module does exactly that,
keeps the connection alive, and also reads chunked or close-delimited replies (other servers'
error pages), failing clearly on anything else.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

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


class Http11Connection:
    """One keep-alive TCP connection; ``post`` writes a request and reads its reply."""

    def __init__(self, host: str, port: int, *, timeout_s: float) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout_s)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
