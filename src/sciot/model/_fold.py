"""Finding the ops that compute weights rather than activations, so no cut falls among them.

Published models often store weights compressed (float16, int8 or sparse) and expand them at
run time with ``DEQUANTIZE`` / ``DENSIFY`` ops that the converter places first. Such an op reads
only constants (or outputs of other such ops): whatever the input, it yields the same tensor.
Cutting after it would send a weight across the network and leave a tail whose "input" is a
weight, which LiteRT's delegates cannot plan for. So these ops are *folded*: they are not cut
points and are not counted as the model's ops; each segment carries the ones its ops need,
duplicated into the head and the tail when both consume them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sciot.model import _flatbuffer as fb

# Ops with state or side effects stay where they are even when their inputs are constant.
_NEVER_FOLDED = frozenset(
    {"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE", "WHILE", "IF", "CALL"}
)


@dataclass(frozen=True, slots=True)
class FoldPlan:
    """Which stored ops are activation ops, and which folded ops each of them needs.

    ``activation[k]`` is the stored index of activation op k; ``needs[k]`` the stored indices
    of the folded ops that op k reads, directly or through other folded ops.
    """

    activation: tuple[int, ...]
    folded: tuple[int, ...]
    needs: tuple[frozenset[int], ...]

    def segment(self, start: int, stop: int) -> list[int]:
        """Stored indices of the ops a segment of activation ops [start, stop) must run.

        Folded ops come first, in stored order: they read only constants, so running them
        before every activation op keeps the segment topologically ordered.
        """
        folded: set[int] = set()
        for k in range(start, stop):
            folded |= self.needs[k]
        return sorted(folded) + list(self.activation[start:stop])


def plan_folding(
    operators: Sequence[Any],
    op_types: Sequence[str],
    tensors: Sequence[Any],
    input_ids: Sequence[int],
    output_ids: Sequence[int],
) -> FoldPlan:
    """Split the stored ops into activation ops and constant-derived (folded) ops."""
    producer = {int(t): k for k, op in enumerate(operators) for t in op.outputs or [] if t >= 0}
    graph_inputs = {int(t) for t in input_ids}
    graph_outputs = {int(t) for t in output_ids}
    folded: set[int] = set()
    for k, op in enumerate(operators):
        if _is_constant_derived(k, op, op_types[k], tensors, producer, folded, graph_inputs):
            outs = {int(t) for t in op.outputs or [] if t >= 0}
            if not outs & graph_outputs:
                folded.add(k)
    needs: list[frozenset[int]] = []
    memo: dict[int, frozenset[int]] = {}
    activation = tuple(k for k in range(len(operators)) if k not in folded)
    for k in activation:
        needs.append(_closure(operators[k], producer, folded, operators, memo))
    return FoldPlan(activation=activation, folded=tuple(sorted(folded)), needs=tuple(needs))


def _is_constant_derived(
    k: int,
    op: Any,
    op_type: str,
    tensors: Sequence[Any],
    producer: dict[int, int],
    folded: set[int],
    graph_inputs: set[int],
) -> bool:
    if op_type in _NEVER_FOLDED or fb.subgraph_refs(op):
        return False
    ins = [int(t) for t in op.inputs or [] if t >= 0]
    if not ins or not op.outputs:
        return False
    for t in ins:
        if t in graph_inputs or tensors[t].isVariable:
            return False
        source = producer.get(t)
        if source is not None and source not in folded:
            return False
    return True


def _closure(
    op: Any,
    producer: dict[int, int],
    folded: set[int],
    operators: Sequence[Any],
    memo: dict[int, frozenset[int]],
) -> frozenset[int]:
    """The folded ops ``op`` reads, transitively."""
    found: set[int] = set()
    for t in (int(i) for i in op.inputs or [] if i >= 0):
        source = producer.get(t)
        if source is None or source not in folded:
            continue
        if source not in memo:
            memo[source] = frozenset({source}) | _closure(
                operators[source], producer, folded, operators, memo
            )
        found |= memo[source]
    return frozenset(found)
