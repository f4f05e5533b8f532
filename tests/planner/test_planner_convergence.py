"""The adaptive policy against simulated environments whose true costs are known.

Latencies compared are the environment's true expected latency of each chosen cut, so the
numbers measure the decisions, not the luck of the noise draws.
"""

from __future__ import annotations

import numpy as np
import pytest

from sciot.delays import DelaySpec
from sciot.planner import OraclePolicy, Planner, best_fixed_cut
from sciot.sim import Environment, LinkStep, Step, Window, drive, synthetic_environment

REQUESTS = 600
INTERVAL_S = 0.1
WARM_UP = 100


def _run(env: Environment, policy: str, seed: int = 3) -> list[Step]:
    return drive(env, Planner(env.space, policy, seed=seed), requests=REQUESTS, seed=seed)


def _oracle_fixed_mean_s(env: Environment) -> float:
    times = [i * INTERVAL_S for i in range(REQUESTS)]
    cut = best_fixed_cut(env.expected_latency_s, num_cuts=env.space.num_cuts, times_s=times)
    planner = Planner(env.space, OraclePolicy(env.expected_latency_s, fixed_cut=cut))
    steps = drive(env, planner, requests=REQUESTS)
    return float(np.mean([s.expected_s for s in steps[WARM_UP:]]))


def _mean_s(steps: list[Step]) -> float:
    return float(np.mean([s.expected_s for s in steps[WARM_UP:]]))


STEADY = {
    "clean": {},
    "noise-and-stragglers": {
        "noise_cv": 0.15,
        "straggler_prob": 0.02,
        "jitter": DelaySpec.gaussian(0.01, 0.004),
    },
    "unstable-network": {"jitter": DelaySpec.gaussian(0.04, 0.02)},
    "fast-link": {"bytes_per_s": 2e7},
    "slow-link": {"bytes_per_s": 2e5},
}


@pytest.mark.parametrize("name", sorted(STEADY))
def test_adaptive_within_5_percent_of_best_fixed_cut(name: str) -> None:
    env = synthetic_environment(**STEADY[name])  # type: ignore[arg-type]
    assert _mean_s(_run(env, "adaptive")) <= 1.05 * _oracle_fixed_mean_s(env)


def _change_index(steps: list[Step], at_s: float) -> int:
    return next(i for i, s in enumerate(steps) if s.outcome.started_s >= at_s)


def _converged_within(env: Environment, steps: list[Step], start: int, requests: int) -> bool:
    """After ``requests`` requests, non-probe decisions are within 5% of the best cut."""
    later = [s for s in steps[start + requests : start + requests + 100] if not s.decision.probe]
    best = [
        min(env.expected_latency_s(k, s.outcome.started_s) for k in range(env.space.num_cuts))
        for s in later
    ]
    good = [s.expected_s <= 1.05 * b for s, b in zip(later, best, strict=True)]
    return len(later) > 50 and all(good)


@pytest.mark.parametrize(
    ("name", "before", "after"),
    [("drop-10x", 2e6, 2e5), ("rise-10x", 2e6, 2e7), ("rise-from-slow", 2e5, 2e6)],
)
def test_adaptive_reconverges_within_20_requests_after_bandwidth_step(
    name: str, before: float, after: float
) -> None:
    env = synthetic_environment(
        bytes_per_s=before, link_steps=(LinkStep(at_s=30.0, bytes_per_s=after),)
    )
    steps = _run(env, "adaptive")
    change = _change_index(steps, 30.0)
    # The best cut really moves, so converging is not the same as standing still.
    assert min(range(21), key=lambda k: env.expected_latency_s(k, 29.0)) != min(
        range(21), key=lambda k: env.expected_latency_s(k, 31.0)
    )
    assert _converged_within(env, steps, change, 20)


def test_adaptive_reconverges_after_device_slowdown() -> None:
    env = synthetic_environment(device_slowdowns=(Window(start_s=30.0, end_s=1e9, factor=3.0),))
    steps = _run(env, "adaptive")
    assert _converged_within(env, steps, _change_index(steps, 30.0), 20)


def test_sciot_stays_device_only_after_bandwidth_recovers_while_adaptive_recovers() -> None:
    env = synthetic_environment(
        link_steps=(LinkStep(at_s=20.0, bytes_per_s=2e5), LinkStep(at_s=40.0, bytes_per_s=2e6))
    )
    recovered = 41.0
    assert min(range(21), key=lambda k: env.expected_latency_s(k, recovered)) != 20
    sciot = _run(env, "sciot")
    after = sciot[_change_index(sciot, recovered) :]
    assert all(s.decision.cut == env.space.device_only_cut for s in after)
    # Its speed estimate comes from the small report and includes the round trip.
    speed = after[-1].decision.explanation.bytes_per_s
    assert speed is not None and speed < 2e6 / 10

    adaptive = _run(env, "adaptive")
    assert _converged_within(env, adaptive, _change_index(adaptive, 40.0), 20)
    sciot_mean = np.mean([s.expected_s for s in after])
    adaptive_mean = np.mean([s.expected_s for s in adaptive[_change_index(adaptive, recovered) :]])
    assert adaptive_mean < 0.95 * sciot_mean


def test_adaptive_backs_off_during_outage_and_returns() -> None:
    env = synthetic_environment(outages=(Window(start_s=30.0, end_s=35.0),))
    steps = _run(env, "adaptive")
    during = [s for s in steps if 30.0 <= s.outcome.started_s < 35.0]
    failures = [s for s in during if s.outcome.failed and s.decision.cut < 20]
    assert 1 <= len(failures) <= 6  # a few retries with exponential backoff, not one per request
    assert _converged_within(env, steps, _change_index(steps, 40.0), 0)


def test_edge_overload_moves_work_back_to_the_device() -> None:
    env = synthetic_environment(
        bytes_per_s=2e7, edge_slowdowns=(Window(start_s=30.0, end_s=1e9, factor=10.0),)
    )
    steps = _run(env, "adaptive")
    assert steps[_change_index(steps, 29.0)].decision.cut == 0
    assert _converged_within(env, steps, _change_index(steps, 30.0), 20)
