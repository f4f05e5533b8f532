"""The bounded queue of inferences made while the edge was unreachable.

Every inference the device runs on its own while offline (or after a failed call) is recorded
here with its result and timings and uploaded when the edge is back, so the edge's telemetry
has no holes. Memory is bounded: when full, the oldest record is dropped and counted, never
silently lost; the default bound is large enough that a normal outage drops nothing. The queue
is generic over the record type so it stays free of wire details.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class OfflineQueue(Generic[T]):
    """FIFO bounded at ``capacity``; drops (and counts) the oldest record when full."""

    __slots__ = ("_items", "capacity", "dropped", "pushed")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._items: deque[T] = deque()
        self.dropped = 0
        self.pushed = 0

    def __len__(self) -> int:
        return len(self._items)

    def push(self, record: T) -> bool:
        """Append ``record``; returns False when the oldest record had to be dropped."""
        self.pushed += 1
        self._items.append(record)
        return self._trim_front() == 0

    def take(self, limit: int) -> list[T]:
        """Remove and return up to ``limit`` of the oldest records, oldest first."""
        batch: list[T] = []
        while self._items and len(batch) < limit:
            batch.append(self._items.popleft())
        return batch

    def put_back(self, records: Iterable[T]) -> int:
        """Return records whose upload failed to the front, keeping their order.

        If newer records filled the queue meanwhile, the oldest are dropped (and counted);
        returns how many were dropped.
        """
        self._items.extendleft(reversed(list(records)))
        return self._trim_front()

    def confirm(self) -> int:
        """The edge acknowledged what was taken (kept for the persistent queue's sake: taken
        records already left this one)."""
        return 0

    def close(self) -> None:
        """Nothing to release (the persistent queue closes its file)."""

    def _trim_front(self) -> int:
        dropped = 0
        while len(self._items) > self.capacity:
            self._items.popleft()
            dropped += 1
        self.dropped += dropped
        return dropped


__all__ = ["OfflineQueue"]
