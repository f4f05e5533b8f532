"""Ground-truth effects and the run's world: each named effect changes what a request costs,
and the shared-edge queue is first come, first served."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sim_testkit import TINY, policy_rows, read_csv

from sciot.errors import ConfigError
from sciot.sim import Effects, RunConfig, World, run_simulation, synthetic_environment
from sciot.sim.effects import EdgeQueue, Thermal


def test_edge_queue_serves_first_come_first_served() -> None:
    queue = EdgeQueue(rate_per_s=0.0, service_s=1.0, seed=0)
    assert queue.serve(0.0, 1.0) == 0.0
    assert queue.serve(0.5, 1.0) == pytest.approx(0.5)  # behind the first until 1.0
    assert queue.wait_s(1.5) == pytest.approx(0.5)  # looking does not queue
    assert queue.serve(1.5, 0.2) == pytest.approx(0.5)
    assert queue.serve(10.0, 0.1) == 0.0


def test_other_devices_load_make_ours_wait_as_queueing_theory_says() -> None:
    # Poisson arrivals at 100/s of 5 ms jobs: utilisation 0.5, an M/M/1 wait of 5 ms.
    queue = EdgeQueue(rate_per_s=100.0, service_s=0.005, seed=1)
    # A zero-length job of ours sees the queue without changing it.
    waits = [queue.serve(float(t), 0.0) for t in np.arange(1.0, 400.0, 0.37)]
    assert 0.0035 < float(np.mean(waits)) < 0.0065
    assert 0.35 < float(np.mean(np.array(waits) > 0)) < 0.65  # P(wait) = utilisation


def test_the_backlog_now_leaves_out_only_the_jobs_still_to_come() -> None:
    """``oracle-now`` reads the queue as it stands when a request is decided: never more wait
    than the realised one (later jobs only add to it), the same where none arrive between."""
    queue = EdgeQueue(rate_per_s=150.0, service_s=0.005, seed=2)
    later = 0
    for t in np.arange(1.0, 60.0, 0.05):
        queue.advance(float(t))
        now, realised = queue.backlog_s(float(t), float(t) + 0.02), queue.wait_s(float(t) + 0.02)
        assert now <= realised + 1e-12
        later += realised > now + 1e-9
    assert later > 100, "jobs arriving within 20 ms do add to the wait"
    idle = EdgeQueue(rate_per_s=0.0, service_s=1.0, seed=0)
    idle.serve(0.0, 1.0)
    assert idle.backlog_s(0.1, 0.5) == pytest.approx(idle.wait_s(0.5)) == pytest.approx(0.5)


def test_the_mean_cross_traffic_factor_is_the_draws_mean() -> None:
    from sciot.sim.world import _mean_cross_factor

    rng = np.random.default_rng(0)
    for share in (0.2, 0.5):
        draws = np.minimum(0.95, rng.uniform(0.0, 2 * share, 400_000))
        assert _mean_cross_factor(share) == pytest.approx(float(np.mean(1 / (1 - draws))), rel=0.01)


def test_thermal_heats_while_busy_and_cools_while_idle() -> None:
    thermal = Thermal(Effects(thermal_tau_s=1.0, thermal_onset=0.5, thermal_max_slowdown=3.0))
    assert thermal.factor(0.0) == 1.0
    thermal.run(0.0, 5.0)  # five time constants of work: almost fully hot
    assert thermal.factor(5.0) == pytest.approx(3.0, rel=0.03)
    assert 1.0 < thermal.factor(5.5) < thermal.factor(5.0)
    assert thermal.factor(20.0) == pytest.approx(1.0)
    assert Thermal(Effects()).factor(3.0) == 1.0


def test_each_effect_is_named_and_checked() -> None:
    assert Effects().active == ()
    effects = Effects(request_overhead_s=0.001, edge_load_per_s=5, thermal_tau_s=2)
    assert effects.active == ("request_overhead", "edge_load", "thermal")
    assert effects.overhead_s(2_000_000) == pytest.approx(0.001)
    assert Effects(serialise_s_per_mb=0.01).overhead_s(500_000) == pytest.approx(0.005)
    with pytest.raises(ConfigError, match="cross_traffic"):
        Effects(cross_traffic=1.0)
    with pytest.raises(ConfigError, match="thermal_max_slowdown"):
        Effects(thermal_max_slowdown=0.5)


def test_world_adds_overhead_and_queue_and_the_oracle_sees_them() -> None:
    env = synthetic_environment(noise_cv=0.0)
    plain = World(env, Effects(), seed=0)
    loaded = World(env, Effects(request_overhead_s=0.004, edge_load_per_s=0.0), seed=0)
    rng = np.random.default_rng(0)
    a = plain.run(5, 0.0, rng).outcome
    b = loaded.run(5, 0.0, np.random.default_rng(0)).outcome
    assert b.latency_s - a.latency_s == pytest.approx(0.004)
    assert b.network_s - a.network_s == pytest.approx(0.004)
    assert loaded.expected_latency_s(5, 1.0) - plain.expected_latency_s(5, 1.0) == pytest.approx(
        0.004
    )
    # Device-only requests pay no request overhead.
    assert loaded.expected_latency_s(20, 1.0) == plain.expected_latency_s(20, 1.0)


def test_thermal_world_slows_a_busy_device_and_the_oracle_knows() -> None:
    env = synthetic_environment(noise_cv=0.0)
    world = World(env, Effects(thermal_tau_s=2.0, thermal_onset=0.2), seed=0)
    rng = np.random.default_rng(0)
    now_s, first = 0.0, None
    for _ in range(200):
        outcome = world.run(20, now_s, rng).outcome
        first = first or outcome.latency_s
        now_s += outcome.latency_s
    assert outcome.latency_s > 1.5 * first
    assert world.expected_latency_s(20, now_s) == pytest.approx(outcome.latency_s, rel=0.05)
    world.reset()
    assert world.expected_latency_s(20, 0.0) == pytest.approx(first)


def _fifo_violations(rows: list[dict[str, str]]) -> list[str]:
    """Rebuild the edge's schedule from the rows: each request starts when it arrived or when
    the one before it left, whichever is later, and waits exactly that long."""
    jobs = sorted(
        (
            float(r["start_s"]) * 1e3 + float(r["device_ms"]) + (float(r["network_ms"])) / 2,
            float(r["queue_ms"]),
            float(r["edge_ms"]),
        )
        for r in rows
        if int(r["uplink_bytes"]) > 0 and r["failed"] == "False"
    )
    free_ms, bad = 0.0, []
    for arrival, queue, edge in jobs:
        expected = max(0.0, free_ms - arrival)
        if abs(queue - expected) > 1e-3:
            bad.append(f"arrival {arrival:.3f} waited {queue:.3f}, FIFO says {expected:.3f}")
        free_ms = arrival + expected + edge
    return bad


def test_clients_sharing_the_edge_queue_in_arrival_order(tmp_path: Path) -> None:
    # An edge that takes 30 ms per request: three clients ask more of it than it can give.
    slow_edge = replace(TINY, op_s=tuple(5e-3 for _ in TINY.op_s))
    run_simulation(
        RunConfig(
            scenarios=("multi_client_baseline",),
            policies=("edge-only",),
            device="rpi4",
            requests=200,
            duration_s=3.0,
            think_s=0.0,
        ),
        tmp_path,
        model=slow_edge,
    )
    rows = read_csv(tmp_path / "multi_client_baseline.csv")
    assert {r["client"] for r in rows} == {"client-0", "client-1", "client-2"}
    waited = [float(r["queue_ms"]) for r in rows if float(r["queue_ms"]) > 0]
    assert len(waited) > len(rows) / 4, "three clients on one edge do wait for each other"
    assert _fifo_violations(rows) == []
    for r in rows:  # the wait is part of what the device saw
        parts = float(r["device_ms"]) + float(r["edge_ms"]) + float(r["network_ms"])
        assert float(r["latency_ms"]) == pytest.approx(parts + float(r["queue_ms"]), abs=1e-5)


def test_shared_edge_scenario_costs_the_edge_but_not_the_device(tmp_path: Path) -> None:
    config = RunConfig(
        scenarios=("baseline", "shared_edge", "request_overhead"),
        policies=("edge-only", "device-only"),
        requests=300,
        duration_s=6.0,
    )
    run_simulation(config, tmp_path, model=TINY)

    def mean(scenario: str, policy: str, column: str) -> float:
        rows = policy_rows(tmp_path / f"{scenario}.csv", policy)
        return float(np.mean([float(r[column]) for r in rows]))

    assert mean("shared_edge", "edge-only", "queue_ms") > 1.0
    assert mean("baseline", "edge-only", "queue_ms") == 0.0
    assert mean("shared_edge", "device-only", "latency_ms") == pytest.approx(
        mean("baseline", "device-only", "latency_ms"), rel=0.02
    )
    overhead = mean("request_overhead", "edge-only", "network_ms") - mean(
        "baseline", "edge-only", "network_ms"
    )
    # 2 ms per request + 5 ms/MB of the ~113 kB it moves.
    assert overhead == pytest.approx(2.0 + 5.0 * 0.1129, rel=0.05)


def test_every_policy_meets_request_i_with_the_same_draws(tmp_path: Path) -> None:
    # Common random numbers. Over a 20 ms link the device is best alone: Neurosurgeon runs
    # device-only as device-only does, but it also profiles (probes alongside, reports whose
    # round trips draw the link's delay). Request i must still cost both the same, draw for
    # draw: one generator for the whole run handed each request the draws its predecessors
    # left, and 267 of 296 requests then differed by luck alone.
    run_simulation(
        RunConfig(
            scenarios=("network_delay_20ms",),
            policies=("neurosurgeon", "device-only"),
            requests=300,
            duration_s=30.0,
        ),
        tmp_path,
        model=TINY,
    )
    profiled = policy_rows(tmp_path / "network_delay_20ms.csv", "neurosurgeon")
    alone = policy_rows(tmp_path / "network_delay_20ms.csv", "device-only")
    assert {r["cut"] for r in profiled} == {"6"}
    pairs = list(zip(profiled, alone, strict=False))
    assert len(pairs) > 250
    assert [a["latency_ms"] for a, _b in pairs] == [b["latency_ms"] for _a, b in pairs]
    assert len({a["latency_ms"] for a, _b in pairs}) > 100, "and the draws differ by request"
