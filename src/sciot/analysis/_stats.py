"""Numbers over seeds: one value per seed, their mean and a 95% confidence interval.

A run repeated with several seeds gives one independent estimate per seed (each seed redraws
the noise, the planner's exploration and the scenario's random effects). The figures and the
report show the mean of those per-seed values with a Student-t interval, so a difference
between policies can be told from seed-to-seed spread. With one seed there is no interval,
and none is drawn: a single run says nothing about its own spread.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from sciot.sim import InferenceRow

# Two-sided 95% Student-t quantiles by degrees of freedom (1..30); beyond, the normal's 1.96.
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class Estimate:
    """The mean of per-seed values and the half-width of its 95% interval (``None``: 1 seed)."""

    mean: float
    half_width: float | None
    seeds: int

    def text(self, digits: int = 2) -> str:
        if self.half_width is None or not math.isfinite(self.half_width):
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.half_width:.{digits}f}"


def estimate(values: Sequence[float]) -> Estimate:
    """Mean and 95% Student-t half-width of independent per-seed values."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return Estimate(mean=math.nan, half_width=None, seeds=0)
    mean = float(np.mean(finite))
    if len(finite) < 2:
        return Estimate(mean=mean, half_width=None, seeds=len(finite))
    dof = len(finite) - 1
    t = _T95[dof - 1] if dof <= len(_T95) else 1.96
    half = t * float(np.std(finite, ddof=1)) / math.sqrt(len(finite))
    return Estimate(mean=mean, half_width=half, seeds=len(finite))


def row_seed(row: InferenceRow) -> int:
    """The row's seed (runs written before seeds were recorded have one, 0)."""
    return int(getattr(row, "seed", 0))


def per_seed(
    rows: Sequence[InferenceRow], statistic: Callable[[Sequence[InferenceRow]], float]
) -> Estimate:
    """``statistic`` computed on each seed's rows separately, then combined over seeds."""
    by_seed: dict[int, list[InferenceRow]] = {}
    for row in rows:
        by_seed.setdefault(row_seed(row), []).append(row)
    return estimate([statistic(group) for _seed, group in sorted(by_seed.items())])


def mean_of(field: str) -> Callable[[Sequence[InferenceRow]], float]:
    """The mean of one numeric row field, as a per-seed statistic."""

    def statistic(rows: Sequence[InferenceRow]) -> float:
        return float(np.mean([float(getattr(r, field)) for r in rows])) if rows else math.nan

    return statistic


__all__ = ["Estimate", "estimate", "mean_of", "per_seed", "row_seed"]
