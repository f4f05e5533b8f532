"""The models an edge serves, with every tail prepared before the first request arrives.

For a model with N ops the edge may be asked to run the tail of any cut k < N, so at startup it
checks that every cut runs (:func:`~sciot.runtime.verify_cuts`), splits the model at every
cut that does and builds an :class:`~sciot.runtime.InterpreterPool` per tail,
as large as the number of tail workers (a worker never waits for an interpreter). It also
profiles the whole model op by op once: the per-op shares let one measured tail time be spread
over the ops it covered, which is what the planner's per-op edge estimators consume.
"""

from __future__ import annotations

import itertools
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sciot.edge._config import ModelConfig
from sciot.errors import ModelError
from sciot.model import ModelGraph, TensorInfo, extract_segment, load_model, split_model
from sciot.planner import spread_tail_s
from sciot.runtime import InterpreterPool, OpProfiler, SegmentExecutor, verify_cuts

PROFILE_RUNS = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class CrossingSpec:
    """What the edge expects to receive at one cut: names, shapes and dtypes, in order."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[np.dtype[np.generic], ...]


class ServedModel:
    """One model: its graph, a pool per tail, the expected crossing tensors, an op profile."""

    def __init__(self, graph: ModelGraph, *, label: str, workers: int) -> None:
        self.graph = graph
        self.label = label
        self.model_id = graph.model_id
        self.num_ops = graph.num_ops
        self.outputs: tuple[TensorInfo, ...] = graph.outputs
        # A blocked cut has no spec: nothing is accepted there (its tensors may not even be
        # data, such as a resource handle).
        self.crossing = tuple(
            _spec(graph.cut(k).tensors if graph.cut(k).splittable else ())
            for k in range(self.num_ops + 1)
        )
        self.crossing_bytes = tuple(graph.cut(k).crossing_bytes for k in range(self.num_ops + 1))
        self.result_bytes = sum(t.nbytes for t in graph.outputs)
        self.tails: tuple[InterpreterPool | None, ...] = tuple(
            _tail_pool(graph, k, workers) for k in range(self.num_ops + 1)
        )
        self.edge_op_s = profile_ops(graph)
        # Suffix sums: the profiled time of the tail of every cut.
        self.tail_profile_s = np.concatenate((np.cumsum(self.edge_op_s[::-1])[::-1], [0.0]))

    def edge_op_seconds(self, cut: int, tail_s: float) -> dict[int, float]:
        """One measured tail time spread over ops [cut, N) by their profiled shares (the
        planner's own rule, so live and virtual runs spread alike; a blocked span's even
        shares are right here, as the edge only ever runs whole spans)."""
        return spread_tail_s(self.edge_op_s.tolist(), cut, tail_s)


def _spec(tensors: tuple[TensorInfo, ...]) -> CrossingSpec:
    return CrossingSpec(
        names=tuple(t.name for t in tensors),
        shapes=tuple(t.shape for t in tensors),
        dtypes=tuple(np.dtype(t.dtype) for t in tensors),
    )


def _tail_pool(graph: ModelGraph, cut: int, workers: int) -> InterpreterPool | None:
    if cut >= graph.num_ops or not graph.cut(cut).splittable:
        return None
    tail = split_model(graph, cut).tail
    return None if tail is None else InterpreterPool(tail, workers)


def profile_ops(graph: ModelGraph, runs: int = PROFILE_RUNS) -> np.ndarray:
    """Median per-op seconds of the whole model over a few runs on zero inputs."""
    bounds = [k for k in range(graph.num_ops + 1) if graph.cut(k).splittable]
    if len(bounds) < graph.num_ops + 1:
        return _profile_spans(graph, bounds, runs)
    profiler = OpProfiler(graph)
    inputs = {t.name: np.zeros(t.shape, dtype=t.dtype) for t in graph.inputs}
    samples = [profiler.run(inputs)[1] for _ in range(runs)]
    return np.array([statistics.median(op) for op in zip(*samples, strict=True)])


def _profile_spans(graph: ModelGraph, bounds: list[int], runs: int) -> np.ndarray:
    """With blocked cuts the ops between two splittable cuts cannot be timed one by one (a
    resource variable, or halves that failed the run check): each such span is timed as one
    segment and its time shared evenly by its ops. The edge only ever runs whole spans, so
    the planner's per-op shares stay right where it can act on them."""
    if bounds[0] != 0 or bounds[-1] != graph.num_ops:
        raise ModelError("a model whose edge-only or device-only cut is blocked cannot be served")
    per_op = np.zeros(graph.num_ops)
    for start, stop in itertools.pairwise(bounds):
        specs = graph.inputs if start == 0 else graph.cut(start).tensors
        executor = SegmentExecutor(extract_segment(graph, start, stop))
        inputs = {t.name: np.zeros(t.shape, dtype=t.dtype) for t in specs}
        times_s = []
        for _ in range(runs):
            started_s = time.perf_counter()
            executor.run(inputs)
            times_s.append(time.perf_counter() - started_s)
        per_op[start:stop] = statistics.median(times_s) / (stop - start)
    return per_op


def load_served_model(config: ModelConfig, *, workers: int) -> ServedModel:
    """Load, split and prepare one configured model."""
    if config.demo is not None:
        from sciot.model.zoo import demo_model_path

        source: Path = demo_model_path(config.demo)
    else:
        assert config.path is not None
        source = config.path
    graph = load_model(source)
    if graph.num_ops < 1:
        raise ModelError(f"model {config.label} has no operators to split")
    # Only cuts whose halves really run and chain bit-exactly get a tail and reach the
    # planner's candidates: the static analysis alone cannot promise that.
    graph = verify_cuts(graph)
    return ServedModel(graph, label=config.label, workers=workers)
