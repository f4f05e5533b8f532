"""The live channel: one tick per interval, computed once and sent to every open page.

Cost must not grow with the number of viewers, and must be zero when nobody watches, so that
an open dashboard never slows the edge it shows. One asyncio task (started by the first viewer,
ended with the last) builds each tick and serialises it once; every viewer has a one-slot
mailbox, so a slow browser skips ticks instead of making the edge queue them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from sciot.dashboard._snapshot import FleetTracker

log = logging.getLogger("sciot.dashboard")


class LiveFeed:
    """Broadcasts :class:`FleetTracker` ticks; use from the server's event loop only."""

    def __init__(self, tracker: FleetTracker, *, interval_s: float = 0.5) -> None:
        self.tracker = tracker
        self.interval_s = interval_s
        self._viewers: set[asyncio.Queue[str]] = set()
        self._task: asyncio.Task[None] | None = None
        self.latest: dict[str, Any] | None = None
        self.ticks = 0

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
        """A fresh tick (also for HTTP callers); keeps the one being broadcast as latest."""
        self.latest = self.tracker.tick()
        self.ticks += 1
        return self.latest

    async def _run(self) -> None:
        while self._viewers:
            try:
                text = json.dumps({"type": "tick", **self.tick_now()}, separators=(",", ":"))
            except Exception:  # a bug must not end the feed for every open page
                log.exception("dashboard tick failed")
                text = None
            if text is not None:
                for mailbox in self._viewers:
                    if mailbox.full():
                        with contextlib.suppress(asyncio.QueueEmpty):
                            mailbox.get_nowait()
                    mailbox.put_nowait(text)
            await asyncio.sleep(self.interval_s)
        self._task = None
