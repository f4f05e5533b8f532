"""What the raw-socket listeners share: an event loop in a thread, and frame hand-off.

The TCP and UDP listeners are thin adapters over :meth:`EdgeCore.handle_frame`: each runs
its own asyncio loop in a daemon thread (start, address and stop it deterministically from
tests, the demo and ``sciot serve``), serves cheap frames inline and sends tails that cost
more than a thread hand-off to a small pool, exactly as the HTTP/WebSocket app does.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar, Protocol, Self

from sciot.edge._core import Reply
from sciot.errors import TransportError

STARTUP_TIMEOUT_S = 10.0


class FrameHandler(Protocol):
    """What a listener needs of the edge: :class:`~sciot.edge.EdgeCore` is one. Typed
    structurally so a listener can also front something else (the transport benchmark's echo)."""

    @property
    def max_frame_bytes(self) -> int: ...

    @property
    def devices(self) -> Mapping[str, object]: ...

    def runs_inline(self, data: bytes) -> bool: ...

    def handle_frame(
        self,
        data: bytes,
        now_s: float,
        *,
        transport: str = "",
        source: str = "",
        waited_s: float = 0.0,
    ) -> Reply: ...

    def malformed(self, reason: str) -> Reply: ...

    def refuse_oversized(self, size_bytes: int) -> Reply: ...


def frame_handler(core: FrameHandler, transport: str, source: str = "") -> Callable[..., Reply]:
    """``core.handle_frame`` that records ``transport`` as the device's and names the peer
    address ``source`` (registrations are capped per source)."""
    return functools.partial(core.handle_frame, transport=transport, source=source)


def peer_host(peer: object) -> str:
    """The host part of a socket peer address (``(host, port, ...)``), "" when unknown."""
    if isinstance(peer, tuple | list) and peer and isinstance(peer[0], str):
        return peer[0]
    return ""


async def handle_on(
    core: FrameHandler,
    executor: ThreadPoolExecutor,
    data: bytes,
    transport: str = "",
    source: str = "",
) -> Reply:
    """One frame through the core, inline when its tail is cheaper than a hand-off.

    A handed-off frame waits for a worker thread; that wait is the edge's queue, measured
    here and passed on (``waited_s``), so the planner costs it per request rather than as
    network time or as a slower tail."""
    handle = frame_handler(core, transport, source)
    if core.runs_inline(data):
        reply = handle(data, time.time())
    else:
        loop = asyncio.get_running_loop()
        queued = time.perf_counter()

        def run(now_s: float) -> Reply:
            return handle(data, now_s, waited_s=time.perf_counter() - queued)

        reply = await loop.run_in_executor(executor, run, time.time())
    if reply.delay_s > 0.0:
        await asyncio.sleep(reply.delay_s)
    return reply


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when installed (it comes with the edge extra, as uvicorn uses it): its
    socket and datagram callbacks cost about half of the standard loop's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


class LoopThread:
    """An asyncio loop in a daemon thread that runs ``setup`` then serves until stopped."""

    def __init__(self, name: str, setup: Callable[[], Awaitable[None]]) -> None:
        self._name = name
        self._setup = setup
        self._loop = new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.teardown: Callable[[], Awaitable[None]] | None = None

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(STARTUP_TIMEOUT_S):
            raise TransportError(f"{self._name} did not start within {STARTUP_TIMEOUT_S} s")
        if self._error is not None:
            self._thread.join(1.0)
            if isinstance(self._error, TransportError):
                raise self._error
            raise TransportError(f"{self._name} failed to start: {self._error}")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._setup())
        except BaseException as exc:  # reported to start()'s caller
            self._error = exc
            self._ready.set()
            self._loop.close()
            return
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            if self.teardown is not None:
                self._loop.run_until_complete(self.teardown())
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            if pending:
                self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout_s)


class LoopListener:
    """The life cycle the raw-socket listeners share: a :class:`LoopThread` serving on
    ``host:port``, then the pool of tail workers; a context manager too."""

    scheme: ClassVar[str]
    port: int
    _host: str
    _thread: LoopThread
    _executor: ThreadPoolExecutor

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{self.scheme}://{host}:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._thread.stop()
        self._executor.shutdown(wait=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
