"""The decision space and what a decision optimises.

:class:`SplitSpace` is everything the planner knows about a model: how many ops it has and how
many bytes cross each cut. :class:`Objective` turns predicted per-cut times and bytes into one
cost to minimise (latency, device energy, bytes or a weighted sum), and :class:`Constraints`
removes cuts that break a byte budget or a latency deadline. All costs are computed for every
cut at once with numpy so a decision stays cheap for models with hundreds of ops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sciot.errors import PlannerError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class SplitSpace:
    """The cuts of one model. Cut k: the device runs ops ``[0, k)``, the edge ops ``[k, N)``.

    ``crossing_bytes[k]`` is what the device sends at cut k: ``crossing_bytes[0]`` is the raw
    input (edge-only) and ``crossing_bytes[N]`` must be 0 (device-only sends nothing on the
    request path). ``result_bytes`` is the answer the edge returns for any offloaded cut.
    ``allowed[k]`` says whether cut k may be chosen at all (default: every cut): a cut the
    model cannot be split at, or whose halves failed the run check, is never a candidate, so
    no policy spends a request on a cut the device or the edge would refuse. Device-only
    needs no split and is always allowed.
    """

    num_ops: int
    crossing_bytes: tuple[int, ...]
    result_bytes: int = 0
    allowed: tuple[bool, ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.num_ops, bool) or not isinstance(self.num_ops, int):
            raise PlannerError(f"num_ops must be an integer, got {self.num_ops!r}")
        if self.num_ops < 1:
            raise PlannerError(
                f"a model needs at least one op to split, got num_ops={self.num_ops}"
            )
        crossing = tuple(self.crossing_bytes)
        object.__setattr__(self, "crossing_bytes", crossing)
        if len(crossing) != self.num_ops + 1:
            raise PlannerError(
                f"crossing_bytes needs one entry per cut (num_ops + 1 = {self.num_ops + 1}), "
                f"got {len(crossing)}"
            )
        for k, size in enumerate(crossing):
            if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 0:
                raise PlannerError(f"crossing_bytes[{k}] must be an integer >= 0, got {size!r}")
        if crossing[-1] != 0:
            raise PlannerError(
                f"crossing_bytes[{self.num_ops}] (device-only) must be 0 because device-only "
                f"sends nothing on the request path; got {crossing[-1]}"
            )
        if isinstance(self.result_bytes, bool) or not isinstance(self.result_bytes, int):
            raise PlannerError(f"result_bytes must be an integer, got {self.result_bytes!r}")
        if self.result_bytes < 0:
            raise PlannerError(f"result_bytes must be >= 0, got {self.result_bytes}")
        if self.allowed is not None:
            allowed = tuple(bool(a) for a in self.allowed)
            object.__setattr__(self, "allowed", allowed)
            if len(allowed) != self.num_ops + 1:
                raise PlannerError(
                    f"allowed needs one entry per cut (num_ops + 1 = {self.num_ops + 1}), "
                    f"got {len(allowed)}"
                )
            if not allowed[-1]:
                raise PlannerError(
                    f"allowed[{self.num_ops}] (device-only) must be True: running the whole "
                    "model on the device needs no split"
                )

    def allowed_mask(self) -> npt.NDArray[np.bool_]:
        """``allowed`` as a boolean array over cuts 0..N (all True when not given)."""
        if self.allowed is None:
            return np.ones(self.num_ops + 1, dtype=bool)
        return np.array(self.allowed, dtype=bool)

    def is_allowed(self, cut: int) -> bool:
        return self.allowed is None or self.allowed[self.check_cut(cut)]

    @property
    def num_cuts(self) -> int:
        return self.num_ops + 1

    @property
    def edge_only_cut(self) -> int:
        return 0

    @property
    def device_only_cut(self) -> int:
        return self.num_ops

    def check_cut(self, cut: int) -> int:
        if isinstance(cut, bool) or not isinstance(cut, int | np.integer):
            raise PlannerError(f"a cut must be an integer, got {cut!r}")
        if not 0 <= cut <= self.num_ops:
            raise PlannerError(f"cut {cut} is out of range; valid cuts are 0..{self.num_ops}")
        return int(cut)

    def request_bytes(self) -> FloatArray:
        """Bytes on the request path per cut: crossing up, result down; 0 for device-only."""
        total = np.asarray(self.crossing_bytes, dtype=np.float64) + float(self.result_bytes)
        total[-1] = 0.0
        return total


@dataclass(frozen=True, slots=True, kw_only=True)
class EnergyProfile:
    """How a device spends energy: while computing, while waiting, and per byte on the radio."""

    compute_w: float
    idle_w: float
    radio_j_per_byte: float

    def __post_init__(self) -> None:
        for name in ("compute_w", "idle_w", "radio_j_per_byte"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise PlannerError(f"energy profile {name} must be finite and >= 0, got {value}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Objective:
    """What to minimise: ``latency_weight * s + energy_weight * J + bytes_weight * bytes``."""

    latency_weight: float = 1.0
    energy_weight: float = 0.0
    bytes_weight: float = 0.0
    energy_profile: EnergyProfile | None = None

    def __post_init__(self) -> None:
        weights = (self.latency_weight, self.energy_weight, self.bytes_weight)
        if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) == 0:
            raise PlannerError(
                f"objective weights must be finite, >= 0 and not all zero, got {weights}"
            )
        if self.energy_weight > 0 and self.energy_profile is None:
            raise PlannerError("an energy objective needs an EnergyProfile for the device")

    @classmethod
    def latency(cls) -> Objective:
        return cls()

    @classmethod
    def energy(cls, profile: EnergyProfile) -> Objective:
        return cls(latency_weight=0.0, energy_weight=1.0, energy_profile=profile)

    @classmethod
    def bytes(cls) -> Objective:
        return cls(latency_weight=0.0, bytes_weight=1.0)

    @classmethod
    def weighted(
        cls,
        *,
        latency: float = 0.0,
        energy: float = 0.0,
        bytes_sent: float = 0.0,
        profile: EnergyProfile | None = None,
    ) -> Objective:
        return cls(
            latency_weight=latency,
            energy_weight=energy,
            bytes_weight=bytes_sent,
            energy_profile=profile,
        )

    @property
    def name(self) -> str:
        parts = [
            label
            for label, weight in (
                ("latency", self.latency_weight),
                ("energy", self.energy_weight),
                ("bytes", self.bytes_weight),
            )
            if weight > 0
        ]
        return parts[0] if len(parts) == 1 else "weighted(" + "+".join(parts) + ")"

    def cost(
        self,
        *,
        device_s: FloatArray,
        edge_s: FloatArray,
        network_s: FloatArray,
        request_bytes: FloatArray,
    ) -> FloatArray:
        """Cost of every cut from its predicted device, edge and network times and bytes."""
        cost = np.zeros_like(device_s)
        if self.latency_weight > 0:
            cost += self.latency_weight * (device_s + edge_s + network_s)
        if self.energy_weight > 0 and self.energy_profile is not None:
            cost += self.energy_weight * energy_j(
                self.energy_profile,
                device_s=device_s,
                wait_s=edge_s + network_s,
                request_bytes=request_bytes,
            )
        if self.bytes_weight > 0:
            cost += self.bytes_weight * request_bytes
        return cost


def energy_j(
    profile: EnergyProfile,
    *,
    device_s: FloatArray,
    wait_s: FloatArray,
    request_bytes: FloatArray,
) -> FloatArray:
    """Device energy: computing, idling while the edge and network work, and radio bytes."""
    return (
        profile.compute_w * device_s
        + profile.idle_w * wait_s
        + profile.radio_j_per_byte * request_bytes
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Constraints:
    """Hard limits on a cut: bytes sent per inference and a latency deadline."""

    max_bytes: int | None = None
    deadline_s: float | None = None

    def __post_init__(self) -> None:
        if self.max_bytes is not None and self.max_bytes < 0:
            raise PlannerError(f"max_bytes must be >= 0, got {self.max_bytes}")
        if self.deadline_s is not None and (
            not math.isfinite(self.deadline_s) or self.deadline_s <= 0
        ):
            raise PlannerError(f"deadline_s must be a finite number > 0, got {self.deadline_s}")

    def feasible(
        self, *, request_bytes: FloatArray, latency_s: FloatArray
    ) -> npt.NDArray[np.bool_]:
        """Which cuts keep to the limits given their bytes and predicted latency."""
        mask = np.ones(request_bytes.shape, dtype=bool)
        if self.max_bytes is not None:
            mask &= request_bytes <= self.max_bytes
        if self.deadline_s is not None:
            mask &= latency_s <= self.deadline_s
        return mask


__all__ = [
    "Constraints",
    "EnergyProfile",
    "FloatArray",
    "Objective",
    "SplitSpace",
    "energy_j",
]
