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

from sciot.errors import MissingExtraError, TransportError

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


class RedisState:
    """Registrations and replies in Redis (``redis://HOST:PORT/DB``), seen by every worker.

    Keys: ``<prefix>:reg:<device>`` (the device's last accepted Register frame, no expiry) and
    ``<prefix>:reply:<device>:<seq>:<crc>`` (a reply frame, expiring after ``reply_ttl_s``).
    Redis is reached through the ``redis`` package (the ``edge`` extra); a worker that
    cannot reach it refuses to start rather than serve with state the others cannot see.
    """

    def __init__(self, url: str, *, prefix: str = "sciot", reply_ttl_s: float = 60.0) -> None:
        try:
            import redis
        except ImportError:
            raise MissingExtraError("redis", "edge", "shared edge state in Redis") from None
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self._prefix = prefix
        self._ttl_ms = max(1, int(reply_ttl_s * 1000))
        try:
            self._redis = redis.Redis.from_url(url, socket_timeout=5.0)
            self._redis.ping()
        except (ValueError, *self._errors) as exc:
            raise TransportError(f"cannot reach Redis at {url}: {exc}") from exc
        self.url = url

    def _get(self, key: str) -> bytes | None:
        try:
            value = self._redis.get(key)
        except self._errors as exc:
            raise TransportError(f"Redis at {self.url} failed: {exc}") from exc
        if value is None:
            return None
        return value if isinstance(value, bytes) else str(value).encode()

    def _set(self, key: str, value: bytes, *, px: int | None = None) -> None:
        try:
            self._redis.set(key, value, px=px)
        except self._errors as exc:
            raise TransportError(f"Redis at {self.url} failed: {exc}") from exc

    def registration(self, device_id: str) -> bytes | None:
        return self._get(f"{self._prefix}:reg:{device_id}")

    def remember_registration(self, device_id: str, frame: bytes) -> None:
        self._set(f"{self._prefix}:reg:{device_id}", frame)

    def reply(self, key: ReplyKey) -> bytes | None:
        device_id, seq, crc = key
        return self._get(f"{self._prefix}:reply:{device_id}:{seq}:{crc}")

    def remember_reply(self, key: ReplyKey, frame: bytes) -> None:
        device_id, seq, crc = key
        self._set(f"{self._prefix}:reply:{device_id}:{seq}:{crc}", frame, px=self._ttl_ms)

    def close(self) -> None:
        self._redis.close()
