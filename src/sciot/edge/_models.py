"""The models an edge serves, with every tail prepared before the first request arrives.

For a model with N ops the edge may be asked to run the tail of any cut k < N, so at startup it
splits the model at every cut and builds an :class:`~sciot.runtime.InterpreterPool` per tail,
as large as the number of tail workers (a worker never waits for an interpreter). It also
profiles the whole model op by op once: the per-op shares let one measured tail time be spread
over the ops it covered, which is what the planner's per-op edge estimators consume.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sciot.edge._config import ModelConfig
from sciot.errors import ModelError
from sciot.model import ModelGraph, TensorInfo, load_model, split_model
from sciot.runtime import InterpreterPool, OpProfiler

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
        self.crossing = tuple(_spec(graph.cut(k).tensors) for k in range(self.num_ops + 1))
        self.crossing_bytes = tuple(graph.cut(k).crossing_bytes for k in range(self.num_ops + 1))
        self.result_bytes = sum(t.nbytes for t in graph.outputs)
        self.tails: tuple[InterpreterPool | None, ...] = tuple(
            _tail_pool(graph, k, workers) for k in range(self.num_ops + 1)
        )
        self.edge_op_s = profile_ops(graph)
        # Suffix sums: the profiled time of the tail of every cut.
        self.tail_profile_s = np.concatenate((np.cumsum(self.edge_op_s[::-1])[::-1], [0.0]))

    def edge_op_seconds(self, cut: int, tail_s: float) -> dict[int, float]:
        """One measured tail time spread over ops [cut, N) by their profiled shares."""
        profiled = float(self.tail_profile_s[cut])
        if cut >= self.num_ops or profiled <= 0.0:
            return {}
        scale = tail_s / profiled
        return {op: float(self.edge_op_s[op]) * scale for op in range(cut, self.num_ops)}


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
    profiler = OpProfiler(graph)
    inputs = {t.name: np.zeros(t.shape, dtype=t.dtype) for t in graph.inputs}
    samples = [profiler.run(inputs)[1] for _ in range(runs)]
    return np.array([statistics.median(op) for op in zip(*samples, strict=True)])


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
    return ServedModel(graph, label=config.label, workers=workers)
