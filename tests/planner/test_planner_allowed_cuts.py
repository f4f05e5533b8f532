"""The planner's candidates are exactly the cuts both sides can run: a cut the split space does
not allow is never chosen, by any policy, even when it would be the best one."""

from __future__ import annotations

import numpy as np
import pytest

from sciot.errors import PlannerError
from sciot.planner import Planner, Policy, Round, SplitSpace, Transfer, feed_round, make_policy

N = 6
CROSSING = (60_000, 50_000, 40_000, 200, 30_000, 20_000, 0)  # cut 3 sends almost nothing
BLOCKED = 3
DEVICE_OP_S, EDGE_OP_S = 4e-3, 0.2e-3
RTT_S, BYTES_PER_S = 2e-3, 1e6
RESULT_BYTES = 40


def _space(allowed: tuple[bool, ...] | None) -> SplitSpace:
    return SplitSpace(
        num_ops=N, crossing_bytes=CROSSING, result_bytes=RESULT_BYTES, allowed=allowed
    )


def _true_latency_s(cut: int) -> float:
    network = 0.0 if cut == N else RTT_S + (CROSSING[cut] + RESULT_BYTES) / BYTES_PER_S
    return cut * DEVICE_OP_S + (N - cut) * EDGE_OP_S + network


def _observed(cut: int) -> Round:
    """What one request at ``cut`` teaches: its device and edge ops, its transfer, latency."""
    transfers = []
    if cut < N:
        up = CROSSING[cut]
        transfers.append(Transfer(up, RESULT_BYTES, RTT_S + (up + RESULT_BYTES) / BYTES_PER_S))
    else:  # a device-only report: a small transfer, which helps tell bandwidth from RTT
        transfers.append(Transfer(100, 10, RTT_S + 110 / BYTES_PER_S))
    return Round(
        device_ops=dict.fromkeys(range(cut), DEVICE_OP_S),
        edge_ops=dict.fromkeys(range(cut, N), EDGE_OP_S),
        transfers=transfers,
        latencies=[(cut, _true_latency_s(cut))],
    )


def _policy(name: str) -> Policy | str:
    if name == "oracle":
        return make_policy("oracle", expected_s=lambda cut, _now: _true_latency_s(cut))
    if name == "linucb":
        return make_policy("linucb", op_weights=[1.0] * N)
    return name


def _chosen(name: str, allowed: tuple[bool, ...] | None, rounds: int = 150) -> list[int]:
    planner = Planner(_space(allowed), _policy(name), seed=3)
    cuts = [planner.decide("cam", 0.0).cut]
    for i in range(rounds):
        cuts.append(feed_round(planner, "cam", 0.05 * (i + 1), _observed(cuts[-1])).cut)
    return cuts


ALLOWED = tuple(k != BLOCKED for k in range(N + 1))
POLICIES = ("adaptive", "sciot", "neurosurgeon", "explore-greedy", "linucb", "oracle")


def test_the_blocked_cut_is_the_best_one_when_allowed() -> None:
    """Without the mask the planners do go there: the test below can fail."""
    assert min(range(N + 1), key=_true_latency_s) == BLOCKED
    for name in ("adaptive", "sciot", "neurosurgeon", "explore-greedy", "oracle"):
        assert BLOCKED in _chosen(name, None), name


@pytest.mark.parametrize("name", POLICIES)
def test_no_policy_ever_picks_a_cut_that_is_not_allowed(name: str) -> None:
    cuts = _chosen(name, ALLOWED)
    assert BLOCKED not in cuts, (name, cuts)
    assert all(0 <= c <= N for c in cuts)


def test_fixed_policies_refuse_a_cut_that_is_not_allowed() -> None:
    planner = Planner(_space(ALLOWED), f"fixed:{BLOCKED}")
    with pytest.raises(PlannerError, match=f"fixed cut {BLOCKED} is not a cut"):
        planner.decide("cam", 0.0)
    assert Planner(_space(ALLOWED), "fixed:2").decide("cam", 0.0).cut == 2
    assert Planner(_space(ALLOWED), "device-only").decide("cam", 0.0).cut == N


def test_the_mask_is_checked() -> None:
    with pytest.raises(PlannerError, match="one entry per cut"):
        _space((True,) * N)
    with pytest.raises(PlannerError, match="device-only"):
        _space((True,) * N + (False,))
    assert _space(None).allowed_mask().all()
    assert np.array_equal(_space(ALLOWED).allowed_mask(), np.array(ALLOWED))
