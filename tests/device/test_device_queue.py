"""The bounded offline queue: order kept, oldest dropped and counted, failed uploads put back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sciot.device import OfflineQueue


def test_fifo_under_capacity() -> None:
    queue: OfflineQueue[int] = OfflineQueue(10)
    for item in range(5):
        assert queue.push(item)
    assert len(queue) == 5
    assert queue.take(3) == [0, 1, 2]
    assert queue.take(10) == [3, 4]
    assert queue.take(1) == []
    assert queue.dropped == 0


def test_full_queue_drops_oldest_and_counts() -> None:
    queue: OfflineQueue[int] = OfflineQueue(3)
    kept = [queue.push(item) for item in range(5)]
    assert kept == [True, True, True, False, False]
    assert queue.dropped == 2
    assert queue.take(10) == [2, 3, 4]


def test_put_back_restores_order() -> None:
    queue: OfflineQueue[int] = OfflineQueue(10)
    for item in range(6):
        queue.push(item)
    batch = queue.take(4)
    queue.push(6)
    assert queue.put_back(batch) == 0
    assert queue.take(10) == [0, 1, 2, 3, 4, 5, 6]


def test_put_back_into_a_refilled_queue_drops_oldest() -> None:
    queue: OfflineQueue[int] = OfflineQueue(4)
    for item in range(4):
        queue.push(item)
    batch = queue.take(2)
    queue.push(4)
    queue.push(5)
    assert queue.put_back(batch) == 2
    assert queue.dropped == 2
    assert queue.take(10) == [2, 3, 4, 5]


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        OfflineQueue(0)


@given(
    capacity=st.integers(min_value=1, max_value=20),
    ops=st.lists(st.one_of(st.just(-1), st.integers(min_value=1, max_value=5)), max_size=60),
)
def test_nothing_vanishes_uncounted(capacity: int, ops: list[int]) -> None:
    """pushed == taken + dropped + still queued, and the bound always holds."""
    queue: OfflineQueue[int] = OfflineQueue(capacity)
    taken = 0
    for op in ops:
        if op == -1:
            queue.push(queue.pushed)
        else:
            taken += len(queue.take(op))
        assert len(queue) <= capacity
    assert queue.pushed == taken + queue.dropped + len(queue)
