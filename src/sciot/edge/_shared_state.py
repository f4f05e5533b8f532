"""What edge workers serving one fleet must share: registrations and recent replies.

:class:`LocalState` keeps both in the process (one edge); :class:`RedisState` keeps them in
Redis, so any worker of a ``$share`` group can answer any device: it replays the device's
registration when it first sees the device, and answers a request another worker already
ran (a redelivery after that worker died, or a device's retransmit) from the cached reply.
Replies expire after ``reply_ttl_s``; registrations live as long as the store.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Protocol

ReplyKey = tuple[str, int, int]
"""Device id, sequence number, CRC-32 of the request frame."""


class SharedState(Protocol):
    def registration(self, device_id: str) -> bytes | None: ...

    def remember_registration(self, device_id: str, frame: bytes) -> None: ...

    def reply(self, key: ReplyKey) -> bytes | None: ...

    def remember_reply(self, key: ReplyKey, frame: bytes) -> None: ...


class LocalState:
    """In-process: the registrations of every device and the newest ``max_replies`` replies."""

    def __init__(self, *, max_replies: int = 4096) -> None:
        self._registrations: dict[str, bytes] = {}
        self._replies: OrderedDict[ReplyKey, bytes] = OrderedDict()
        self._max_replies = max_replies
        self._lock = threading.Lock()  # worker threads share it

    def registration(self, device_id: str) -> bytes | None:
        return self._registrations.get(device_id)

    def remember_registration(self, device_id: str, frame: bytes) -> None:
        self._registrations[device_id] = frame

    def reply(self, key: ReplyKey) -> bytes | None:
        return self._replies.get(key)

    def remember_reply(self, key: ReplyKey, frame: bytes) -> None:
        with self._lock:
            self._replies[key] = frame
            while len(self._replies) > self._max_replies:
                self._replies.popitem(last=False)
