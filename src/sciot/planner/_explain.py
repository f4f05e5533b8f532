"""A policy's :class:`Decision` with its explanation, built from the state's prediction.

Every estimating policy explains itself the same way (the chosen cut, two runners-up, what is
stale, unstable or unidentified), so the dashboard and ``sciot plan`` read one format.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from sciot.planner._decision import CutCost, Decision, Explanation
from sciot.planner._state import Prediction


def _indices(mask: npt.NDArray[np.bool_]) -> tuple[int, ...]:
    return tuple(np.flatnonzero(mask).tolist()) if mask.any() else ()


def explained_decision(
    policy: str, p: Prediction, cut: int, reason: str, probe: bool = False
) -> Decision:
    order = [int(k) for k in np.argsort(p.cost, kind="stable")[:3] if int(k) != cut][:2]

    def cut_cost(k: int) -> CutCost:
        return CutCost(cut=k, predicted_s=float(p.latency_s[k]), cost=float(p.cost[k]))

    explanation = Explanation(
        policy=policy,
        chosen=cut_cost(cut),
        runners_up=tuple(cut_cost(k) for k in order),
        stale_device_ops=_indices(p.device_stale),
        stale_edge_ops=_indices(p.edge_stale),
        unstable_device_ops=p.unstable_ops[0],
        unstable_edge_ops=p.unstable_ops[1],
        link_identified=p.link.identified,
        rtt_s=p.link.rtt_s if p.link.samples else None,
        bytes_per_s=p.link.bytes_per_s if p.link.samples else None,
    )
    return Decision(
        cut=cut,
        predicted_s=float(p.latency_s[cut]),
        probe=probe,
        reason=reason,
        explanation=explanation,
    )


__all__ = ["explained_decision"]
