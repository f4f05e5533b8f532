"""Per-op timing of a model by running it one single-op model at a time.

LiteRT's Python API can time a whole invoke but not the ops inside it. So, at construction,
every op of the range becomes its own tiny model (its weights and any subgraphs it calls carried
along), and :meth:`OpProfiler.run` chains them, timing each invoke. The chained outputs are the
same as the segment's; the extra cost is the Python round trip per op (roughly 10 us), which is
why this is a profiling mode and not the way to serve requests.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from sciot.errors import ExecutionError
from sciot.model import ModelGraph, TensorInfo, extract_op
from sciot.runtime._executor import SegmentExecutor, check_inputs


class OpProfiler:
    """Runs ops [start, stop) of a model one by one and reports each op's time in seconds."""

    __slots__ = ("_in_specs", "_steps", "inputs", "outputs", "start", "stop")

    def __init__(
        self, graph: ModelGraph, start: int = 0, stop: int | None = None, *, num_threads: int = 1
    ) -> None:
        stop = graph.num_ops if stop is None else stop
        if not 0 <= start < stop <= graph.num_ops:
            raise ExecutionError(
                f"op range [{start}, {stop}) is empty or outside the model's {graph.num_ops} ops"
            )
        for k in range(start + 1, stop):
            reason = graph.cut(k).blocked_reason
            if reason is not None:
                raise ExecutionError(f"cannot time this model op by op (cut {k}): {reason}")
        self.start = start
        self.stop = stop
        self.inputs: tuple[TensorInfo, ...] = (
            graph.inputs if start == 0 else graph.cut(start).tensors
        )
        self.outputs: tuple[TensorInfo, ...] = (
            graph.outputs if stop == graph.num_ops else graph.cut(stop).tensors
        )
        self._in_specs = {t.name: (t.shape, np.dtype(t.dtype)) for t in self.inputs}
        self._steps: list[tuple[SegmentExecutor, tuple[str, ...]]] = []
        for index in range(start, stop):
            data, in_names, _ = extract_op(graph, index)
            self._steps.append((SegmentExecutor(data, num_threads=num_threads), in_names))

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.outputs)

    def run(self, inputs: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list[float]]:
        """Outputs of the range and the invoke time of each op, in op order."""
        check_inputs(self._in_specs, inputs)
        live: dict[str, np.ndarray] = dict(inputs)
        times_s: list[float] = []
        for executor, in_names in self._steps:
            executor.set_inputs({name: live[name] for name in in_names})
            started = time.perf_counter()
            executor.invoke()
            times_s.append(time.perf_counter() - started)
            live.update(executor.get_outputs())
        return {name: live[name] for name in self.output_names}, times_s
