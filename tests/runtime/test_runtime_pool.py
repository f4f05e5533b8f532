"""InterpreterPool: correct results from many threads at once, bounded waits."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from sciot.errors import ExecutionError
from sciot.model import load_model
from sciot.runtime import InterpreterPool, SegmentExecutor
from sciot_test_models import ModelCache, random_inputs

pytestmark = pytest.mark.tensorflow


def test_concurrent_runs_are_correct(test_models: ModelCache) -> None:
    graph = load_model(test_models.path("residual_int8"))
    reference = SegmentExecutor(graph.model_bytes)
    cases = [random_inputs(graph.inputs, seed) for seed in range(8)]
    expected = [reference.run(feeds) for feeds in cases]
    pool = InterpreterPool(graph.model_bytes, size=3)
    assert pool.input_names == reference.input_names and pool.outputs == reference.outputs

    def work(i: int) -> bool:
        got = pool.run(cases[i % len(cases)], timeout_s=30)
        want = expected[i % len(cases)]
        return all(np.array_equal(got[k], v) for k, v in want.items())

    with ThreadPoolExecutor(max_workers=6) as threads:
        results = list(threads.map(work, range(120)))
    assert all(results)


def test_acquire_times_out_when_all_are_busy(test_models: ModelCache) -> None:
    pool = InterpreterPool(test_models.path("residual_f32"), size=1)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with pool.acquire():
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        with pytest.raises(ExecutionError, match="no interpreter free"), pool.acquire(0.05):
            pass
    finally:
        release.set()
        holder.join(10)
    with pool.acquire(1.0) as executor:  # returned to the pool after use
        assert executor.input_names == pool.input_names


def test_pool_size_must_be_positive(test_models: ModelCache) -> None:
    with pytest.raises(ExecutionError, match="size"):
        InterpreterPool(test_models.path("residual_f32"), size=0)
