"""Drive one planner against one environment on a virtual clock.

The smallest closed loop: ask the planner, run the request in the environment, feed back what
the device and edge would report, advance the clock. Requests start every ``interval_s`` or
when the previous one finishes, whichever is later. Scenario runs and planner tests use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sciot.errors import ConfigError
from sciot.planner import Decision, Planner
from sciot.sim.environment import Environment, Outcome


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One request of a driven run: the decision and what happened."""

    index: int
    decision: Decision
    outcome: Outcome
    expected_s: float


def drive(
    env: Environment,
    planner: Planner,
    *,
    requests: int,
    seed: int = 0,
    interval_s: float = 0.1,
    device_id: str = "device-0",
    start_s: float = 0.0,
) -> list[Step]:
    """Run ``requests`` requests of one device; the environment's noise is seeded by ``seed``."""
    if requests < 0 or interval_s < 0:
        raise ConfigError("drive needs requests >= 0 and interval_s >= 0")
    rng = np.random.default_rng(seed)
    now_s = start_s
    steps: list[Step] = []
    for index in range(requests):
        decision = planner.decide(device_id, now_s)
        expected_s = env.expected_latency_s(decision.cut, now_s)
        outcome = env.run(decision.cut, now_s, rng)
        env.feed(planner, device_id, outcome)
        steps.append(Step(index=index, decision=decision, outcome=outcome, expected_s=expected_s))
        now_s += max(outcome.latency_s, interval_s)
    return steps


__all__ = ["Step", "drive"]
