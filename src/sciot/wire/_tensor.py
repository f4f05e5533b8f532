"""Tensors as they cross the wire: name, dtype, shape, quantisation parameters and raw bytes.

A :class:`Tensor` pairs a name (the crossing tensor's name in the model) with a numpy array and
the model's per-tensor quantisation parameters. How a tensor is *carried* (as is, as int8
activations, zlib-compressed) is chosen at encode time by a :class:`TensorEncoding`; the
receiver always gets back an array of the logical dtype, so the tail never needs to know how
its input travelled.
"""

from __future__ import annotations

import enum
import math
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
# Zero points an integer model tensor can have; wider dtypes take any i32 (what the wire holds).
_ZERO_POINT_RANGE: dict[str, tuple[int, int]] = {
    "int8": (-128, 127),
    "uint8": (0, 255),
    "int16": (-32768, 32767),
}
_I32_RANGE = (-(2**31), 2**31 - 1)
# int8 carriage restores (q - zero_point) * scale in float32 with |q - zero_point| <= 255, so a
# larger scale could overflow to infinity.
MAX_INT8_SCALE = float(np.finfo(np.float32).max) / 255.0


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
        try:
            name_bytes = len(self.name.encode("utf-8"))
        except UnicodeEncodeError:
            raise LocalProtocolError(f"tensor name {self.name[:40]!r} is not valid text") from None
        if name_bytes > MAX_NAME_BYTES:
            raise LocalProtocolError(
                f"tensor name longer than {MAX_NAME_BYTES} bytes: {self.name[:40]!r}..."
            )
        self._check_quantisation()

    def _check_quantisation(self) -> None:
        """A model's per-tensor parameters: scale >= 0 (0 means "not quantised") and a zero
        point the dtype can hold, so nothing downstream computes with nonsense."""
        scale, zero_point = self.scale, self.zero_point
        if not (math.isfinite(scale) and scale >= 0.0):
            raise LocalProtocolError(
                f"tensor {self.name!r}: quantisation scale must be finite and >= 0, got {scale}"
            )
        lo, hi = _ZERO_POINT_RANGE.get(self.array.dtype.name, _I32_RANGE)
        if not lo <= zero_point <= hi:
            raise LocalProtocolError(
                f"tensor {self.name!r}: zero point {zero_point} outside {lo}..{hi} "
                f"for {self.array.dtype.name}"
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
    if scale > MAX_INT8_SCALE:
        raise LocalProtocolError(
            f"cannot int8-quantise a tensor spanning {lo}..{hi}: too wide for float32 restoring"
        )
    zero_point = int(np.clip(round(-128.0 - lo / scale), -128, 127))
    q = np.clip(np.rint(flat / np.float32(scale)) + zero_point, -128, 127).astype(np.int8)
    return q.tobytes(), scale, zero_point


def check_int8_carriage(scale: float, zero_point: int) -> None:
    """Parameters :func:`quantise_int8` can produce; anything else would restore garbage or
    overflow float32, so a receiver refuses it before dequantising."""
    if not (math.isfinite(scale) and scale <= MAX_INT8_SCALE and np.float32(scale) > 0.0):
        raise LocalProtocolError(
            f"int8 carriage scale must be a positive float32 <= {MAX_INT8_SCALE:.3g}, got {scale}"
        )
    if not -128 <= zero_point <= 127:
        raise LocalProtocolError(f"int8 carriage zero point {zero_point} outside -128..127")


def dequantise_int8(payload: bytes, scale: float, zero_point: int) -> npt.NDArray[np.float32]:
    check_int8_carriage(scale, zero_point)
    q = np.frombuffer(payload, dtype=np.int8).astype(np.float32)
    return (q - np.float32(zero_point)) * np.float32(scale)
