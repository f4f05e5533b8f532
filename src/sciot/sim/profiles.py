"""Device speed profiles and the measured per-op times of a real model.

A simulated device runs the real model's ops at this machine's measured per-op times (LiteRT,
:class:`~sciot.runtime.OpProfiler`) scaled by one factor: this machine's effective
multiply-accumulate rate on the model divided by the device's. Each device's rate comes from
a published measurement of a known model on that device (the ``source`` field says which), so
the factor is calibrated, not guessed, though it carries the error of transferring one model's
rate to another: measure on the real device when one is at hand. The energy figures feed the
device-energy objective and the energy column of a run; they are typical datasheet-level
values, good for comparing cuts, not for a battery-life budget.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from sciot.errors import ConfigError

if TYPE_CHECKING:
    from sciot.model import ModelGraph
from sciot.planner import EnergyProfile, SplitSpace


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceClass:
    """A device class: effective MAC rate on a TinyML CNN and its energy model.

    Not to be confused with :class:`sciot.wire.DeviceProfile`, what a device tells the edge
    about itself when it registers (its kind and measured per-op times).
    """

    name: str
    macs_per_s: float | None  # None: this machine, unscaled
    energy: EnergyProfile
    source: str

    def scale(self, *, model_macs: int, measured_total_s: float) -> float:
        """Factor turning this machine's measured op times into the device's."""
        if self.macs_per_s is None:
            return 1.0
        if model_macs <= 0 or measured_total_s <= 0:
            raise ConfigError("scaling to a device profile needs the model's MACs and its time")
        return (model_macs / measured_total_s) / self.macs_per_s


DeviceProfile = DeviceClass
"""The name this module has always exported for :class:`DeviceClass`."""

DEVICE_PROFILES: dict[str, DeviceClass] = {
    profile.name: profile
    for profile in (
        DeviceClass(
            name="esp32-s3",
            # 7.5 M MACs (96x96 MobileNetV1-0.25 person detection, int8) in 54 ms with ESP-NN
            # at 240 MHz: Espressif, esp-tflite-micro README, "Performance Comparison".
            macs_per_s=7.5e6 / 0.054,
            energy=EnergyProfile(compute_w=0.25, idle_w=0.08, radio_j_per_byte=5e-7),
            source="esp-tflite-micro README: person detection 54 ms on ESP32-S3 (ESP-NN)",
        ),
        DeviceClass(
            name="rpi-zero-2w",
            # Same Cortex-A53 cores as a Pi 3 at 1.0 GHz instead of 1.2; a Pi 4 runs TFLite
            # about 2x faster than a Pi 3 (see rpi4), so about 2.4x slower than a Pi 4.
            macs_per_s=569e6 / 0.087 / 2.4,
            energy=EnergyProfile(compute_w=1.2, idle_w=0.6, radio_j_per_byte=2e-7),
            source="derived from the Pi 4 figure: Pi 3-class cores at 1.0 GHz (~2.4x slower)",
        ),
        DeviceClass(
            name="rpi4",
            # MobileNetV1 1.0 224 (569 M MACs) in 87 ms on the Pi 4 CPU with TFLite.
            macs_per_s=569e6 / 0.087,
            energy=EnergyProfile(compute_w=3.5, idle_w=2.0, radio_j_per_byte=1e-7),
            source="TFLite MobileNetV1 1.0_224: 87 ms on a Raspberry Pi 4 CPU (public benchmark)",
        ),
        DeviceClass(
            name="this-machine",
            macs_per_s=None,
            energy=EnergyProfile(compute_w=15.0, idle_w=5.0, radio_j_per_byte=5e-8),
            source="measured here with LiteRT, no scaling",
        ),
    )
}


def device_profile(name: str) -> DeviceClass:
    try:
        return DEVICE_PROFILES[name]
    except KeyError:
        known = ", ".join(DEVICE_PROFILES)
        raise ConfigError(f"unknown device profile {name!r}; choose one of {known}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelProfile:
    """A real model's cuts and this machine's measured per-op times (median of runs).

    ``allowed``: which cuts the edge would serve (splittable and passing LiteRT's run check),
    one per cut; ``None``: every cut. The simulator plans with the same cuts as the edge.
    """

    name: str
    op_s: tuple[float, ...]
    crossing_bytes: tuple[int, ...]
    output_bytes: int
    macs: int
    allowed: tuple[bool, ...] | None = None

    @property
    def num_ops(self) -> int:
        return len(self.op_s)

    @property
    def total_s(self) -> float:
        return math.fsum(self.op_s)

    def space(self) -> SplitSpace:
        """The planner's view: device-only sends nothing, the edge returns the output."""
        crossing = (*self.crossing_bytes[:-1], 0)
        allowed = None if self.allowed is None else (*self.allowed[:-1], True)
        return SplitSpace(
            num_ops=self.num_ops,
            crossing_bytes=crossing,
            result_bytes=self.output_bytes,
            allowed=allowed,
        )

    def device_op_s(self, profile: DeviceClass) -> tuple[float, ...]:
        factor = profile.scale(model_macs=self.macs, measured_total_s=self.total_s)
        return tuple(s * factor for s in self.op_s)


def profile_model(path: str | Path, *, repeats: int = 50, name: str | None = None) -> ModelProfile:
    """Time a ``.tflite`` model op by op with LiteRT; the median of ``repeats`` runs per op."""
    from sciot.model import load_model
    from sciot.runtime import OpProfiler, verify_cuts

    if repeats < 1:
        raise ConfigError(f"repeats must be >= 1, got {repeats}")
    graph = load_model(Path(path))
    runnable = verify_cuts(graph)  # the cuts the edge serves: the simulator plans no others
    profiler = OpProfiler(graph)
    rng = np.random.default_rng(0)
    inputs = {t.name: _random_input(t.shape, t.dtype, rng) for t in graph.inputs}
    runs = [profiler.run(inputs)[1] for _ in range(repeats + 2)][2:]  # first runs warm caches
    op_s = tuple(statistics.median(run[i] for run in runs) for i in range(graph.num_ops))
    crossing, output = _tensor_sizes(graph)
    return ModelProfile(
        name=name or Path(path).stem,
        op_s=op_s,
        crossing_bytes=crossing,
        output_bytes=output,
        macs=graph.total_macs,
        allowed=tuple(cut.splittable for cut in runnable.cuts),
    )


def save_profile(profile: ModelProfile, path: str | Path) -> None:
    """Write a measured profile as JSON, so a later run can reuse it: a run re-profiled on a
    busy machine meets slightly different op times, and its numbers move with them."""
    Path(path).write_text(json.dumps(asdict(profile), indent=1) + "\n")


def load_profile(path: str | Path) -> ModelProfile:
    """A profile written by :func:`save_profile`; a ConfigError says what is wrong with it."""
    where = Path(path)
    try:
        doc = json.loads(where.read_text())
        op_s = tuple(float(x) for x in doc["op_s"])
        crossing = tuple(int(x) for x in doc["crossing_bytes"])
        allowed = doc.get("allowed")
        profile = ModelProfile(
            name=str(doc["name"]),
            op_s=op_s,
            crossing_bytes=crossing,
            output_bytes=int(doc["output_bytes"]),
            macs=int(doc["macs"]),
            allowed=None if allowed is None else tuple(bool(x) for x in allowed),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{where} is not a model profile ({type(exc).__name__}: {exc}); write one with "
            "sciot.sim.save_profile, or leave it out to profile the model anew"
        ) from exc
    n = profile.num_ops
    if n < 1 or len(crossing) != n + 1 or (allowed is not None and len(allowed) != n + 1):
        raise ConfigError(
            f"{where}: a profile of {n} ops needs {n + 1} crossing sizes and allowed flags"
        )
    if not all(math.isfinite(x) and x >= 0 for x in op_s) or min(crossing) < 0:
        raise ConfigError(f"{where}: op times and crossing sizes must be finite and >= 0")
    return profile


def load_or_profile(
    model_path: str | Path, stored: str | Path | None, *, name: str | None = None
) -> ModelProfile:
    """The model's op times: read from ``stored`` when that file exists, else measured here
    (and written to ``stored``, when given), so a later run meets the same op times.

    A stored profile must be of this model: its cuts' crossing sizes and output size are
    checked against the model's graph (a profile of another model would simulate that
    model under this one's name)."""
    from sciot.model import load_model

    if stored is not None and Path(stored).is_file():
        profile = load_profile(stored)
        graph = load_model(Path(model_path))
        if (profile.crossing_bytes, profile.output_bytes) != _tensor_sizes(graph):
            raise ConfigError(
                f"profile {stored} is of another model ({profile.name!r}, {profile.num_ops} "
                f"ops) than {model_path} ({graph.num_ops} ops, other tensor sizes); point "
                "--profile at a new file to measure this one there"
            )
        return profile
    profile = profile_model(model_path, name=name)
    if stored is not None:
        try:
            save_profile(profile, stored)
        except OSError as exc:
            raise ConfigError(f"cannot write the profile to {stored}: {exc}") from exc
    return profile


def _tensor_sizes(graph: ModelGraph) -> tuple[tuple[int, ...], int]:
    """A model's crossing bytes per cut and its output bytes: what a profile records of it."""
    return tuple(cut.crossing_bytes for cut in graph.cuts), sum(t.nbytes for t in graph.outputs)


def _random_input(shape: tuple[int, ...], dtype: str, rng: np.random.Generator) -> npt.NDArray[Any]:
    kind = np.dtype(dtype)
    shape = tuple(max(1, d) for d in shape)
    if kind.kind == "f":
        return rng.random(shape, dtype=np.float32).astype(kind)
    info = np.iinfo(kind)
    return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(kind)


__all__ = [
    "DEVICE_PROFILES",
    "DeviceClass",
    "DeviceProfile",
    "ModelProfile",
    "device_profile",
    "load_profile",
    "profile_model",
    "save_profile",
]
