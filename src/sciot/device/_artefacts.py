"""Everything the device executes, prepared once at start.

A device may be told to use any cut at any time, so it splits the model at every cut that
passes the run check up front and builds one LiteRT executor per head (plus one for the whole
model, the local fallback). Switching cuts later costs a dictionary lookup, never an
interpreter build. Per-op profiling uses one chain of single-op executors shared by every cut
(built on first use): a profiler per cut would hold N(N+1)/2 interpreters (about 110 MB for
FOMO's 25 ops, against 8 MB).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sciot.errors import ConfigError, ExecutionError, SciotError
from sciot.model import ModelGraph, extract_op, load_model, split_model
from sciot.runtime import SegmentExecutor, verify_cuts
from sciot.wire import Tensor


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class HeadRun:
    """The result of running the device's part of the model for one cut."""

    tensors: dict[str, np.ndarray]
    """The crossing tensors of the cut (the raw input at cut 0, the outputs at cut N)."""
    device_s: float
    op_seconds: tuple[float, ...] | None
    """Per-op seconds of ops [0, cut) when this run was profiled."""
    kept: dict[str, np.ndarray] | None = None
    """The crossing tensors of the earlier cut ``run_head`` was asked to keep, which an op by
    op run passes on its way (a probe sent alongside this run)."""


def resolve_model_source(model: str) -> Path:
    """A filesystem path as is; otherwise a shipped demo model name."""
    candidate = Path(model).expanduser()
    if candidate.suffix in (".tflite", ".h5", ".keras") or candidate.exists():
        if not candidate.is_file():
            raise ConfigError(f"model file not found: {candidate}")
        return candidate
    from sciot.model.zoo import demo_model_path

    try:
        return demo_model_path(model)
    except SciotError as exc:
        raise ConfigError(
            f"key 'model': '{model}' is neither a model file nor a shipped demo model ({exc})"
        ) from exc


_VERIFIED_KEEP = 8
_verified: OrderedDict[str, ModelGraph] = OrderedDict()
_verified_lock = threading.Lock()


def verified_graph(graph: ModelGraph) -> ModelGraph:
    """``graph`` with the cuts that fail LiteRT's run check blocked (see
    :func:`~sciot.runtime.verify_cuts`), checked once per model per process: a demo or a
    test fleet builds many devices of one model, and the check runs in one shared worker."""
    with _verified_lock:
        known = _verified.get(graph.model_id)
        if known is not None:
            _verified.move_to_end(graph.model_id)
            return known
        checked = verify_cuts(graph)
        _verified[graph.model_id] = checked
        while len(_verified) > _VERIFIED_KEEP:
            _verified.popitem(last=False)
        return checked


class CutArtefacts:
    """All heads of one model, each with an executor built once."""

    __slots__ = (
        "_chain",
        "_heads",
        "_input_dtype",
        "_input_shape",
        "_quant",
        "full",
        "graph",
        "input_name",
        "output_names",
    )

    def __init__(self, graph: ModelGraph) -> None:
        if len(graph.inputs) != 1:
            raise ConfigError(
                f"the device client needs a single-input model; this one has {len(graph.inputs)}"
            )
        # Heads only for cuts that really run: a cut failing the check is never built.
        graph = verified_graph(graph)
        self.graph = graph
        self.full = SegmentExecutor(graph.model_bytes)
        self.input_name = graph.inputs[0].name
        self._input_shape = tuple(graph.inputs[0].shape)
        self._input_dtype = np.dtype(graph.inputs[0].dtype)
        self.output_names = tuple(self.full.output_names)
        self._heads: dict[int, SegmentExecutor | None] = {}
        for cut in range(graph.num_ops + 1):
            self._heads[cut] = self._build_head(cut)
        self._chain: list[tuple[SegmentExecutor, tuple[str, ...]]] | None = None
        self._quant: dict[int, dict[str, tuple[float, int]]] = {}

    @classmethod
    def from_source(cls, model: str) -> CutArtefacts:
        return cls(load_model(resolve_model_source(model)))

    @property
    def num_ops(self) -> int:
        return self.graph.num_ops

    @property
    def model_id(self) -> str:
        return self.graph.model_id

    def _build_head(self, cut: int) -> SegmentExecutor | None:
        if cut == 0 or not self.graph.cut(cut).splittable:
            return None
        if cut == self.graph.num_ops:
            return self.full
        head = split_model(self.graph, cut).head
        return None if head is None else SegmentExecutor(head)

    def usable(self, cut: int) -> bool:
        """Whether the device can run cut ``cut`` (in range and not blocked)."""
        if not 0 <= cut <= self.graph.num_ops:
            return False
        return cut in (0, self.graph.num_ops) or self._heads[cut] is not None

    def prepare_input(self, data: np.ndarray | Mapping[str, np.ndarray]) -> np.ndarray:
        """Accept a bare array or a one-entry mapping; check shape and dtype early."""
        if isinstance(data, Mapping):
            if set(data) != {self.input_name}:
                raise ExecutionError(f"expected the input '{self.input_name}', got {sorted(data)}")
            data = data[self.input_name]
        spec = self.graph.inputs[0]
        array = np.asarray(data)
        if array.shape != self._input_shape or array.dtype != self._input_dtype:
            raise ExecutionError(
                f"input must have shape {tuple(spec.shape)} and dtype {spec.dtype}, "
                f"got {tuple(array.shape)} {array.dtype}"
            )
        return array

    def run_head(
        self,
        cut: int,
        array: np.ndarray,
        *,
        profile: bool,
        clock: Callable[[], float],
        keep: int | None = None,
    ) -> HeadRun:
        """Run ops [0, cut): timed as a whole, or op by op when ``profile`` is set. ``keep``
        (a cut before ``cut``, with ``profile``): also return that cut's crossing tensors."""
        if keep is not None and not (profile and 0 <= keep < cut):
            raise ExecutionError(
                f"keeping cut {keep}'s tensors needs an op by op run of a later cut, not {cut}"
            )
        if cut == 0:
            return HeadRun(tensors={self.input_name: array}, device_s=0.0, op_seconds=())
        if profile:
            outputs, op_seconds, kept = self._run_chain(cut, array, keep)
            return HeadRun(
                tensors=dict(outputs),
                device_s=float(sum(op_seconds)),
                op_seconds=tuple(op_seconds),
                kept=kept,
            )
        executor = self._heads[cut]
        assert executor is not None
        started_s = clock()
        outputs = executor.run({self.input_name: array})
        return HeadRun(tensors=dict(outputs), device_s=clock() - started_s, op_seconds=None)

    def run_full(self, array: np.ndarray) -> dict[str, np.ndarray]:
        return dict(self.full.run({self.input_name: array}))

    def wire_params(
        self, cut: int, arrays: Mapping[str, np.ndarray]
    ) -> Iterator[tuple[str, np.ndarray, float, int]]:
        """Each array with the model's per-tensor quantisation (scale 0 for float tensors,
        and for per-channel parameters, which only weights carry)."""
        params = self._quant.get(cut)
        if params is None:
            params = {
                info.name: (float(info.scale[0]), int(info.zero_point[0]))
                for info in self.graph.cut(cut).tensors
                if len(info.scale) == 1
            }
            self._quant[cut] = params
        for name, array in arrays.items():
            scale, zero_point = params.get(name, (0.0, 0))
            yield name, array, scale, zero_point

    def wire_tensors(self, cut: int, arrays: Mapping[str, np.ndarray]) -> tuple[Tensor, ...]:
        """The arrays as wire tensors carrying the model's quantisation parameters."""
        return tuple(
            Tensor(name=name, array=array, scale=scale, zero_point=zero_point)
            for name, array, scale, zero_point in self.wire_params(cut, arrays)
        )

    def _run_chain(
        self, cut: int, array: np.ndarray, keep: int | None = None
    ) -> tuple[dict[str, np.ndarray], list[float], dict[str, np.ndarray] | None]:
        """Ops [0, cut) one by one, timing each invoke; returns the cut's crossing tensors,
        the op times and (``keep``) the crossing tensors of cut ``keep``."""
        if self._chain is None:
            self._chain = []
            for index in range(self.graph.num_ops):
                data, in_names, _ = extract_op(self.graph, index)
                self._chain.append((SegmentExecutor(data), in_names))
        live: dict[str, np.ndarray] = {self.input_name: array}
        op_seconds: list[float] = []
        kept: dict[str, np.ndarray] | None = None
        for index, (executor, in_names) in enumerate(self._chain[:cut]):
            if index == keep:
                kept = {name: live[name] for name in self._crossing_names(index)}
            executor.set_inputs({name: live[name] for name in in_names})
            started_s = time.perf_counter()
            executor.invoke()
            op_seconds.append(time.perf_counter() - started_s)
            live.update(executor.get_outputs())
        return {name: live[name] for name in self._crossing_names(cut)}, op_seconds, kept

    def _crossing_names(self, cut: int) -> tuple[str, ...]:
        if cut == self.graph.num_ops:
            return self.output_names
        return self.graph.cut(cut).tensor_names


__all__ = ["CutArtefacts", "HeadRun", "resolve_model_source"]
