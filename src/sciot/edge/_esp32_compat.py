"""The ESP32 seed firmware's raw protocol: a headerless activation in, one ASCII line out.

Those nodes run MobileNetV2 0.35/224 up to ``block_16_project_BN`` and send its output, a
uint8 7x7x112 tensor (5,488 bytes, scale 0.1441399, zero point 121), as raw bytes over TCP;
they read back ``Predictions: Class i (s%), ...`` ending in CRLF. :class:`RawTailAnswerer`
turns one such buffer into that line with a configured tail model, requantising the
activation to whatever input the tail expects. It is sans-I/O: the TCP listener tells raw
buffers from sciot frames by the frame magic and hands the raw ones here.

Class indices are printed as plain decimal integers, so a model with more than 256 classes is
reported correctly (the seed firmware's own uint8 indices wrap).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sciot.errors import ConfigError, ExecutionError
from sciot.model import TensorInfo
from sciot.runtime import SegmentExecutor

SEED_RAW_BYTES = 5488
SEED_SHAPE = (1, 7, 7, 112)
SEED_SCALE = 0.1441399
SEED_ZERO_POINT = 121
SEED_PORT = 4210


@dataclass(frozen=True, slots=True, kw_only=True)
class RawActivation:
    """How the raw bytes are to be read: shape (uint8, C order) and quantisation."""

    shape: tuple[int, ...] = SEED_SHAPE
    scale: float = SEED_SCALE
    zero_point: int = SEED_ZERO_POINT

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape)


class RawTailAnswerer:
    """Runs the tail on one raw activation and formats the top classes as the seed does."""

    def __init__(
        self,
        tail_model: str | Path | bytes,
        *,
        activation: RawActivation | None = None,
        top: int = 3,
    ) -> None:
        self.activation = activation or RawActivation()
        if top < 1:
            raise ConfigError(f"top must be >= 1, got {top}")
        self.top = top
        self._executor = SegmentExecutor(tail_model)
        if len(self._executor.inputs) != 1 or len(self._executor.outputs) != 1:
            raise ConfigError(
                "the ESP32 compatibility tail must have one input and one output, not "
                f"{len(self._executor.inputs)} and {len(self._executor.outputs)}"
            )
        self._input = self._executor.inputs[0]
        self._output = self._executor.outputs[0]
        if math.prod(self._input.shape) != self.activation.nbytes:
            raise ConfigError(
                f"the tail's input {self._input.name} has shape {self._input.shape}, but raw "
                f"activations are {self.activation.shape} ({self.activation.nbytes} bytes)"
            )

    @property
    def raw_bytes(self) -> int:
        return self.activation.nbytes

    def scores(self, raw: bytes) -> np.ndarray:
        """Class probabilities for one raw activation (float64, one per class)."""
        if len(raw) != self.raw_bytes:
            raise ExecutionError(f"expected {self.raw_bytes} raw bytes, got {len(raw)}")
        act = self.activation
        real = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - act.zero_point) * act.scale
        feed = _to_input_dtype(real.reshape(self._input.shape), self._input)
        out = self._executor.run({self._input.name: feed})[self._output.name]
        values = _dequantise(np.asarray(out).reshape(-1), self._output)
        total = float(values.sum())
        if values.min() >= 0.0 and abs(total - 1.0) < 0.02:
            return values
        shifted = np.exp(values - values.max())
        return np.asarray(shifted / shifted.sum())

    def answer(self, raw: bytes) -> bytes:
        """The seed's reply line for one activation, CRLF-terminated ASCII."""
        probs = self.scores(raw)
        order = np.argsort(-probs, kind="stable")[: self.top]
        parts = [f"Class {int(i)} ({probs[i] * 100.0:.2f}%)" for i in order]
        return ("Predictions: " + ", ".join(parts) + "\r\n").encode("ascii")


def _to_input_dtype(real: np.ndarray, info: TensorInfo) -> np.ndarray:
    dtype = np.dtype(info.dtype)
    scale, zero = info.scale, info.zero_point
    if dtype == np.float32:
        return real.astype(np.float32)
    if not scale:
        raise ConfigError(f"the tail's {dtype.name} input has no quantisation parameters")
    limits = np.iinfo(dtype)
    q: np.ndarray = np.clip(np.rint(real / scale[0]) + zero[0], limits.min, limits.max)
    return q.astype(dtype)


def _dequantise(values: np.ndarray, info: TensorInfo) -> np.ndarray:
    scale, zero = info.scale, info.zero_point
    if values.dtype.kind in "iu" and scale:
        return (values.astype(np.float64) - zero[0]) * scale[0]
    return values.astype(np.float64)
