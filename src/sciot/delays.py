"""Delay distributions for injected computation and network delays.

A :class:`DelaySpec` describes one random delay (static, gaussian, uniform or exponential) in
seconds, as SCIoT's ``delay_simulation`` settings do, and draws samples from a
``numpy.random.Generator`` the caller owns, so every run is reproducible from its seed. This
module sits at the bottom of the package: the device, the edge, the transports and the
simulator all use it, and it imports nothing from them. Samples are never negative: a
gaussian draw below zero is clipped to zero, because a delay cannot run time backwards.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sciot.errors import ConfigError

DelayKind = Literal["static", "gaussian", "uniform", "exponential"]

DELAY_KINDS: tuple[DelayKind, ...] = ("static", "gaussian", "uniform", "exponential")

# SCIoT's keys, plus our own spelled-out names, mapped onto DelaySpec fields.
_KEY_ALIASES: dict[str, str] = {
    "type": "kind",
    "kind": "kind",
    "mean": "mean_s",
    "mean_s": "mean_s",
    "std_dev": "std_s",
    "std": "std_s",
    "std_s": "std_s",
    "low": "low_s",
    "min": "low_s",
    "low_s": "low_s",
    "high": "high_s",
    "max": "high_s",
    "high_s": "high_s",
    # SCIoT's settings carry an on/off switch next to the distribution.
    "enabled": "enabled",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class DelaySpec:
    """One delay distribution, in seconds.

    - ``static``: always ``mean_s``.
    - ``gaussian``: normal with ``mean_s`` and ``std_s``, clipped at zero.
    - ``uniform``: between ``low_s`` and ``high_s``; if both are left at zero, ``mean_s`` +-
      ``std_s * sqrt(3)`` (the uniform with that mean and standard deviation).
    - ``exponential``: exponential with mean ``mean_s``.

    >>> import numpy as np
    >>> DelaySpec.static(0.02).sample(np.random.default_rng(0))
    0.02
    """

    kind: DelayKind = "static"
    mean_s: float = 0.0
    std_s: float = 0.0
    low_s: float = 0.0
    high_s: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in DELAY_KINDS:
            raise ConfigError(
                f"delay kind {self.kind!r} is unknown; use one of {', '.join(DELAY_KINDS)}"
            )
        for name in ("mean_s", "std_s", "low_s", "high_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ConfigError(
                    f"delay {name} must be a finite number of seconds >= 0, got {value!r}"
                )
        if self.kind == "uniform" and self.high_s < self.low_s:
            raise ConfigError(
                f"uniform delay needs low_s <= high_s, got low_s={self.low_s}, high_s={self.high_s}"
            )

    @classmethod
    def static(cls, seconds: float) -> DelaySpec:
        return cls(kind="static", mean_s=seconds)

    @classmethod
    def gaussian(cls, mean_s: float, std_s: float) -> DelaySpec:
        return cls(kind="gaussian", mean_s=mean_s, std_s=std_s)

    @classmethod
    def uniform(cls, low_s: float, high_s: float) -> DelaySpec:
        return cls(kind="uniform", low_s=low_s, high_s=high_s, mean_s=(low_s + high_s) / 2)

    @classmethod
    def exponential(cls, mean_s: float) -> DelaySpec:
        return cls(kind="exponential", mean_s=mean_s)

    @classmethod
    def zero(cls) -> DelaySpec:
        return cls()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> DelaySpec:
        """Read SCIoT-style settings (``type``, ``mean``, ``std_dev``, seconds).

        An ``enabled: false`` entry gives the zero delay, so a settings block can be switched
        off without deleting it. An unknown key is an error naming it rather than a silent
        default, because a misspelt ``std_dev`` would otherwise turn noise off unnoticed.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"a delay must be a mapping of settings, got {type(data).__name__}")
        fields: dict[str, Any] = {}
        for key, value in data.items():
            field = _KEY_ALIASES.get(str(key))
            if field is None:
                known = ", ".join(sorted(_KEY_ALIASES))
                raise ConfigError(f"unknown delay setting {key!r}; known settings: {known}")
            fields[field] = value
        if fields.pop("enabled", True) is False:
            return cls.zero()
        for name, value in fields.items():
            if name != "kind" and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise ConfigError(f"delay setting {name!r} must be a number, got {value!r}")
            if name != "kind":
                fields[name] = float(value)
        kind = fields.get("kind", "static")
        if kind not in DELAY_KINDS:
            raise ConfigError(
                f"delay type {kind!r} is unknown; use one of {', '.join(DELAY_KINDS)}"
            )
        fields["kind"] = cast(DelayKind, kind)
        if kind == "uniform" and "mean_s" not in fields and "high_s" in fields:
            fields["mean_s"] = (fields.get("low_s", 0.0) + fields["high_s"]) / 2
        return cls(**fields)

    @property
    def expected_s(self) -> float:
        """The mean of the delay actually sampled (clipping included for the gaussian)."""
        if self.kind == "uniform":
            low, high = self._uniform_bounds()
            return (low + high) / 2
        if self.kind == "gaussian" and self.std_s > 0:
            # Mean of max(0, X) for X ~ N(mu, sigma).
            z = self.mean_s / self.std_s
            pdf = math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
            cdf = 0.5 * (1 + math.erf(z / math.sqrt(2)))
            return self.mean_s * cdf + self.std_s * pdf
        return self.mean_s

    def sample(self, rng: np.random.Generator) -> float:
        """Draw one delay in seconds (>= 0)."""
        if self.kind == "static":
            return self.mean_s
        if self.kind == "gaussian":
            return max(0.0, float(rng.normal(self.mean_s, self.std_s)))
        if self.kind == "uniform":
            low, high = self._uniform_bounds()
            return float(rng.uniform(low, high))
        return float(rng.exponential(self.mean_s)) if self.mean_s > 0 else 0.0

    def _uniform_bounds(self) -> tuple[float, float]:
        if self.high_s > 0 or self.low_s > 0:
            return self.low_s, self.high_s
        half_width = self.std_s * math.sqrt(3)
        return max(0.0, self.mean_s - half_width), self.mean_s + half_width

    def describe(self) -> str:
        """A short human label, e.g. ``gaussian(20±5 ms)``."""
        if self.kind == "static":
            return f"static({self.mean_s * 1e3:g} ms)"
        if self.kind == "gaussian":
            return f"gaussian({self.mean_s * 1e3:g}±{self.std_s * 1e3:g} ms)"
        if self.kind == "uniform":
            low, high = self._uniform_bounds()
            return f"uniform({low * 1e3:g}-{high * 1e3:g} ms)"
        return f"exponential({self.mean_s * 1e3:g} ms)"


__all__ = ["DELAY_KINDS", "DelayConfig", "DelayKind", "DelaySpec"]


class DelayConfig(BaseModel):
    """A simulated delay in a YAML settings file, in SCIoT's vocabulary (seconds).

    The device's ``computation_delay`` and the edge's ``delay_simulation`` blocks share it;
    :meth:`spec` turns it into the :class:`DelaySpec` that samples. The default mean is
    SCIoT's computation default (1 ms); a block stays inert until ``enabled: true``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    enabled: bool = False
    type: Literal["static", "gaussian", "uniform", "exponential"] = "gaussian"
    mean: float = Field(default=0.001, ge=0.0, le=60.0)
    std_dev: float = Field(default=0.0, ge=0.0, le=60.0)

    def as_mapping(self) -> dict[str, Any]:
        """The mapping :meth:`DelaySpec.from_mapping` reads."""
        return {"type": self.type, "mean": self.mean, "std_dev": self.std_dev}
