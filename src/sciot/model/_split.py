"""Cutting a model into a head and a tail (or any op range) as standalone flatbuffers.

A segment keeps the main subgraph's ops [start, stop) unchanged (plus the folded,
constant-derived ops they read, ahead of them), takes the tensors crossing
into it as subgraph inputs and gives the tensors crossing out of it as subgraph outputs, by
their original names. Everything else is pruned: tensors no kept op touches, constant buffers
only the other side uses, operator codes, and subgraphs no kept op calls (WHILE / IF bodies
are carried along, renumbered). Ops and their options are copied as they are, which is why a
head chained into a tail reproduces the full model bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sciot.errors import ModelError
from sciot.model import _flatbuffer as fb
from sciot.model._graph import ModelGraph
from sciot.model._types import SplitModel


def split_model(graph: ModelGraph, k: int) -> SplitModel:
    """Split at cut k: the head runs ops [0, k) on the device, the tail [k, N) on the edge."""
    cut = graph.cut(k)
    if cut.blocked_reason is not None:
        raise ModelError(f"cannot split at cut {k}: {cut.blocked_reason}")
    n = graph.num_ops
    crossing = graph._cut_ids[k]
    head = None if k == 0 else build_segment(graph, 0, k, graph._input_ids, crossing)
    tail = None if k == n else build_segment(graph, k, n, crossing, graph._output_ids)
    return SplitModel(cut=cut, head=head, tail=tail)


def split_all(graph: ModelGraph) -> Iterator[SplitModel]:
    """Every splittable cut, 0 to N, in order (blocked cuts are skipped)."""
    for cut in graph.cuts:
        if cut.splittable:
            yield split_model(graph, cut.index)


def extract_segment(graph: ModelGraph, start: int, stop: int) -> bytes:
    """Ops [start, stop) as a model whose inputs are cut ``start``'s tensors and outputs
    cut ``stop``'s, so consecutive segments chain by tensor name."""
    n = graph.num_ops
    if not 0 <= start < stop <= n:
        raise ModelError(f"op range [{start}, {stop}) is empty or outside [0, {n}]")
    for k in (start, stop):
        reason = graph.cut(k).blocked_reason
        if reason is not None:
            raise ModelError(f"cannot cut the model at {k}: {reason}")
    inputs = graph._input_ids if start == 0 else graph._cut_ids[start]
    outputs = graph._output_ids if stop == n else graph._cut_ids[stop]
    return build_segment(graph, start, stop, inputs, outputs)


def extract_op(graph: ModelGraph, index: int) -> tuple[bytes, tuple[str, ...], tuple[str, ...]]:
    """One op as a model reading its non-constant inputs and writing all its outputs.

    Returns the model bytes and its input and output tensor names. Used to time ops one by
    one, since LiteRT's Python API has no per-op timer.
    """
    if not 0 <= index < graph.num_ops:
        raise ModelError(f"op {index} does not exist: this model has ops 0 to {graph.num_ops - 1}")
    model = graph._model
    op = model.subgraphs[0].operators[graph.stored_index(index)]
    carried = _carried_ids(graph)
    ins = _unique(int(i) for i in op.inputs or [] if int(i) >= 0 and int(i) not in carried)
    outs = _unique(int(i) for i in op.outputs or [] if int(i) >= 0)
    data = build_segment(graph, index, index + 1, ins, outs)
    tensors = model.subgraphs[0].tensors
    return (
        data,
        tuple(fb.tensor_name(tensors[i]) for i in ins),
        tuple(fb.tensor_name(tensors[i]) for i in outs),
    )


def _carried_ids(graph: ModelGraph) -> frozenset[int]:
    """Tensors no activation op produces and no input provides: weights (expanded by folded
    ops or stored as they are), constants, variables."""
    sg = graph._model.subgraphs[0]
    produced = {
        int(i)
        for k in range(graph.num_ops)
        for i in sg.operators[graph.stored_index(k)].outputs or []
    }
    produced.update(int(i) for i in sg.inputs or [])
    return frozenset(range(len(sg.tensors or []))) - produced


def _unique(ids: Iterator[int] | Sequence[int]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(ids))


def build_segment(
    graph: ModelGraph,
    start: int,
    stop: int,
    input_ids: Sequence[int],
    output_ids: Sequence[int],
) -> bytes:
    """Serialise main-subgraph ops [start, stop) with the given subgraph inputs and outputs."""
    model = graph._model
    sg = model.subgraphs[0]
    names = [fb.tensor_name(sg.tensors[i]) for i in output_ids]
    if len(set(names)) != len(names):
        raise ModelError(
            f"cannot split at cut {stop}: crossing tensors share a name ({names}), "
            "so the halves could not be connected by name"
        )
    ops = [fb.shallow_copy(sg.operators[i]) for i in graph.segment_op_ids(start, stop)]
    called = _reachable_subgraphs(model, ops)
    new_subgraph = {old: new for new, old in enumerate([0, *called])}
    codes: dict[int, int] = {}
    buffers: dict[int, int] = {0: 0}
    new_model = fb.shallow_copy(model)
    main = _rebuild_subgraph(sg, ops, input_ids, output_ids, codes, buffers, new_subgraph)
    others = [
        _rebuild_subgraph(
            model.subgraphs[old],
            [fb.shallow_copy(op) for op in model.subgraphs[old].operators or []],
            model.subgraphs[old].inputs or [],
            model.subgraphs[old].outputs or [],
            codes,
            buffers,
            new_subgraph,
        )
        for old in called
    ]
    new_model.subgraphs = [main, *others]
    new_model.operatorCodes = [model.operatorCodes[old] for old in codes]
    new_model.signatureDefs = None
    new_model.metadata = _remap_metadata(model, buffers)
    new_model.buffers = [fb.new_buffer()] + [model.buffers[old] for old in list(buffers)[1:]]
    return fb.serialize_model(new_model)


def _reachable_subgraphs(model: Any, ops: Sequence[Any]) -> list[int]:
    """Subgraphs the kept ops call, directly or through other subgraphs, in index order."""
    seen: set[int] = set()
    stack = [ref for op in ops for ref in fb.subgraph_refs(op)]
    while stack:
        index = stack.pop()
        if index == 0:
            raise ModelError("the model's main subgraph calls itself; it cannot be split")
        if index in seen:
            continue
        seen.add(index)
        stack.extend(
            ref for op in model.subgraphs[index].operators or [] for ref in fb.subgraph_refs(op)
        )
    return sorted(seen)


def _rebuild_subgraph(
    sg: Any,
    ops: Sequence[Any],
    input_ids: Sequence[int],
    output_ids: Sequence[int],
    codes: dict[int, int],
    buffers: dict[int, int],
    new_subgraph: dict[int, int],
) -> Any:
    """Copy a subgraph keeping only what ``ops`` and the given inputs/outputs touch.

    ``codes`` and ``buffers`` map old to new operator-code and buffer indices; they are shared
    between the subgraphs of one new model and grow as this function meets new ones.
    """
    used: dict[int, None] = dict.fromkeys(int(i) for i in input_ids)
    for op in ops:
        used.update(dict.fromkeys(int(i) for i in op.inputs or [] if int(i) >= 0))
        used.update(dict.fromkeys(int(i) for i in op.outputs or [] if int(i) >= 0))
        used.update(dict.fromkeys(int(i) for i in op.intermediates or [] if int(i) >= 0))
    used.update(dict.fromkeys(int(i) for i in output_ids))
    inputs = set(int(i) for i in input_ids)
    new_id = {old: new for new, old in enumerate(sorted(used))}
    tensors = []
    for old in sorted(used):
        tensor = fb.shallow_copy(sg.tensors[old])
        old_buffer = 0 if old in inputs else int(tensor.buffer)
        if old_buffer not in buffers:
            buffers[old_buffer] = len(buffers)
        tensor.buffer = buffers[old_buffer]
        tensors.append(tensor)
    for op in ops:
        op.inputs = [new_id[int(i)] if int(i) >= 0 else -1 for i in op.inputs or []]
        op.outputs = [new_id[int(i)] for i in op.outputs or []]
        if op.intermediates:
            op.intermediates = [new_id[int(i)] for i in op.intermediates]
        if op.opcodeIndex not in codes:
            codes[op.opcodeIndex] = len(codes)
        op.opcodeIndex = codes[op.opcodeIndex]
        fb.remap_subgraph_refs(op, new_subgraph)
    new = fb.shallow_copy(sg)
    new.tensors = tensors
    new.operators = list(ops)
    new.inputs = [new_id[int(i)] for i in input_ids]
    new.outputs = [new_id[int(i)] for i in output_ids]
    return new


def _remap_metadata(model: Any, buffers: dict[int, int]) -> list[Any] | None:
    if not model.metadata:
        return None
    kept = []
    for entry in model.metadata:
        clone = fb.shallow_copy(entry)
        if int(entry.buffer) not in buffers:
            buffers[int(entry.buffer)] = len(buffers)
        clone.buffer = buffers[int(entry.buffer)]
        kept.append(clone)
    return kept
