"""Frames over UDP: ``udp://HOST:PORT[?datagram_bytes=N]``, for devices that cannot keep a
TCP connection (or whose radio stack makes one expensive).

One request is one message id; its frame goes out as fragments (``_datagram``) and the reply
comes back as fragments with the same id. Loss is repaired by NACKs of the missing fragments
and by a retransmit timer (a fifth of the timeout, at least 20 ms) that resends the request;
the edge answers a resent request from its reply cache, so the tail never runs twice. When
nothing whole arrives within ``timeout_s`` the call fails with a
:class:`~sciot.errors.TransportError`, and the device falls back to local inference.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
import time
import urllib.parse

from sciot.errors import ConfigError, TransportError
from sciot.transport._client import _check_timeout
from sciot.transport._datagram import (
    DEFAULT_DATAGRAM_BYTES,
    HEADER_BYTES,
    DatagramError,
    DatagramKind,
    Reassembler,
    decode_fragment,
    fragments,
    missing_from_bitmap,
    nack,
)
from sciot.transport._tcp import MAX_REPLY_BYTES, parse_host_port

MIN_RETRANSMIT_S = 0.02
SOCKET_BUFFER_BYTES = 4 * 1024 * 1024
MAX_DATAGRAM_BYTES = 65_507


def _datagram_bytes(url: str) -> int:
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    raw = query.get("datagram_bytes", [str(DEFAULT_DATAGRAM_BYTES)])[-1]
    try:
        size = int(raw)
    except ValueError:
        raise ConfigError(f"edge URL {url!r}: datagram_bytes must be an integer") from None
    if not HEADER_BYTES < size <= MAX_DATAGRAM_BYTES:
        raise ConfigError(
            f"edge URL {url!r}: datagram_bytes must be in {HEADER_BYTES + 1}..{MAX_DATAGRAM_BYTES}"
        )
    return size


def enlarge_buffers(sock: socket.socket) -> None:
    """Ask for large socket buffers so a burst of fragments is not dropped by the kernel
    (it caps the request at ``net.core.rmem_max``; NACKs repair what still overflows)."""
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER_BYTES)


class UdpClientTransport:
    """One request frame out as fragments, one reply frame back, lost fragments resent."""

    def __init__(self, url: str) -> None:
        self._host, self._port = parse_host_port(url.split("?", 1)[0], "udp")
        self._url = url
        self._datagram_bytes = _datagram_bytes(url)
        self._sock: socket.socket | None = None
        self._message_id = secrets.randbits(32)
        self._lock = threading.Lock()
        self.retransmits = 0
        self.nacks_sent = 0

    def __repr__(self) -> str:
        return f"UdpClientTransport({self._url!r})"

    def request(self, payload: bytes, *, timeout_s: float) -> bytes:
        _check_timeout(timeout_s)
        with self._lock:
            try:
                return self._exchange(payload, timeout_s)
            except OSError as exc:
                self._drop()
                if isinstance(exc, ConnectionRefusedError):
                    raise TransportError(
                        f"edge at {self._url} refused the datagram (nothing listening?)"
                    ) from exc
                raise TransportError(f"edge at {self._url} unreachable: {exc}") from exc

    def _socket(self) -> socket.socket:
        if self._sock is None:
            family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            enlarge_buffers(sock)
            sock.connect((self._host, self._port))
            self._sock = sock
        return self._sock

    def _exchange(self, payload: bytes, timeout_s: float) -> bytes:
        sock = self._socket()
        self._message_id = (self._message_id + 1) & 0xFFFFFFFF
        message_id = self._message_id
        request = fragments(
            DatagramKind.REQUEST, message_id, payload, max_datagram_bytes=self._datagram_bytes
        )
        reassembler = Reassembler(max_frame_bytes=MAX_REPLY_BYTES, timeout_s=timeout_s)
        deadline = time.monotonic() + timeout_s
        retransmit_s = max(MIN_RETRANSMIT_S, timeout_s / 5)
        for datagram in request:
            sock.send(datagram)
        resend_at = time.monotonic() + retransmit_s
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise TransportError(
                    f"edge at {self._url} sent no whole reply within {timeout_s} s "
                    f"({self.retransmits} retransmits)"
                )
            if now >= resend_at:
                self._retransmit(sock, message_id, request, reassembler)
                resend_at = now + retransmit_s
            sock.settimeout(max(1e-4, min(deadline, resend_at) - now))
            try:
                datagram = sock.recv(MAX_DATAGRAM_BYTES + 1)
            except TimeoutError:
                continue
            try:
                fragment = decode_fragment(datagram, max_frame_bytes=MAX_REPLY_BYTES)
            except DatagramError:
                continue  # junk or a corrupted fragment: a NACK or the timer repairs it
            if fragment.message_id != message_id:
                continue  # a late answer to an earlier request
            if fragment.kind is DatagramKind.REQUEST_NACK:
                try:
                    wanted = [i for i in missing_from_bitmap(fragment) if i < len(request)]
                except DatagramError:
                    continue
                resend = fragments(
                    DatagramKind.REQUEST,
                    message_id,
                    payload,
                    max_datagram_bytes=self._datagram_bytes,
                    indices=wanted,
                )
                for datagram in resend:
                    sock.send(datagram)
                continue
            if fragment.kind is not DatagramKind.REPLY:
                continue
            progress = reassembler.add(message_id, fragment, time.monotonic())
            if progress.frame is not None:
                return progress.frame
            if progress.missing:
                self.nacks_sent += 1
                sock.send(
                    nack(
                        DatagramKind.REPLY_NACK,
                        message_id,
                        fragment.total_bytes,
                        progress.missing,
                        fragment.count,
                    )
                )

    def _retransmit(
        self,
        sock: socket.socket,
        message_id: int,
        request: list[bytes],
        reassembler: Reassembler,
    ) -> None:
        """Part of the reply arrived: ask for the rest; none did: resend the request."""
        self.retransmits += 1
        missing = reassembler.missing(message_id)
        if missing:
            total, count = reassembler.shape(message_id)
            sock.send(nack(DatagramKind.REPLY_NACK, message_id, total, missing, count))
            return
        for datagram in request:
            sock.send(datagram)

    def _drop(self) -> None:
        if self._sock is not None:
            sock, self._sock = self._sock, None
            sock.close()

    def close(self) -> None:
        with self._lock:
            self._drop()
