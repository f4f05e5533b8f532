"""Client transports: move one request frame to the edge and bring one response frame back.

Every client transport has the same two verbs, ``request(payload, timeout_s=...) -> bytes``
and ``close()`` (the :class:`ClientTransport` protocol), so the device client never knows
whether it talks HTTP or WebSocket. Connections are opened lazily, kept alive and reopened
after a failure; every way the edge can be unreachable, slow or gone becomes a
:class:`~sciot.errors.TransportError`. A transport is safe to share between threads (calls
are serialised), but one per device is the intended use.
"""

from __future__ import annotations

import socket
import ssl
import threading
import urllib.parse
from pathlib import Path
from typing import Protocol, runtime_checkable

from sciot.errors import ConfigError, TransportError
from sciot.transport._http11 import (
    Http11Connection,
    HttpProtocolError,
    StaleConnectionError,
    WebSocketClosedError,
    WebSocketConnection,
    request_head,
)

FRAME_PATH = "/v1/frame"
WS_PATH = "/v1/ws"
FRAME_CONTENT_TYPE = "application/octet-stream"
MAX_REPLY_BYTES = 64 * 1024 * 1024


@runtime_checkable
class ClientTransport(Protocol):
    """One request frame out, one response frame back."""

    def request(self, payload: bytes, *, timeout_s: float) -> bytes: ...

    def close(self) -> None: ...


def tls_context(ca_file: str | Path | None) -> ssl.SSLContext:
    """A client TLS context that verifies the edge's certificate and host name: against
    ``ca_file`` (a PEM bundle, e.g. a private CA's) or else the system's trust store."""
    try:
        return ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load CA file {ca_file}: {exc}") from None


def _check_timeout(timeout_s: float) -> None:
    if not timeout_s > 0:
        raise ConfigError(f"timeout_s must be > 0, got {timeout_s}")


class HttpClientTransport:
    """``POST {base_url}/v1/frame`` with the frame as an ``application/octet-stream`` body
    (``https://`` verifies the edge's certificate against ``ca_file`` or the system's CAs).

    Keeps one HTTP/1.1 connection alive and speaks just enough HTTP for frames (see
    ``_http11``): tens of microseconds per call instead of ``http.client``'s hundreds, which
    matters when a head runs in a fraction of a millisecond. Any reply whose body is a frame
    is returned whatever its status, so refusals such as "unknown device" (404) reach the
    caller as an ``ErrorFrame``.
    """

    def __init__(self, base_url: str, *, ca_file: str | Path | None = None) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"edge URL {base_url!r} must look like http://HOST:PORT or https://HOST:PORT"
            )
        self._tls = tls_context(ca_file) if parts.scheme == "https" else None
        self._host = parts.hostname
        self._port = parts.port or (443 if self._tls is not None else 80)
        path = parts.path.rstrip("/") + FRAME_PATH
        self._head = request_head(self._host, self._port, path, FRAME_CONTENT_TYPE)
        self._base_url = base_url
        self._conn: Http11Connection | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"HttpClientTransport({self._base_url!r})"

    def request(self, payload: bytes, *, timeout_s: float) -> bytes:
        _check_timeout(timeout_s)
        with self._lock:
            for attempt in (1, 2):
                reused = self._conn is not None
                try:
                    return self._exchange(payload, timeout_s)
                except StaleConnectionError as exc:
                    self._drop()
                    # A kept-alive connection the edge had closed: one fresh attempt.
                    if not reused or attempt == 2:
                        raise TransportError(
                            f"edge at {self._base_url} closed the connection ({exc})"
                        ) from exc
                except TransportError:
                    self._drop()
                    raise
            raise AssertionError("unreachable")

    def _exchange(self, payload: bytes, timeout_s: float) -> bytes:
        try:
            if self._conn is None:
                self._conn = Http11Connection(
                    self._host, self._port, timeout_s=timeout_s, tls=self._tls
                )
            reply = self._conn.post(
                self._head, payload, timeout_s=timeout_s, max_body=MAX_REPLY_BYTES
            )
        except StaleConnectionError:
            raise
        except HttpProtocolError as exc:
            raise TransportError(f"edge at {self._base_url} sent a bad HTTP reply: {exc}") from exc
        except OSError as exc:
            raise _translate(exc, self._base_url, timeout_s) from exc
        if reply.close:
            self._drop()
        if not reply.content_type.startswith(FRAME_CONTENT_TYPE):
            raise TransportError(
                f"edge at {self._base_url} answered HTTP {reply.status} without a frame "
                f"({reply.content_type or 'no content type'}): {reply.body[:120]!r}"
            )
        return reply.body

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self._drop()


class WebSocketClientTransport:
    """Frames as binary WebSocket messages on ``ws://HOST:PORT/v1/ws``, one reply per frame.

    Speaks the protocol itself on the calling thread (``_http11.WebSocketConnection``) rather
    than through a general client whose reader thread would add two thread hand-offs to every
    reply. A kept-alive connection the edge had closed gets one fresh attempt, as over HTTP.
    After a timeout the connection is dropped: a late reply would otherwise be taken as the
    answer to the next request.
    """

    def __init__(self, url: str, *, ca_file: str | Path | None = None) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ConfigError(
                f"edge URL {url!r} must look like ws://HOST:PORT[/v1/ws] or wss://HOST:PORT"
            )
        self._tls = tls_context(ca_file) if parts.scheme == "wss" else None
        self._host = parts.hostname
        self._port = parts.port or (443 if self._tls is not None else 80)
        self._path = parts.path if parts.path not in ("", "/") else WS_PATH
        self._url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, self._path, "", ""))
        self._ws: WebSocketConnection | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"WebSocketClientTransport({self._url!r})"

    def request(self, payload: bytes, *, timeout_s: float) -> bytes:
        _check_timeout(timeout_s)
        with self._lock:
            for attempt in (1, 2):
                reused = self._ws is not None
                try:
                    reply = self._exchange(payload, timeout_s)
                except WebSocketClosedError as exc:
                    self._drop()
                    if not reused or attempt == 2:
                        raise TransportError(f"edge at {self._url} {exc}") from exc
                    continue
                except TransportError:
                    self._drop()
                    raise
                if isinstance(reply, str):
                    raise TransportError(f"edge at {self._url} sent text instead of a binary frame")
                return reply
            raise AssertionError("unreachable")

    def _exchange(self, payload: bytes, timeout_s: float) -> bytes | str:
        try:
            if self._ws is None:
                self._ws = WebSocketConnection(
                    self._host, self._port, self._path, timeout_s=timeout_s, tls=self._tls
                )
            return self._ws.request(payload, timeout_s=timeout_s, max_bytes=MAX_REPLY_BYTES)
        except WebSocketClosedError:
            raise
        except HttpProtocolError as exc:
            raise TransportError(
                f"edge at {self._url} broke the WebSocket protocol: {exc}"
            ) from exc
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise WebSocketClosedError(f"closed the connection ({exc})") from exc
        except OSError as exc:
            raise _translate(exc, self._url, timeout_s) from exc

    def _drop(self) -> None:
        if self._ws is not None:
            ws, self._ws = self._ws, None
            ws.close()

    def close(self) -> None:
        with self._lock:
            self._drop()


def _translate(exc: OSError, url: str, timeout_s: float) -> TransportError:
    if isinstance(exc, TimeoutError | socket.timeout):
        return TransportError(f"edge at {url} did not answer within {timeout_s} s")
    if isinstance(exc, ConnectionRefusedError):
        return TransportError(f"edge at {url} refused the connection (not running?)")
    return TransportError(f"edge at {url} unreachable: {exc}")


def client_transport(url: str, *, ca_file: str | Path | None = None) -> ClientTransport:
    """Pick the transport from the URL scheme: ``http(s)://``, ``ws(s)://``, ``tcp://``,
    ``udp://`` or ``mqtt://`` (``ca_file``: the CA the TLS ones verify the edge with)."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme in ("http", "https"):
        return HttpClientTransport(url, ca_file=ca_file)
    if scheme in ("ws", "wss"):
        return WebSocketClientTransport(url, ca_file=ca_file)
    # Imported here: those modules build on this one's helpers.
    if scheme == "tcp":
        from sciot.transport._tcp import TcpClientTransport

        return TcpClientTransport(url)
    if scheme == "udp":
        from sciot.transport._udp import UdpClientTransport

        return UdpClientTransport(url)
    if scheme in ("mqtt", "mqtts"):
        from sciot.transport._mqtt import MqttClientTransport

        return MqttClientTransport(url, ca_file=ca_file)
    raise ConfigError(
        f"edge URL {url!r}: scheme must be http(s)://, ws(s)://, tcp://, udp:// or mqtt(s)://"
    )
