"""Frames over UDP (``udp://HOST:PORT``): reassembly, loss repair and a reply cache.

Datagrams are checked (magic, version, CRC-32, consistent fragment geometry) before anything
is kept; junk is counted and never answered, so the listener cannot be used to amplify
traffic. Partial messages are bounded in number and bytes and expire. A whole request runs
once: its reply is cached per sender and message id, so a retransmitted request or a NACK of
lost reply fragments is answered from the cache. A frame larger than ``max_frame_bytes`` is
refused with an ``ErrorFrame`` as soon as its first fragment arrives. Layout and recovery
rules: the "UDP" section of ``docs/wire.md``.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sciot.edge._listeners import FrameHandler, LoopListener, LoopThread, handle_on, peer_host
from sciot.errors import TransportError
from sciot.transport._datagram import (
    DEFAULT_DATAGRAM_BYTES,
    FLAG_END_OF_BURST,
    DatagramError,
    DatagramKind,
    Fragment,
    Reassembler,
    decode_fragment,
    fragments,
    missing_from_bitmap,
    nack,
)
from sciot.transport._udp import enlarge_buffers

Key = tuple[Any, int]
"""Sender address and message id."""


class UdpListener(LoopListener, asyncio.DatagramProtocol):
    """Serves an :class:`EdgeCore` over UDP datagrams."""

    scheme = "udp"

    def __init__(
        self,
        core: FrameHandler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        workers: int = 4,
        datagram_bytes: int = DEFAULT_DATAGRAM_BYTES,
        reassembly_timeout_s: float = 5.0,
        max_partial: int = 256,
        max_cached_replies: int = 1024,
        max_cached_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.core = core
        self.datagram_bytes = datagram_bytes
        self._host = host
        self._requested_port = port
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sciot-udp")
        self._reassembler = Reassembler(
            max_frame_bytes=core.max_frame_bytes,
            timeout_s=reassembly_timeout_s,
            max_partial=max_partial,
            max_partial_bytes=4 * core.max_frame_bytes,
        )
        self._replies: OrderedDict[Key, bytes] = OrderedDict()
        self._reply_bytes = 0
        self._max_cached_replies = max_cached_replies
        self._max_cached_bytes = max_cached_bytes
        self._running: set[Key] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self.received = 0
        self.rejected = 0
        self.answered = 0
        self.resent_replies = 0
        self.nacks_sent = 0
        self._thread = LoopThread(f"sciot-udp-{port}", self._setup)
        self._thread.teardown = self._teardown

    @property
    def partial_messages(self) -> int:
        return self._reassembler.partial_messages

    async def _setup(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: self, local_addr=(self._host, self._requested_port)
            )
        except OSError as exc:
            raise TransportError(
                f"cannot listen on UDP {self._host}:{self._requested_port}: {exc.strerror}"
            ) from exc
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            enlarge_buffers(sock)
        self.port = int(transport.get_extra_info("sockname")[1])

    async def _teardown(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # --------------------------------------------------------------------- datagrams

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received += 1
        try:
            fragment = decode_fragment(data, max_frame_bytes=2**32 - 1)
        except DatagramError:
            self.rejected += 1
            return
        key = (addr, fragment.message_id)
        if fragment.kind is DatagramKind.REQUEST:
            self._request_fragment(key, addr, fragment)
        elif fragment.kind is DatagramKind.REPLY_NACK:
            self._resend_reply(key, addr, fragment)
        else:
            self.rejected += 1

    def _request_fragment(self, key: Key, addr: Any, fragment: Fragment) -> None:
        if fragment.total_bytes > self.core.max_frame_bytes:
            if fragment.index == 0:
                self._send_reply(key, addr, self.core.refuse_oversized(fragment.total_bytes).frame)
            return
        cached = self._replies.get(key)
        if cached is not None:
            # A retransmitted request: the reply was lost; answer again, once per burst.
            if fragment.flags & FLAG_END_OF_BURST or fragment.count == 1:
                self.resent_replies += 1
                self._send(
                    addr,
                    fragments(
                        DatagramKind.REPLY, key[1], cached, max_datagram_bytes=self.datagram_bytes
                    ),
                )
            return
        if key in self._running:
            return
        try:
            progress = self._reassembler.add(key, fragment, time.monotonic())
        except DatagramError:
            self.rejected += 1
            return
        if progress.frame is not None:
            self._running.add(key)
            task = asyncio.get_running_loop().create_task(self._answer(key, addr, progress.frame))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif progress.missing:
            self.nacks_sent += 1
            self._send(
                addr,
                [
                    nack(
                        DatagramKind.REQUEST_NACK,
                        key[1],
                        fragment.total_bytes,
                        progress.missing,
                        fragment.count,
                    )
                ],
            )

    def _resend_reply(self, key: Key, addr: Any, fragment: Fragment) -> None:
        cached = self._replies.get(key)
        if cached is None:
            return  # not answered (yet): the device's retransmit timer resends the request
        try:
            missing = missing_from_bitmap(fragment)
            wanted = fragments(
                DatagramKind.REPLY,
                key[1],
                cached,
                max_datagram_bytes=self.datagram_bytes,
                indices=missing,
            )
        except DatagramError:
            self.rejected += 1
            return
        self.resent_replies += 1
        self._send(addr, wanted)

    async def _answer(self, key: Key, addr: Any, frame: bytes) -> None:
        try:
            reply = await handle_on(self.core, self._executor, frame, "udp", peer_host(addr))
        finally:
            self._running.discard(key)
        self._send_reply(key, addr, reply.frame)
        self.answered += 1

    def _send_reply(self, key: Key, addr: Any, frame: bytes) -> None:
        self._replies[key] = frame
        self._reply_bytes += len(frame)
        while len(self._replies) > self._max_cached_replies or (
            self._reply_bytes > self._max_cached_bytes and len(self._replies) > 1
        ):
            _, old = self._replies.popitem(last=False)
            self._reply_bytes -= len(old)
        self._send(
            addr,
            fragments(DatagramKind.REPLY, key[1], frame, max_datagram_bytes=self.datagram_bytes),
        )

    def _send(self, addr: Any, datagrams: list[bytes]) -> None:
        transport = self._transport
        if transport is None:
            return
        for datagram in datagrams:
            transport.sendto(datagram, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP errors for a device that went away: nothing to do
