"""Scenarios, device profiles and the runner: isolation, outputs, the bandwidth model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sim_testkit import TINY, policy_rows, read_csv

from sciot.delays import DelaySpec
from sciot.errors import ConfigError
from sciot.sim import (
    DEPARTURE_SCENARIOS,
    DEVICE_PROFILES,
    DYNAMIC_SCENARIOS,
    RUN_POLICIES,
    SCENARIOS,
    STEADY_SCENARIOS,
    RunConfig,
    build_environment,
    detect_kernel_netem,
    device_profile,
    run_simulation,
    scenario,
)

REQUIRED = (
    "scenario",
    "policy",
    "inferences",
    "mean_ms",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "inferences_per_s",
    "bytes_per_inference",
    "regret",
    "regret_dynamic",
    "seed",
)


def _config(**changes: object) -> RunConfig:
    base: dict[str, object] = {
        "scenarios": ("baseline", "bandwidth_drop"),
        "requests": 150,
        "duration_s": 6.0,
        "seed": 3,
    }
    base.update(changes)
    return RunConfig(**base)  # type: ignore[arg-type]


def test_catalogue_has_sciot_nine_and_four_dynamic() -> None:
    assert STEADY_SCENARIOS == (
        "baseline",
        "network_delay_20ms",
        "network_delay_50ms",
        "computation_delay_2ms",
        "computation_delay_5ms",
        "mobile_realistic",
        "unstable_network",
        "multi_client_baseline",
        "multi_client_network",
    )
    assert len(DYNAMIC_SCENARIOS) == 4
    assert DEPARTURE_SCENARIOS == (
        "request_overhead",
        "shared_edge",
        "thermal",
        "cross_traffic",
        "device_jitter",
    )
    assert all(SCENARIOS[name].effects.active for name in DEPARTURE_SCENARIOS)
    assert SCENARIOS["network_delay_20ms"].network_delay == DelaySpec.gaussian(0.020, 0.005)
    assert SCENARIOS["mobile_realistic"].computation_delay == DelaySpec.gaussian(0.003, 0.001)
    assert SCENARIOS["multi_client_network"].clients == 3
    with pytest.raises(ConfigError, match="unknown scenario"):
        scenario("rush_hour")


def test_profiles_scale_by_mac_rate() -> None:
    esp = device_profile("esp32-s3")
    # This machine runs TINY at 4 M MACs / 130 us ~ 31 GMAC/s; the ESP32-S3 at ~139 MMAC/s.
    factor = esp.scale(model_macs=TINY.macs, measured_total_s=TINY.total_s)
    assert factor == pytest.approx((4e6 / 130e-6) / (7.5e6 / 0.054))
    assert device_profile("this-machine").scale(model_macs=1, measured_total_s=1.0) == 1.0
    assert set(DEVICE_PROFILES) == {"esp32-s3", "rpi-zero-2w", "rpi4", "this-machine"}
    with pytest.raises(ConfigError, match="unknown device profile"):
        device_profile("pdp-11")


def test_space_of_a_model_profile_sends_nothing_device_only() -> None:
    space = TINY.space()
    assert space.crossing_bytes[-1] == 0
    assert space.result_bytes == 2_304


def test_simulator_never_plans_a_cut_the_edge_would_refuse() -> None:
    """Cut 4 is TINY's best on a slow device; blocked, no policy may pick it (SCIoT's, which
    the adaptive one is compared with, included), and every other cut stays available."""
    from dataclasses import replace

    from sciot.planner import Planner, make_policy
    from sciot.sim import drive

    blocked = replace(TINY, allowed=(True, True, True, True, False, True, True))
    env = build_environment(
        blocked, device_profile("esp32-s3"), scenario("baseline"), _config(noise_cv=0.0)
    )
    assert env.space.allowed == (True, True, True, True, False, True, True)
    assert TINY.space().allowed is None
    for name in ("adaptive", "sciot", "neurosurgeon"):
        steps = drive(env, Planner(env.space, make_policy(name), seed=0), requests=200, seed=0)
        cuts = {step.decision.cut for step in steps}
        assert 4 not in cuts and cuts, name


def test_environment_bandwidth_makes_big_tensors_cost_more() -> None:
    env = build_environment(
        TINY, device_profile("esp32-s3"), scenario("baseline"), _config(noise_cv=0.0)
    )
    network = [env.expected_latency_s(k, 0.0) - env.expected_latency_s(6, 0.0) for k in (1, 3)]
    # Cut 1 sends 147 kB, cut 3 18 kB: the bigger transfer costs more, in proportion to bytes.
    assert network[0] > network[1]
    drop = build_environment(
        TINY, device_profile("esp32-s3"), scenario("bandwidth_drop"), _config()
    )
    assert drop.link.at(1.0)[1] == pytest.approx(10 * drop.link.at(3.0)[1])
    assert drop.link.at(5.0)[1] == drop.link.at(1.0)[1]


def test_run_writes_rows_summary_and_metadata(tmp_path: Path) -> None:
    result = run_simulation(_config(), tmp_path, model=TINY)
    summary = read_csv(tmp_path / "summary.csv")
    assert set(REQUIRED) <= set(summary[0])
    assert {(r["scenario"], r["policy"]) for r in summary} == {
        (s, p) for s in ("baseline", "bandwidth_drop") for p in RUN_POLICIES
    }
    rows = read_csv(tmp_path / "baseline.csv")
    adaptive = [r for r in rows if r["policy"] == "adaptive"]
    assert len(adaptive) == int(
        next(r for r in summary if r["policy"] == "adaptive" and r["scenario"] == "baseline")[
            "inferences"
        ]
    )
    assert [int(r["index"]) for r in adaptive] == list(range(len(adaptive)))
    for row in summary:
        if row["policy"] == "oracle":
            assert float(row["regret"]) == pytest.approx(1.0)
        if row["policy"] == "oracle-dynamic":
            assert float(row["regret_dynamic"]) == pytest.approx(1.0)
        # No policy beats the per-request bound by more than noise.
        assert float(row["regret_dynamic"]) > 0.97
        assert row["emulation"] == "in-process virtual clock"
        assert row["seed"] == "3"
    assert {r["seed"] for r in rows} == {"3"}
    meta = json.loads((tmp_path / "run.json").read_text())
    assert meta["emulation"] == "in-process virtual clock"
    assert meta["seeds"] == [3] and meta["requests"] == 150
    assert meta["policies"] == list(RUN_POLICIES)
    assert set(meta["scenarios"]) == {"baseline", "bandwidth_drop"}
    assert meta["kernel_netem"]["used"] is False
    assert result.wall_s > 0


def test_each_run_is_bounded_by_requests_and_duration(tmp_path: Path) -> None:
    run_simulation(
        _config(scenarios=("baseline",), requests=40, duration_s=100.0), tmp_path, model=TINY
    )
    rows = read_csv(tmp_path / "baseline.csv")
    assert all(int(r["index"]) < 40 for r in rows)
    run_simulation(
        _config(scenarios=("baseline",), requests=10_000, duration_s=0.5), tmp_path, model=TINY
    )
    rows = read_csv(tmp_path / "baseline.csv")
    assert max(float(r["start_s"]) for r in rows) < 0.5


def test_scenarios_and_policies_are_isolated(tmp_path: Path) -> None:
    together = tmp_path / "together"
    alone = tmp_path / "alone"
    solo = tmp_path / "solo"
    run_simulation(_config(scenarios=("bandwidth_drop", "baseline")), together, model=TINY)
    run_simulation(_config(scenarios=("baseline",)), alone, model=TINY)
    run_simulation(_config(scenarios=("baseline",), policies=("adaptive",)), solo, model=TINY)
    # Same scenario, same seed, fresh state: identical rows whatever ran before it.
    shared = policy_rows(together / "baseline.csv", "adaptive")
    assert shared == policy_rows(alone / "baseline.csv", "adaptive")
    # Alone, a policy is not cut to the others' common span, but what overlaps is the same.
    assert shared == policy_rows(solo / "baseline.csv", "adaptive")[: len(shared)]


def test_adaptive_beats_sciot_in_bandwidth_drop_and_recovers(tmp_path: Path) -> None:
    run_simulation(
        _config(scenarios=("bandwidth_drop",), requests=3000, duration_s=30.0), tmp_path, model=TINY
    )
    summary = {r["policy"]: float(r["mean_ms"]) for r in read_csv(tmp_path / "summary.csv")}
    assert summary["adaptive"] < summary["sciot"]

    def mean_after_recovery(policy: str) -> float:
        rows = policy_rows(tmp_path / "bandwidth_drop.csv", policy)
        return float(np.mean([float(r["latency_ms"]) for r in rows if float(r["start_s"]) > 21]))

    assert mean_after_recovery("adaptive") <= 1.05 * mean_after_recovery("oracle")


def test_bad_config_is_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown policy"):
        RunConfig(policies=("greedy",))
    with pytest.raises(ConfigError, match="requests"):
        RunConfig(requests=0)


def test_netem_detection_reports_a_reason() -> None:
    support = detect_kernel_netem()
    assert isinstance(support.available, bool)
    assert support.reason


def test_real_model_profile_with_litert() -> None:
    from sciot.model import demo_model_path
    from sciot.sim import profile_model

    profile = profile_model(demo_model_path("fomo96"), repeats=3)
    assert profile.num_ops == len(profile.crossing_bytes) - 1
    # Every cut of the FOMO model passes the run check, so the space allows them all.
    assert profile.allowed == (True,) * (profile.num_ops + 1)
    assert profile.space().allowed == profile.allowed
    assert all(s > 0 for s in profile.op_s)
    assert profile.macs > 0
    assert np.isfinite(profile.total_s)


def test_best_fixed_cut_holds_only_allowed_cuts(tmp_path: Path) -> None:
    """The bound is a cut the edge would serve: TINY's best (cut 4) blocked, the oracle holds
    another one, and no fixed baseline beats it."""
    from dataclasses import replace

    blocked = replace(TINY, allowed=(True, True, True, True, False, True, True))
    config = _config(
        scenarios=("baseline",), policies=("device-only", "edge-only", "oracle"), requests=300
    )
    run_simulation(config, tmp_path, model=blocked)
    assert 4 not in {int(r["cut"]) for r in policy_rows(tmp_path / "baseline.csv", "oracle")}
    summary = {r["policy"]: float(r["mean_ms"]) for r in read_csv(tmp_path / "summary.csv")}
    assert summary["oracle"] <= min(summary["device-only"], summary["edge-only"])


def test_knowing_only_the_present_is_no_match_for_the_realised_world(tmp_path: Path) -> None:
    """``oracle-now`` decides on the edge queue as it stands, not on the jobs that reach it
    while the request is on its way: it waits longer than the dynamic oracle. Live runs,
    which have no world to read, refuse it by name."""
    config = _config(
        scenarios=("shared_edge",), policies=("oracle-now", "oracle-dynamic"), requests=400
    )
    run_simulation(config, tmp_path, model=TINY)
    rows = {
        p: policy_rows(tmp_path / "shared_edge.csv", p) for p in ("oracle-now", "oracle-dynamic")
    }
    queue = {p: float(np.mean([float(r["queue_ms"]) for r in rs])) for p, rs in rows.items()}
    assert queue["oracle-now"] > queue["oracle-dynamic"]
    with pytest.raises(ConfigError, match="oracle-now"):
        run_simulation(_config(policies=("oracle-now",), emulation="live"), tmp_path / "live")


def test_a_saved_profile_reproduces_a_run(tmp_path: Path) -> None:
    """A profile written once gives the same rows when read back; a broken file is refused
    with what is wrong and what to do."""
    from sciot.sim import load_profile, save_profile

    save_profile(TINY, tmp_path / "tiny.json")
    assert load_profile(tmp_path / "tiny.json") == TINY
    config = _config(scenarios=("baseline",), policies=("adaptive",), requests=200)
    run_simulation(config, tmp_path / "a", model=TINY)
    run_simulation(config, tmp_path / "b", model=load_profile(tmp_path / "tiny.json"))
    assert policy_rows(tmp_path / "a" / "baseline.csv", "adaptive") == policy_rows(
        tmp_path / "b" / "baseline.csv", "adaptive"
    )
    (tmp_path / "bad.json").write_text('{"name": "x", "op_s": [1e-3]}')
    with pytest.raises(ConfigError, match=r"is not a model profile.*profile the model anew"):
        load_profile(tmp_path / "bad.json")
    (tmp_path / "short.json").write_text(
        '{"name": "x", "op_s": [1e-3, 1e-3], "crossing_bytes": [4, 0], "output_bytes": 1, '
        '"macs": 1}'
    )
    with pytest.raises(ConfigError, match="needs 3 crossing sizes"):
        load_profile(tmp_path / "short.json")
