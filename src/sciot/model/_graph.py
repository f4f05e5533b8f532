"""Graph analysis of a TFLite model: its operators, tensors and every cut between operators.

:func:`load_model` reads a ``.tflite`` flatbuffer (no TensorFlow) and returns a
:class:`ModelGraph`: the main subgraph's operators in stored order (which the converter keeps
topological), with shapes, sizes and MAC estimates, and for every cut k (device runs ops
[0, k)) the live tensors that would cross between device and edge. Residual and multi-branch
graphs cross several tensors at a cut; a model output produced early crosses every later cut,
because it must still reach the final outputs. Ops that only compute weights from constants
(``DEQUANTIZE`` of float16 weights, ``DENSIFY``...) are folded into the ops that read them and
are no cut points (see ``_fold``). Splitting itself lives in ``_split``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sciot.errors import ModelError
from sciot.model import _flatbuffer as fb
from sciot.model._fold import FoldPlan, plan_folding
from sciot.model._macs import estimate_macs
from sciot.model._types import Cut, OpInfo, TensorInfo

# Ops that create or touch resource variables: their state cannot be split across two
# interpreters, so a cut with such ops on both sides is blocked.
_RESOURCE_OPS = frozenset({"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelGraph:
    """A parsed TFLite model and its cuts; immutable and safe to share between threads.

    ``ops`` are the activation ops (those whose result depends on the model's inputs), which
    are what the planner places; ``folded_ops`` are the constant-derived ops each segment
    carries along, their ``index`` being their position among the stored operators.
    ``cuts`` has ``num_ops + 1`` entries and ``cuts[k].index == k``. ``model_id`` (first 16
    hex digits of the SHA-256 of the bytes) names the model on the wire and in caches.
    """

    model_bytes: bytes
    model_id: str
    ops: tuple[OpInfo, ...]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    cuts: tuple[Cut, ...]
    subgraph_count: int
    folded_ops: tuple[OpInfo, ...] = ()
    # Parsed flatbuffer and per-cut tensor indices, for splitting without re-parsing.
    _model: Any = field(default=None, repr=False, compare=False)
    _input_ids: tuple[int, ...] = field(default=(), repr=False, compare=False)
    _output_ids: tuple[int, ...] = field(default=(), repr=False, compare=False)
    _cut_ids: tuple[tuple[int, ...], ...] = field(default=(), repr=False, compare=False)
    _fold: FoldPlan | None = field(default=None, repr=False, compare=False)

    @property
    def num_ops(self) -> int:
        return len(self.ops)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.outputs)

    @property
    def total_macs(self) -> int:
        return sum(op.macs for op in self.ops)

    @property
    def calls_subgraphs(self) -> bool:
        """True when some top-level op runs another subgraph (WHILE, IF...)."""
        return any(op.calls_subgraphs for op in self.ops)

    def segment_op_ids(self, start: int, stop: int) -> list[int]:
        """Stored operator indices a segment of ops [start, stop) runs, folded ops first."""
        if self._fold is None:
            return list(range(start, stop))
        return self._fold.segment(start, stop)

    def stored_index(self, k: int) -> int:
        """Position of activation op k among the flatbuffer's stored operators."""
        return k if self._fold is None else self._fold.activation[k]

    def with_excluded(self, reasons: dict[int, str]) -> ModelGraph:
        """This graph with the given cuts blocked for the given reasons (others unchanged).

        Used once a check has run the cuts: a cut LiteRT cannot run, or that does not chain
        bit-exactly, stays in ``cuts`` (indices stay dense) but is no longer splittable.
        """
        cuts = tuple(
            replace(cut, blocked_reason=reasons[cut.index])
            if cut.index in reasons and cut.blocked_reason is None
            else cut
            for cut in self.cuts
        )
        return replace(self, cuts=cuts)

    def cut(self, k: int) -> Cut:
        if not 0 <= k <= self.num_ops:
            raise ModelError(
                f"cut {k} does not exist: this model has {self.num_ops} ops, "
                f"so cuts run from 0 to {self.num_ops}"
            )
        return self.cuts[k]


def load_model(source: str | Path | bytes | bytearray | memoryview) -> ModelGraph:
    """Read and analyse a ``.tflite`` model from a path or from its bytes."""
    data = _read_source(source)
    try:
        model = fb.parse_model(data)
    except ModelError as exc:
        if isinstance(source, bytes | bytearray | memoryview):
            raise
        raise ModelError(f"{source}: {exc}") from exc
    return _analyse(data, model)


def _read_source(source: str | Path | bytes | bytearray | memoryview) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        label = "model bytes"
    else:
        path = Path(source)
        label = str(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise ModelError(f"model file not found: {path}") from exc
        except IsADirectoryError as exc:
            raise ModelError(f"{path} is a directory, expected a .tflite file") from exc
        except OSError as exc:
            raise ModelError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    if data.startswith(b"\x89HDF") or data.startswith(b"PK\x03\x04"):
        raise ModelError(
            f"{label} looks like a Keras model, not TFLite; convert it first (sciot model convert)"
        )
    return data


def tensor_info(tensor: Any) -> TensorInfo:
    """Describe a schema tensor the way peers exchange it."""
    dtype, itemsize = fb.dtype_of(tensor)
    shape = tuple(int(d) for d in (tensor.shape if tensor.shape is not None else ()))
    nbytes = math.ceil(math.prod(shape) * itemsize) if all(d >= 0 for d in shape) else 0
    scale: tuple[float, ...] = ()
    zero_point: tuple[int, ...] = ()
    axis = 0
    q = tensor.quantization
    if q is not None and q.scale is not None and len(q.scale) > 0:
        scale = tuple(float(s) for s in q.scale)
        zps = q.zeroPoint if q.zeroPoint is not None else [0] * len(scale)
        zero_point = tuple(int(z) for z in zps)
        axis = int(q.quantizedDimension)
    return TensorInfo(
        name=fb.tensor_name(tensor),
        shape=tuple(max(d, 0) for d in shape),
        dtype=dtype,
        nbytes=nbytes,
        scale=scale,
        zero_point=zero_point,
        quantized_dimension=axis,
    )


def _analyse(data: bytes, model: Any) -> ModelGraph:
    sg = model.subgraphs[0]
    tensors = sg.tensors or []
    infos = [tensor_info(t) for t in tensors]
    stored = list(sg.operators or [])
    stored_types = [fb.op_type_name(model, op) for op in stored]
    _refuse_custom_ops(stored_types)
    input_ids = tuple(int(i) for i in sg.inputs or [])
    output_ids = tuple(int(i) for i in sg.outputs or [])
    _check_topological(stored, tensors)
    fold = plan_folding(stored, stored_types, tensors, input_ids, output_ids)
    operators = [stored[i] for i in fold.activation]
    op_types = [stored_types[i] for i in fold.activation]
    ops = tuple(_op_info(k, op, op_types[k], infos) for k, op in enumerate(operators))
    folded_ops = tuple(_op_info(i, stored[i], stored_types[i], infos) for i in fold.folded)
    cut_ids = _crossing_ids(operators, input_ids, output_ids)
    blocked = _blocked_reasons(operators, op_types, tensors, cut_ids)
    cuts = tuple(
        Cut(
            index=k,
            tensors=tuple(infos[i] for i in ids),
            crossing_bytes=sum(infos[i].nbytes for i in ids),
            blocked_reason=blocked[k],
        )
        for k, ids in enumerate(cut_ids)
    )
    return ModelGraph(
        model_bytes=data,
        model_id=hashlib.sha256(data).hexdigest()[:16],
        ops=ops,
        inputs=tuple(infos[i] for i in input_ids),
        outputs=tuple(infos[i] for i in output_ids),
        cuts=cuts,
        subgraph_count=len(model.subgraphs),
        folded_ops=folded_ops,
        _model=model,
        _input_ids=input_ids,
        _output_ids=output_ids,
        _cut_ids=cut_ids,
        _fold=fold,
    )


def _refuse_custom_ops(op_types: Sequence[str]) -> None:
    """A custom op needs a kernel LiteRT does not have, so no part of the model could run."""
    for k, name in enumerate(op_types):
        if name.startswith("CUSTOM:"):
            raise ModelError(
                f"op {k} is the custom op {name.removeprefix('CUSTOM:')!r}, which LiteRT cannot "
                "run; re-export the model with builtin ops only"
            )


def _op_info(index: int, op: Any, op_type: str, infos: Sequence[TensorInfo]) -> OpInfo:
    ins = tuple(infos[int(i)] for i in op.inputs or [] if int(i) >= 0)
    outs = tuple(infos[int(i)] for i in op.outputs or [] if int(i) >= 0)
    return OpInfo(
        index=index,
        op_type=op_type,
        name=outs[0].name if outs else f"op{index}",
        inputs=ins,
        outputs=outs,
        macs=estimate_macs(op_type, ins, outs),
        calls_subgraphs=fb.subgraph_refs(op),
    )


def _check_topological(operators: Sequence[Any], tensors: Sequence[Any]) -> None:
    """Cuts are only meaningful if no op reads a tensor a later op produces."""
    producer = {int(t): k for k, op in enumerate(operators) for t in op.outputs or []}
    for k, op in enumerate(operators):
        for t in (int(i) for i in op.inputs or []):
            if producer.get(t, -1) >= k:
                raise ModelError(
                    f"op {k} reads tensor {fb.tensor_name(tensors[t])!r} before op "
                    f"{producer[t]} produces it; the operators are not in execution order"
                )


def _crossing_ids(
    operators: Sequence[Any],
    input_ids: Sequence[int],
    output_ids: Sequence[int],
) -> tuple[tuple[int, ...], ...]:
    """Live tensors at every cut: available before it and still needed at or after it.

    A tensor is available from cut 0 if it is a model input (or a constant model output),
    else from the cut after its producer; it is needed until its last reader, or to the end
    if it is a model output. Order: model inputs first, then by producer and output slot, so
    head outputs and tail inputs line up the same way every time.
    """
    n = len(operators)
    avail: dict[int, int] = {}
    order: dict[int, tuple[int, int]] = {}
    for pos, t in enumerate(input_ids):
        avail[t] = 0
        order[t] = (-1, pos)
    for k, op in enumerate(operators):
        for pos, t in enumerate(int(i) for i in op.outputs or []):
            if t >= 0 and t not in avail:
                avail[t] = k + 1
                order[t] = (k, pos)
    last: dict[int, int] = {t: 0 for t in input_ids}
    for k, op in enumerate(operators):
        for t in (int(i) for i in op.inputs or []):
            if t in avail:
                last[t] = k
    for pos, t in enumerate(output_ids):
        if t not in avail:  # a constant output: it can be sent from anywhere
            avail[t] = 0
            order[t] = (-1, len(input_ids) + pos)
        last[t] = n
    live: list[list[int]] = [[] for _ in range(n + 1)]
    for t, start in avail.items():
        for k in range(start, last.get(t, -1) + 1):
            live[k].append(t)
    return tuple(tuple(sorted(ids, key=order.__getitem__)) for ids in live)


def _blocked_reasons(
    operators: Sequence[Any],
    op_types: Sequence[str],
    tensors: Sequence[Any],
    cut_ids: Sequence[Sequence[int]],
) -> list[str | None]:
    n = len(operators)
    reasons: list[str | None] = [None] * (n + 1)
    variable_users: dict[int, list[int]] = {}
    for k, op in enumerate(operators):
        for t in (int(i) for i in op.inputs or []):
            if t >= 0 and tensors[t].isVariable:
                variable_users.setdefault(t, []).append(k)
    resource_ops = [k for k, name in enumerate(op_types) if name in _RESOURCE_OPS]
    for k in range(1, n):
        for t in cut_ids[k]:
            dtype, _ = fb.dtype_of(tensors[t])
            if dtype in fb.NOT_TRANSFERABLE_DTYPES:
                reasons[k] = (
                    f"tensor {fb.tensor_name(tensors[t])!r} is a {dtype} handle, "
                    "which cannot be sent between device and edge"
                )
                break
        if reasons[k] is not None:
            continue
        for t, users in variable_users.items():
            if min(users) < k <= max(users):
                reasons[k] = (
                    f"stateful variable {fb.tensor_name(tensors[t])!r} is used on both "
                    "sides of the cut"
                )
                break
        if reasons[k] is None and resource_ops and resource_ops[0] < k <= resource_ops[-1]:
            reasons[k] = "resource variables would be split between device and edge"
    return reasons
