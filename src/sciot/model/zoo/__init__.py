"""Demo TFLite models shipped with sciot, their metadata, and valid inputs for them.

Every feature (splitting, the edge server, benches, the demo) can run on these models with no
TensorFlow and no model of the user's own. Each ``<name>.tflite`` sits beside a
``<name>.json`` metadata file written by ``scripts/build_demo_models.py``; the set of names is
whatever metadata files are present, so rebuilding or adding a model needs no code change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from sciot.errors import ModelError
from sciot.model.zoo._synthetic import (
    FOMO_CLASSES,
    SENSOR_CLASSES,
    SENSOR_FAULTS,
    DetectionScore,
    FomoScenes,
    SensorWindows,
    score_fomo,
    synthetic_fomo_scenes,
    synthetic_sensor_windows,
)

_ZOO_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoTensor:
    """A demo model's input or output: shape, dtype, int8 quantisation, value range."""

    shape: tuple[int, ...]
    dtype: str
    scale: float = 0.0
    zero_point: int = 0
    value_range: tuple[float, float] | None = None

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoModelInfo:
    """What a shipped demo model is, how it was built and how well it does."""

    name: str
    path: Path
    size_bytes: int
    sha256: str
    task: str
    description: str
    quantization: str
    input: DemoTensor
    output: DemoTensor
    class_names: tuple[str, ...]
    accuracy: dict[str, float | int | str] = field(hash=False)
    calibration: str | None
    build: dict[str, Any] = field(hash=False)


@cache
def demo_model_names() -> tuple[str, ...]:
    """Names of the shipped demo models, sorted (e.g. ``fomo96``, ``fomo96_int8``)."""
    return tuple(
        sorted(p.stem for p in _ZOO_DIR.glob("*.json") if p.with_suffix(".tflite").is_file())
    )


def demo_model_path(name: str) -> Path:
    """Path of the demo model's ``.tflite`` file inside the installed package."""
    _check_name(name)
    return _ZOO_DIR / f"{name}.tflite"


def demo_model_info(name: str) -> DemoModelInfo:
    """Metadata of a demo model (shapes, quantisation, classes, accuracy, build)."""
    _check_name(name)
    return _read_info(name)


def load_demo_input(name: str, seed: int = 0) -> npt.NDArray[Any]:
    """A valid input for the demo model: batch of one, its dtype, quantised for int8 models.

    ``fomo96*`` get a synthetic scene of shapes, ``sensor1d*`` a synthetic sensor window
    (anomalous for odd seeds, so both classes show up when iterating seeds).
    """
    info = demo_model_info(name)
    if info.task == "fomo":
        sample = synthetic_fomo_scenes(1, seed).images
    else:
        sample = synthetic_sensor_windows(1, seed, anomaly_rate=float(seed % 2)).windows
    expected = info.input.shape
    if sample.shape != expected:
        raise ModelError(
            f"demo model {name!r} expects input {expected}, synthetic data is {sample.shape}; "
            "rebuild the zoo with scripts/build_demo_models.py"
        )
    if not info.input.quantized:
        return sample.astype(info.input.dtype)
    return quantize(sample, info.input)


def quantize(values: npt.NDArray[np.floating], spec: DemoTensor) -> npt.NDArray[np.int8]:
    """Float values to the int8 codes of a quantised model input."""
    codes: npt.NDArray[np.int8] = np.clip(
        np.round(values / spec.scale) + spec.zero_point, -128, 127
    ).astype(np.int8)
    return codes


def dequantize(codes: npt.NDArray[np.integer], spec: DemoTensor) -> npt.NDArray[np.float32]:
    """int8 codes of a quantised model output back to floats (floats pass through)."""
    if not spec.quantized:
        return codes.astype(np.float32)
    return ((codes.astype(np.float32) - spec.zero_point) * spec.scale).astype(np.float32)


def _check_name(name: str) -> None:
    names = demo_model_names()
    if name not in names:
        raise ModelError(
            f"unknown demo model {name!r}; valid names: {', '.join(names) or '(none shipped)'}"
        )


@cache
def _read_info(name: str) -> DemoModelInfo:
    meta_path = _ZOO_DIR / f"{name}.json"
    try:
        meta = json.loads(meta_path.read_text())
        return DemoModelInfo(
            name=str(meta["name"]),
            path=_ZOO_DIR / str(meta["file"]),
            size_bytes=int(meta["size_bytes"]),
            sha256=str(meta["sha256"]),
            task=str(meta["task"]),
            description=str(meta["description"]),
            quantization=str(meta["quantization"]),
            input=_tensor(meta["input"]),
            output=_tensor(meta["output"]),
            class_names=tuple(str(c) for c in meta["class_names"]),
            accuracy=dict(meta["accuracy"]),
            calibration=meta.get("calibration"),
            build=dict(meta["build"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(
            f"demo model metadata {meta_path} is unreadable ({exc!r}); reinstall sciot or "
            "rebuild the zoo with scripts/build_demo_models.py"
        ) from exc


def _tensor(raw: dict[str, Any]) -> DemoTensor:
    value_range = raw.get("range")
    return DemoTensor(
        shape=tuple(int(d) for d in raw["shape"]),
        dtype=str(raw["dtype"]),
        scale=float(raw.get("scale", 0.0)),
        zero_point=int(raw.get("zero_point", 0)),
        value_range=None if value_range is None else (float(value_range[0]), float(value_range[1])),
    )


__all__ = [
    "FOMO_CLASSES",
    "SENSOR_CLASSES",
    "SENSOR_FAULTS",
    "DemoModelInfo",
    "DemoTensor",
    "DetectionScore",
    "FomoScenes",
    "SensorWindows",
    "demo_model_info",
    "demo_model_names",
    "demo_model_path",
    "dequantize",
    "load_demo_input",
    "quantize",
    "score_fomo",
    "synthetic_fomo_scenes",
    "synthetic_sensor_windows",
]
