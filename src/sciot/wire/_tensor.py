"""Tensors as they cross the wire: name, dtype, shape, quantisation parameters and raw bytes.

A :class:`Tensor` pairs a name (the crossing tensor's name in the model) with a numpy array and
the model's per-tensor quantisation parameters. How a tensor is *carried* (as is, as int8
activations, zlib-compressed) is chosen at encode time by a :class:`TensorEncoding`; the
receiver always gets back an array of the logical dtype, so the tail never needs to know how
its input travelled.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sciot.errors import LocalProtocolError

# dtype <-> one-byte wire code. The codes are part of the wire format (docs/wire.md).
DTYPE_CODES: dict[str, int] = {
    "float32": 1,
    "int8": 2,
    "uint8": 3,
    "int16": 4,
    "int32": 5,
    "int64": 6,
    "float16": 7,
    "bool": 8,
    "float64": 9,
}
CODE_DTYPES: dict[int, np.dtype[np.generic]] = {
    code: np.dtype(name).newbyteorder("<") for name, code in DTYPE_CODES.items()
}
# Keyed by dtype object (both byte orders): dtype.name is a slow property on the hot path.
CODE_OF_DTYPE: dict[np.dtype[np.generic], int] = {
    np.dtype(name).newbyteorder(order): code
    for name, code in DTYPE_CODES.items()
    for order in ("<", ">")
}
MAX_NDIM = 8
MAX_NAME_BYTES = 4096


class TensorEncoding(enum.Enum):
    """How float tensors travel: as is, or as int8 activations; optionally zlib-compressed."""

    RAW = "raw"
    INT8 = "int8"
    RAW_ZLIB = "raw+zlib"
    INT8_ZLIB = "int8+zlib"

    @property
    def quantised(self) -> bool:
        return self in (TensorEncoding.INT8, TensorEncoding.INT8_ZLIB)

    @property
    def compressed(self) -> bool:
        return self in (TensorEncoding.RAW_ZLIB, TensorEncoding.INT8_ZLIB)

    @classmethod
    def parse(cls, text: str) -> TensorEncoding:
        """Read an encoding from config text, naming the valid choices when it is wrong."""
        try:
            return cls(text)
        except ValueError:
            choices = ", ".join(e.value for e in cls)
            raise LocalProtocolError(
                f"unknown tensor encoding {text!r}; choose one of: {choices}"
            ) from None


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Tensor:
    """A named array plus the model's per-tensor quantisation parameters.

    ``scale``/``zero_point`` describe natively quantised model tensors (int8 models); they are
    carried unchanged. Equality compares name, dtype, shape, bytes and parameters, because
    numpy's element-wise ``==`` cannot be a dataclass's equality.
    """

    name: str
    array: npt.NDArray[np.generic]
    scale: float = 0.0
    zero_point: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.array, np.ndarray):
            raise LocalProtocolError(
                f"tensor {self.name!r}: array must be a numpy array, got {type(self.array)}"
            )
        if self.array.dtype not in CODE_OF_DTYPE:
            raise LocalProtocolError(
                f"tensor {self.name!r}: dtype {self.array.dtype} cannot be sent; "
                f"supported: {', '.join(DTYPE_CODES)}"
            )
        if self.array.ndim > MAX_NDIM:
            raise LocalProtocolError(
                f"tensor {self.name!r}: {self.array.ndim} dimensions, at most {MAX_NDIM}"
            )
        if len(self.name.encode("utf-8")) > MAX_NAME_BYTES:
            raise LocalProtocolError(
                f"tensor name longer than {MAX_NAME_BYTES} bytes: {self.name[:40]!r}..."
            )

    @property
    def nbytes(self) -> int:
        return int(self.array.nbytes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tensor):
            return NotImplemented
        return (
            self.name == other.name
            and self.array.dtype == other.array.dtype
            and self.array.shape == other.array.shape
            and self.scale == other.scale
            and self.zero_point == other.zero_point
            and np.array_equal(self.array, other.array, equal_nan=self.array.dtype.kind == "f")
        )

    def __hash__(self) -> int:
        return hash((self.name, self.array.dtype.name, self.array.shape))


def quantise_int8(values: npt.NDArray[np.floating]) -> tuple[bytes, float, int]:
    """Affine int8 quantisation with the range widened to include 0 (so 0 stays exact).

    Returns the int8 bytes, the scale and the zero point. Non-finite values cannot be
    represented and are refused rather than silently clipped.
    """
    flat = values.astype(np.float32, copy=False).reshape(-1)
    if flat.size == 0:
        return b"", 1.0, 0
    lo = float(min(flat.min(), 0.0))
    hi = float(max(flat.max(), 0.0))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise LocalProtocolError("cannot int8-quantise a tensor holding NaN or infinity")
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    scale = float(np.float32(scale))
    if scale == 0.0:  # range below float32 resolution
        scale = 1.0
    zero_point = int(np.clip(round(-128.0 - lo / scale), -128, 127))
    q = np.clip(np.rint(flat / np.float32(scale)) + zero_point, -128, 127).astype(np.int8)
    return q.tobytes(), scale, zero_point


def dequantise_int8(payload: bytes, scale: float, zero_point: int) -> npt.NDArray[np.float32]:
    q = np.frombuffer(payload, dtype=np.int8).astype(np.float32)
    return (q - np.float32(zero_point)) * np.float32(scale)
