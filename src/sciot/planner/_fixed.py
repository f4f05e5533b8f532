"""Policies that do not learn: one cut always, and the oracle that knows the true latency.

``device-only``, ``edge-only`` and ``fixed:K`` are baselines; the oracle (per request, or
holding :func:`best_fixed_cut`) is the bound the others are scored against in simulation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from sciot.errors import PlannerError
from sciot.planner._decision import CutCost, Decision, Explanation
from sciot.planner._explain import explained_decision
from sciot.planner._state import DeviceState, predict


class FixedPolicy:
    """Always the same cut: ``edge-only`` (0), ``device-only`` (N) or ``fixed:K``."""

    def __init__(self, cut: int | str) -> None:
        if isinstance(cut, str) and cut not in ("edge-only", "device-only"):
            raise PlannerError(
                f"a fixed cut is an integer, 'edge-only' or 'device-only', not {cut}"
            )
        if isinstance(cut, int) and cut < 0:
            raise PlannerError(f"a fixed cut must be >= 0, got {cut}")
        self.cut = cut

    @property
    def name(self) -> str:
        return self.cut if isinstance(self.cut, str) else f"fixed:{self.cut}"

    def resolve(self, num_ops: int) -> int:
        if self.cut == "edge-only":
            return 0
        if self.cut == "device-only":
            return num_ops
        if isinstance(self.cut, int) and self.cut > num_ops:
            raise PlannerError(
                f"fixed cut {self.cut} is out of range; the model has cuts 0..{num_ops}"
            )
        return int(self.cut)

    def decide(self, state: DeviceState, now_s: float) -> Decision:
        cut = self.resolve(state.space.num_ops)
        if not state.space.is_allowed(cut):
            raise PlannerError(
                f"fixed cut {cut} is not a cut this model can be split at; "
                "`sciot model inspect` lists the splittable cuts"
            )
        p = predict(state, now_s, z=0.0, drift_per_s=0.0, max_age_s=math.inf)
        return explained_decision(self.name, p, cut, "fixed cut")


ExpectedLatency = Callable[[int, float], float]


class OraclePolicy:
    """Knows the true expected latency of every cut at any time (from a simulator).

    Per request it returns the argmin of ``expected_s(cut, now_s)`` over every cut; given
    ``fixed_cut`` it holds that cut (use :func:`best_fixed_cut` to find it).
    """

    def __init__(self, expected_s: ExpectedLatency, *, fixed_cut: int | None = None) -> None:
        self.expected_s = expected_s
        self.fixed_cut = fixed_cut

    @property
    def name(self) -> str:
        return "oracle" if self.fixed_cut is None else "oracle-fixed"

    def decide(self, state: DeviceState, now_s: float) -> Decision:
        n = state.space.num_ops
        costs = np.array([self.expected_s(k, now_s) for k in range(n + 1)])
        costs[~state.allowed] = np.inf
        if self.fixed_cut is not None:
            cut = FixedPolicy(self.fixed_cut).resolve(n)
            reason = "oracle: best fixed cut"
        else:
            cut = int(np.argmin(costs))
            reason = "oracle: best cut now"
        order = [int(k) for k in np.argsort(costs, kind="stable")[:3] if int(k) != cut][:2]
        explanation = Explanation(
            policy=self.name,
            chosen=CutCost(cut=cut, predicted_s=float(costs[cut]), cost=float(costs[cut])),
            runners_up=tuple(
                CutCost(cut=k, predicted_s=float(costs[k]), cost=float(costs[k])) for k in order
            ),
        )
        return Decision(
            cut=cut,
            predicted_s=float(costs[cut]),
            probe=False,
            reason=reason,
            explanation=explanation,
        )


def best_fixed_cut(expected_s: ExpectedLatency, *, num_cuts: int, times_s: Sequence[float]) -> int:
    """The cut with the lowest mean true latency over the given request times."""
    if num_cuts < 1 or not times_s:
        raise PlannerError("best_fixed_cut needs at least one cut and one request time")
    means = [sum(expected_s(k, t) for t in times_s) / len(times_s) for k in range(num_cuts)]
    return int(np.argmin(means))


__all__ = ["ExpectedLatency", "FixedPolicy", "OraclePolicy", "best_fixed_cut"]
