"""The simulated environment: true costs, the bandwidth model, steps, outages, validation."""

from __future__ import annotations

import numpy as np
import pytest

from sciot.delays import DelaySpec
from sciot.errors import ConfigError
from sciot.planner import Planner
from sciot.sim import (
    ComputeModel,
    LinkModel,
    LinkStep,
    NetworkEmulator,
    Window,
    drive,
    synthetic_environment,
)


def test_link_is_a_network_emulator_with_rate_limited_payloads() -> None:
    link = LinkModel(rtt_s=0.01, bytes_per_s=1e6)
    assert isinstance(link, NetworkEmulator)
    rng = np.random.default_rng(0)
    small = link.delay_s(1_000, 0.0, rng)
    big = link.delay_s(100_000, 0.0, rng)
    assert small == pytest.approx(0.011)
    assert big == pytest.approx(0.110)  # 100x the bytes, ~10x the time once the RTT is paid


def test_link_steps_and_outages() -> None:
    link = LinkModel(
        rtt_s=0.01,
        bytes_per_s=1e6,
        steps=(LinkStep(at_s=20.0, rtt_s=0.05), LinkStep(at_s=10.0, bytes_per_s=1e5)),
        outages=(Window(start_s=30.0, end_s=31.0),),
    )
    assert link.at(5.0) == (0.01, 1e6)
    assert link.at(15.0) == (0.01, 1e5)
    assert link.at(25.0) == (0.05, 1e5)
    assert link.is_down(30.5)
    assert not link.is_down(31.0)


def test_jitter_mean_matches_expected() -> None:
    link = LinkModel(rtt_s=0.0, bytes_per_s=1e9, jitter=DelaySpec.gaussian(0.02, 0.005))
    rng = np.random.default_rng(1)
    draws = [link.delay_s(0, 0.0, rng) for _ in range(5_000)]
    assert np.mean(draws) == pytest.approx(link.expected_s(0, 0.0), rel=0.01)


def test_compute_noise_stragglers_and_slowdown_have_the_expected_mean() -> None:
    model = ComputeModel(
        op_s=(0.001, 0.002),
        noise_cv=0.2,
        straggler_prob=0.05,
        straggler_factor=4.0,
        slowdowns=(Window(start_s=10.0, end_s=20.0, factor=3.0),),
    )
    rng = np.random.default_rng(2)
    draws = np.array([model.sample_op_s(0, 2, 15.0, rng) for _ in range(20_000)])
    assert draws.mean(axis=0) == pytest.approx(model.expected_op_s(15.0), rel=0.03)
    assert model.expected_op_s(15.0) == pytest.approx(3 * model.expected_op_s(5.0))
    assert np.all(draws > 0)


def test_expected_latency_matches_simulated_requests() -> None:
    env = synthetic_environment(
        noise_cv=0.1, straggler_prob=0.02, jitter=DelaySpec.exponential(0.01)
    )
    rng = np.random.default_rng(3)
    for cut in (0, 7, env.space.num_ops):
        latencies = [env.run(cut, 1.0, rng).latency_s for _ in range(3_000)]
        assert np.mean(latencies) == pytest.approx(env.expected_latency_s(cut, 1.0), rel=0.02)


def test_outage_falls_back_to_device_after_timeout() -> None:
    env = synthetic_environment(noise_cv=0.0, outages=(Window(start_s=0.0, end_s=1.0),))
    outcome = env.run(5, 0.5, np.random.default_rng(0))
    assert outcome.failed
    assert len(outcome.device_op_s) == env.space.num_ops
    assert outcome.latency_s == pytest.approx(env.expected_latency_s(env.space.num_ops, 0.5) + 0.5)


def test_feed_reports_what_a_device_and_edge_would() -> None:
    env = synthetic_environment(noise_cv=0.0)
    planner = Planner(env.space, "fixed:5")
    steps = drive(env, planner, requests=3)
    state = planner.state("device-0")
    assert state.device.count[:5].tolist() == [3] * 5
    assert state.device.count[5:].sum() == 0
    assert state.edge.count[5:].tolist() == [3] * (env.space.num_ops - 5)
    assert state.link.estimate(1.0).samples == 3
    assert steps[1].outcome.started_s == pytest.approx(max(0.1, steps[0].outcome.latency_s))


def test_device_only_reports_its_small_result_as_a_transfer() -> None:
    env = synthetic_environment(noise_cv=0.0)
    planner = Planner(env.space, "device-only")
    drive(env, planner, requests=2)
    # What SCIoT's speed estimate makes of it on a 2 MB/s link with a 5 ms round trip.
    assert planner.state("device-0").sciot_bytes_per_s == pytest.approx(256 / (0.005 + 256 / 2e6))
    assert planner.state("device-0").link.estimate(1.0).samples == 2


def test_validation_errors() -> None:
    with pytest.raises(ConfigError, match="end_s > start_s"):
        Window(start_s=2.0, end_s=1.0)
    with pytest.raises(ConfigError, match="bandwidth"):
        LinkModel(rtt_s=0.01, bytes_per_s=0.0)
    with pytest.raises(ConfigError, match="op_s"):
        ComputeModel(op_s=(0.001, -1.0))
    env = synthetic_environment()
    with pytest.raises(ConfigError, match="one time per op"):
        type(env)(space=env.space, device=ComputeModel(op_s=(0.001,)), edge=env.edge, link=env.link)
