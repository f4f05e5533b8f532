"""Value types that describe a TFLite model's graph: tensors, operators, cuts and splits.

They are what the rest of sciot sees of a model: the planner reasons about ``Cut`` sizes, the
runtime reports ``TensorInfo`` for its inputs and outputs, the edge ships ``SplitModel`` halves.
All are frozen so they can be shared between threads and cached without defensive copies.
"""

from __future__ import annotations

from dataclasses import dataclass

from sciot.errors import ModelError


@dataclass(frozen=True, slots=True, kw_only=True)
class TensorInfo:
    """One tensor as a peer must know it to send or receive it: name, layout, quantisation.

    ``scale`` and ``zero_point`` are empty for float tensors, one value each for per-tensor
    quantisation and one per channel (along ``quantized_dimension``) for per-channel.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    nbytes: int
    scale: tuple[float, ...] = ()
    zero_point: tuple[int, ...] = ()
    quantized_dimension: int = 0

    def __post_init__(self) -> None:
        if any(d < 0 for d in self.shape):
            raise ModelError(f"tensor {self.name!r} has a negative dimension in {self.shape}")
        if self.nbytes < 0:
            raise ModelError(f"tensor {self.name!r} has negative size {self.nbytes}")
        if len(self.scale) != len(self.zero_point):
            raise ModelError(
                f"tensor {self.name!r} has {len(self.scale)} scales but "
                f"{len(self.zero_point)} zero points"
            )

    @property
    def is_quantized(self) -> bool:
        return bool(self.scale)


@dataclass(frozen=True, slots=True, kw_only=True)
class OpInfo:
    """One operator of the main subgraph, in stored (topological) order.

    ``name`` is the name of its first output tensor: TFLite operators carry no name of their
    own, and the converter names outputs after the layers that produced them. ``macs`` is an
    estimate (multiply-accumulates, or one per output element for element-wise ops) used to
    seed the planner's per-op time estimates before anything is measured.
    """

    index: int
    op_type: str
    name: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    macs: int
    calls_subgraphs: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Cut:
    """Cut k: the device runs ops [0, k), the edge runs [k, N); ``tensors`` cross between them.

    ``blocked_reason`` is set when the model cannot be split here (for example a resource
    handle or a stateful variable would have to live on both sides); such a cut still exists
    so indices stay dense, but :func:`~sciot.model.split_model` refuses it with that reason.
    """

    index: int
    tensors: tuple[TensorInfo, ...]
    crossing_bytes: int
    blocked_reason: str | None = None

    def __post_init__(self) -> None:
        if self.index < 0:
            raise ModelError(f"cut index must be >= 0, got {self.index}")
        if self.crossing_bytes != sum(t.nbytes for t in self.tensors):
            raise ModelError(f"cut {self.index}: crossing_bytes does not match its tensors")

    @property
    def splittable(self) -> bool:
        return self.blocked_reason is None

    @property
    def tensor_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tensors)


@dataclass(frozen=True, slots=True, kw_only=True)
class SplitModel:
    """The two halves of a model at one cut, as serialised ``.tflite`` flatbuffers.

    ``head`` is ``None`` at cut 0 (edge-only) and ``tail`` is ``None`` at cut N (device-only).
    The head's outputs and the tail's inputs are the cut's tensors, by name.
    """

    cut: Cut
    head: bytes | None
    tail: bytes | None
