"""A fixed pool of segment executors for running one model from many threads.

A LiteRT interpreter must not be used by two threads at once; building one per request wastes
the time it was built to save. The pool builds ``size`` executors up front and lends them out;
a borrower that waits longer than ``timeout_s`` gets an ExecutionError instead of hanging.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np

from sciot.errors import ExecutionError
from sciot.model import TensorInfo
from sciot.runtime._executor import ModelSource, SegmentExecutor, read_model_bytes


class InterpreterPool:
    """``size`` interchangeable executors of one model; thread-safe."""

    __slots__ = ("_free", "_template", "size")

    def __init__(self, model: ModelSource, size: int, *, num_threads: int = 1) -> None:
        if size < 1:
            raise ExecutionError(f"an interpreter pool needs size >= 1, got {size}")
        data = read_model_bytes(model)
        self.size = size
        self._free: queue.LifoQueue[SegmentExecutor] = queue.LifoQueue(maxsize=size)
        executors = [SegmentExecutor(data, num_threads=num_threads) for _ in range(size)]
        self._template = executors[0]
        for executor in executors:
            self._free.put_nowait(executor)

    @property
    def input_names(self) -> tuple[str, ...]:
        return self._template.input_names

    @property
    def output_names(self) -> tuple[str, ...]:
        return self._template.output_names

    @property
    def inputs(self) -> tuple[TensorInfo, ...]:
        return self._template.inputs

    @property
    def outputs(self) -> tuple[TensorInfo, ...]:
        return self._template.outputs

    @contextmanager
    def acquire(self, timeout_s: float | None = None) -> Iterator[SegmentExecutor]:
        """Borrow an executor for the duration of the ``with`` block."""
        try:
            executor = self._free.get(timeout=timeout_s)
        except queue.Empty:
            raise ExecutionError(
                f"no interpreter free within {timeout_s} s (pool size {self.size}); "
                "enlarge the pool or lower concurrency"
            ) from None
        try:
            yield executor
        finally:
            self._free.put_nowait(executor)

    def run(
        self, inputs: Mapping[str, np.ndarray], *, timeout_s: float | None = None
    ) -> dict[str, np.ndarray]:
        with self.acquire(timeout_s) as executor:
            return executor.run(inputs)
