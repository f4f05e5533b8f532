"""Frames over one persistent TCP connection: the stream transport for gateways and MCUs.

A frame states its own length in its first 8 bytes, so a TCP stream needs no extra length
prefix: request frames are written back to back and each reply is read as prefix, then the
rest. ``tcp://HOST:PORT``. As over WebSocket, a kept-alive connection the edge had closed gets
one fresh attempt, and a timeout drops the connection, so a late reply is never taken as the
answer to the next request.
"""

from __future__ import annotations

import socket
import threading
import urllib.parse

from sciot.errors import ConfigError, TransportError
from sciot.transport._client import _check_timeout, _translate
from sciot.transport._framing import MIN_FRAME_BYTES, PREFIX_BYTES, frame_length, frame_seq

MAX_REPLY_BYTES = 64 * 1024 * 1024


class _ClosedByPeer(Exception):
    """The edge closed the connection before answering (maybe a stale keep-alive)."""


def parse_host_port(url: str, scheme: str) -> tuple[str, int]:
    """``scheme://HOST:PORT`` -> (host, port); a port is required (no default for raw sockets)."""
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"edge URL {url!r}: {exc}") from exc
    if parts.scheme != scheme or not parts.hostname or port is None:
        raise ConfigError(f"edge URL {url!r} must look like {scheme}://HOST:PORT")
    return parts.hostname, port


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    """Read exactly ``size`` bytes; raises ``_ClosedByPeer`` on EOF before any byte."""
    view = memoryview(bytearray(size))
    got = 0
    while got < size:
        n = sock.recv_into(view[got:])
        if n == 0:
            if got == 0:
                raise _ClosedByPeer()
            raise TransportError(f"connection closed after {got} of {size} bytes of a reply")
        got += n
    return view.tobytes()


class TcpClientTransport:
    """``tcp://HOST:PORT``: one request frame out, one reply frame back, connection kept."""

    def __init__(self, url: str) -> None:
        self._host, self._port = parse_host_port(url, "tcp")
        self._url = url
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TcpClientTransport({self._url!r})"

    def request(self, payload: bytes, *, timeout_s: float) -> bytes:
        _check_timeout(timeout_s)
        with self._lock:
            for attempt in (1, 2):
                reused = self._sock is not None
                try:
                    return self._exchange(payload, timeout_s)
                except (_ClosedByPeer, BrokenPipeError, ConnectionResetError) as exc:
                    self._drop()
                    if not reused or attempt == 2:
                        raise TransportError(
                            f"edge at {self._url} closed the connection without answering"
                        ) from exc
                except TransportError:
                    self._drop()
                    raise
                except OSError as exc:
                    self._drop()
                    raise _translate(exc, self._url, timeout_s) from exc
            raise AssertionError("unreachable")

    def _exchange(self, payload: bytes, timeout_s: float) -> bytes:
        sock = self._sock
        if sock is None:
            sock = socket.create_connection((self._host, self._port), timeout=timeout_s)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
        sock.settimeout(timeout_s)
        sock.sendall(payload)
        prefix = recv_exactly(sock, PREFIX_BYTES)
        length = frame_length(prefix, max_bytes=MAX_REPLY_BYTES)
        try:
            reply = prefix + recv_exactly(sock, length - PREFIX_BYTES)
        except _ClosedByPeer:
            raise TransportError(f"edge at {self._url} closed the connection mid-reply") from None
        if len(payload) >= MIN_FRAME_BYTES and frame_seq(reply) not in (0, frame_seq(payload)):
            raise TransportError(
                f"edge at {self._url} answered sequence {frame_seq(reply)}, "
                f"not {frame_seq(payload)}"
            )
        return reply

    def _drop(self) -> None:
        if self._sock is not None:
            sock, self._sock = self._sock, None
            sock.close()

    def close(self) -> None:
        with self._lock:
            self._drop()
