"""The live channel: one tick per interval, computed once and sent to every open page.

Cost must not grow with the number of viewers, and must be zero when nobody watches, so that
an open dashboard never slows the edge it shows. One asyncio task (started by the first viewer,
ended with the last) builds each tick and serialises it once; every viewer has a one-slot
mailbox, so a slow browser skips ticks instead of making the edge queue them. The tick is
built in a worker thread, not on the event loop: with a hundred devices it takes milliseconds,
which frames waiting on the loop should not wait for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from typing import Any

from sciot.dashboard._snapshot import FleetTracker

log = logging.getLogger("sciot.dashboard")


class LiveFeed:
    """Broadcasts :class:`FleetTracker` ticks; subscribe from the server's event loop."""

    def __init__(self, tracker: FleetTracker, *, interval_s: float = 0.5) -> None:
        self.tracker = tracker
        self.interval_s = interval_s
        self._viewers: set[asyncio.Queue[str]] = set()
        self._task: asyncio.Task[None] | None = None
        self.latest: dict[str, Any] | None = None
        self.ticks = 0
        self.build_s = 0.0
        """CPU seconds spent building and serialising the last broadcast tick (its cost to the
        edge; CPU, not wall time, which under load mostly measures waiting for the GIL)."""
        self._lock = threading.Lock()  # the tracker compares each tick with the one before

    @property
    def viewers(self) -> int:
        return len(self._viewers)

    def subscribe(self) -> asyncio.Queue[str]:
        """A mailbox that receives every tick's JSON text from now on."""
        mailbox: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
        self._viewers.add(mailbox)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sciot-dash")
        return mailbox

    def unsubscribe(self, mailbox: asyncio.Queue[str]) -> None:
        self._viewers.discard(mailbox)

    def tick_now(self) -> dict[str, Any]:
        """A fresh tick (also for HTTP callers; any thread); kept as ``latest``."""
        with self._lock:
            self.latest = self.tracker.tick()
            self.ticks += 1
            return self.latest

    def history_json(self) -> dict[str, Any]:
        """The tracker's history, consistent (the worker thread appends under the same lock)."""
        with self._lock:
            return self.tracker.history_json()

    def _tick_text(self) -> str | None:
        started = time.thread_time()
        try:
            message = {"type": "tick", "build_ms": round(self.build_s * 1e3, 3)}
            return json.dumps({**message, **self.tick_now()}, separators=(",", ":"))
        except Exception:  # a bug must not end the feed for every open page
            log.exception("dashboard tick failed")
            return None
        finally:
            self.build_s = time.thread_time() - started

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due_s = loop.time()
        while self._viewers:
            text = await loop.run_in_executor(None, self._tick_text)
            if text is not None:
                for mailbox in self._viewers:
                    if mailbox.full():
                        with contextlib.suppress(asyncio.QueueEmpty):
                            mailbox.get_nowait()
                    mailbox.put_nowait(text)
            # A fixed rate, not a fixed pause: the build time does not stretch the interval
            # (after falling behind, the next tick is simply as soon as possible).
            due_s = max(due_s + self.interval_s, loop.time())
            await asyncio.sleep(due_s - loop.time())
        self._task = None
