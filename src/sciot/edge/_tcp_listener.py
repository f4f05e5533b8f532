"""Frames over raw TCP (``tcp://HOST:PORT``), and the ESP32 seed firmware's raw activations.

A connection carries request frames back to back; each is read as its 8-byte prefix (magic,
version, type, length) and then the rest, answered in order. What cannot be a frame -- junk,
a length shorter than a header or above ``max_frame_bytes``, a frame whose bytes disagree
with its length -- is answered with an ``ErrorFrame`` and the connection is closed, because a
byte stream has no way to find the next frame boundary after that. A frame left incomplete
for ``frame_timeout_s`` is refused the same way; other connections are never affected.

With a :class:`~sciot.edge._esp32_compat.RawTailAnswerer` configured, a connection whose
first bytes are not ``"SC"`` followed by wire version 1 and a known message type is taken as
the seed firmware's raw mode for its whole life: fixed-size headerless activations in, one
``Predictions: ...`` CRLF line out per activation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from concurrent.futures import ThreadPoolExecutor

from sciot.edge._esp32_compat import RawTailAnswerer
from sciot.edge._listeners import FrameHandler, LoopListener, LoopThread, handle_on, peer_host
from sciot.errors import SciotError, TransportError
from sciot.transport._framing import MAGIC, PREFIX_BYTES, frame_length

log = logging.getLogger("sciot.edge.tcp")

FRAME_VERSION = 1
FRAME_TYPES = range(1, 9)


def is_frame_start(head: bytes) -> bool:
    """Whether 3+ bytes look like the start of a version-1 sciot frame."""
    return head[:2] == MAGIC and head[2] == FRAME_VERSION and head[3] in FRAME_TYPES


class TcpListener(LoopListener):
    """Serves an :class:`EdgeCore` over TCP (and, optionally, the ESP32 raw protocol)."""

    scheme = "tcp"

    def __init__(
        self,
        core: FrameHandler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        workers: int = 4,
        raw: RawTailAnswerer | None = None,
        frames: bool = True,
        frame_timeout_s: float = 10.0,
        idle_timeout_s: float = 300.0,
    ) -> None:
        if not frames and raw is None:
            raise TransportError("a TCP listener must accept frames, raw activations or both")
        self.core = core
        self.raw = raw
        self.frames = frames
        self.frame_timeout_s = frame_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self._host = host
        self._requested_port = port
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sciot-tcp")
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.connections = 0
        self.refused = 0
        self.raw_answered = 0
        self._thread = LoopThread(f"sciot-tcp-{port}", self._setup)
        self._thread.teardown = self._teardown

    async def _setup(self) -> None:
        try:
            self._server = await asyncio.start_server(
                self._serve, self._host, self._requested_port, backlog=2048, reuse_address=True
            )
        except OSError as exc:
            raise TransportError(
                f"cannot listen on TCP {self._host}:{self._requested_port}: {exc.strerror}"
            ) from exc
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _teardown(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            head = await asyncio.wait_for(reader.readexactly(4), self.idle_timeout_s)
            if self.raw is not None and not (self.frames and is_frame_start(head)):
                await self._serve_raw(head, reader, writer)
            else:
                await self._serve_frames(head, reader, writer)
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass  # the peer went away or stayed silent: nothing to answer
        except asyncio.CancelledError:
            pass  # the listener is stopping
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()

    async def _serve_frames(
        self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        core = self.core
        source = peer_host(writer.get_extra_info("peername"))
        while True:
            try:
                prefix = head + await asyncio.wait_for(
                    reader.readexactly(PREFIX_BYTES - len(head)), self.frame_timeout_s
                )
                length = frame_length(prefix, max_bytes=2**32 - 1)
            except TransportError as exc:
                await self._refuse(writer, core.malformed(f"malformed frame: {exc}").frame)
                return
            if length > core.max_frame_bytes:
                await self._refuse(writer, core.refuse_oversized(length).frame)
                return
            try:
                rest = await asyncio.wait_for(
                    reader.readexactly(length - PREFIX_BYTES), self.frame_timeout_s
                )
            except TimeoutError:
                reason = (
                    f"frame declared {length} bytes but stopped arriving for "
                    f"{self.frame_timeout_s} s; check the length prefix"
                )
                await self._refuse(writer, core.malformed(reason).frame)
                return
            reply = await handle_on(core, self._executor, prefix + rest, "tcp", source)
            writer.write(reply.frame)
            await writer.drain()
            if reply.status == 400:
                # A malformed frame may have been a wrong length: the stream is out of step.
                return
            head = await asyncio.wait_for(reader.readexactly(1), self.idle_timeout_s)

    async def _serve_raw(
        self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        answerer = self.raw
        assert answerer is not None
        loop = asyncio.get_running_loop()
        while True:
            data = head + await asyncio.wait_for(
                reader.readexactly(answerer.raw_bytes - len(head)), self.frame_timeout_s
            )
            try:
                line = await loop.run_in_executor(self._executor, answerer.answer, data)
            except SciotError as exc:
                log.warning("raw activation refused: %s", exc)
                writer.write(f"Error: {exc}\r\n".encode("ascii", "replace"))
                await writer.drain()
                return
            self.raw_answered += 1
            writer.write(line)
            await writer.drain()
            head = await asyncio.wait_for(reader.readexactly(1), self.idle_timeout_s)

    async def _refuse(self, writer: asyncio.StreamWriter, frame: bytes) -> None:
        self.refused += 1
        writer.write(frame)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
