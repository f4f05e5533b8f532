"""The edge's own timing of its executor follows its load: what a device-only report carries."""

from __future__ import annotations

import numpy as np
import pytest

from sciot.sim import Effects, World, synthetic_environment
from sciot.sim.environment import Window


def test_the_edges_timing_follows_an_overload_and_its_end() -> None:
    env = synthetic_environment(
        noise_cv=0.0, edge_slowdowns=(Window(start_s=10.0, end_s=20.0, factor=50.0),)
    )
    world = World(env, Effects(), seed=0)
    idle = float(np.sum(env.edge.op_s))
    assert world.edge_tail_s(5.0) == pytest.approx((idle, 0.0))
    assert world.edge_tail_s(15.0) == pytest.approx((50 * idle, 0.0))
    assert world.edge_tail_s(25.0) == pytest.approx((idle, 0.0))


def test_the_edges_timing_gives_its_queue_apart() -> None:
    """The wait is the queue's, the run time the executor's: a loaded edge runs a tail as
    fast as an idle one, after a wait."""
    env = synthetic_environment(noise_cv=0.0)
    busy = World(env, Effects(edge_load_per_s=150.0, edge_load_service_s=0.005), seed=0)
    idle = float(np.sum(env.edge.op_s))
    timings = [busy.edge_tail_s(float(t)) for t in np.arange(1.0, 60.0, 0.25)]
    assert all(run_s == pytest.approx(idle) for run_s, _ in timings)
    waits = [wait_s for _, wait_s in timings]
    assert min(waits) >= 0.0 and float(np.mean(waits)) > 0.002
