"""Multiply-accumulate estimates per operator, from tensor shapes alone.

The planner needs a per-op cost before it has measured anything (and to extrapolate between
measured devices); MACs are the usual proxy. Convolutions and matrix products count their
multiply-accumulates; element-wise ops count one per output element, pooling and reductions
one per input element; pure data movement (reshape, concatenation, padding...) counts zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sciot.model._types import TensorInfo

_DATA_MOVEMENT = frozenset(
    {
        "RESHAPE",
        "SQUEEZE",
        "EXPAND_DIMS",
        "CONCATENATION",
        "PAD",
        "PADV2",
        "MIRROR_PAD",
        "TRANSPOSE",
        "GATHER",
        "SLICE",
        "STRIDED_SLICE",
        "SPLIT",
        "SPLIT_V",
        "PACK",
        "UNPACK",
        "SHAPE",
        "QUANTIZE",
        "DEQUANTIZE",
        "CAST",
        "WHILE",
        "IF",
        "CALL_ONCE",
    }
)


def _elements(t: TensorInfo) -> int:
    return math.prod(t.shape) if t.shape else 1


def estimate_macs(op_type: str, inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo]) -> int:
    """Estimated multiply-accumulates of one op; 0 when it moves data only."""
    if not outputs:
        return 0
    out = _elements(outputs[0])
    weights = inputs[1] if len(inputs) > 1 else None
    if op_type in _DATA_MOVEMENT:
        return 0
    if op_type == "CONV_2D" and weights is not None and len(weights.shape) == 4:
        _, kh, kw, cin = weights.shape
        return out * kh * kw * cin
    if op_type == "DEPTHWISE_CONV_2D" and weights is not None and len(weights.shape) == 4:
        return out * weights.shape[1] * weights.shape[2]
    if op_type == "TRANSPOSE_CONV" and len(inputs) > 2 and len(inputs[1].shape) == 4:
        cout, kh, kw, _ = inputs[1].shape
        return _elements(inputs[2]) * kh * kw * cout
    if op_type == "FULLY_CONNECTED" and weights is not None and weights.shape:
        return out * weights.shape[-1]
    if op_type == "BATCH_MATMUL" and inputs and inputs[0].shape:
        return out * inputs[0].shape[-1]
    if op_type in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "MEAN", "SUM") and inputs:
        return max(_elements(inputs[0]), out)
    return out
