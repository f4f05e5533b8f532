"""Per-op estimators, change and variance detection, and the link fit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sciot.errors import PlannerError
from sciot.planner import Ewma, LinkEstimator, OpTimes, PageHinkley


def test_ewma_tracks_mean_variance_and_age() -> None:
    ewma = Ewma(0.1)
    rng = np.random.default_rng(0)
    for i in range(2000):
        ewma.update(float(rng.normal(5.0, 1.0)), now_s=float(i))
    est = ewma.estimate()
    assert est.mean == pytest.approx(5.0, abs=0.3)
    assert est.variance == pytest.approx(1.0, rel=0.35)
    assert est.count == 2000
    assert est.last_s == 1999.0
    with pytest.raises(PlannerError):
        Ewma(0.0)


def test_page_hinkley_ignores_noise_and_catches_shift() -> None:
    detector = PageHinkley()
    rng = np.random.default_rng(1)
    false_alarms = sum(detector.update(float(rng.normal())) for _ in range(10_000))
    assert false_alarms <= 3
    detector.reset()
    alarms = [detector.update(5.0) for _ in range(5)]
    assert alarms.index(True) == 3  # fourth sample after the shift


def test_page_hinkley_single_spike_is_not_a_change() -> None:
    detector = PageHinkley()
    assert not detector.update(50.0)
    assert not detector.update(0.0)
    assert not detector.update(0.0)


def test_op_times_change_resets_to_new_level() -> None:
    ops = OpTimes(2, alpha=0.1)
    rng = np.random.default_rng(2)
    for i in range(100):
        ops.update({0: float(rng.normal(1e-3, 2e-5)), 1: 2e-3}, now_s=float(i))
    shifted = []
    for i in range(100, 105):
        shifted += ops.update({0: 4e-3}, now_s=float(i))
    assert shifted == [0]
    # Plain EWMA with alpha 0.1 would still be near 2.2e-3 after five samples.
    assert ops.estimate(now_s=105.0).mean_s[0] == pytest.approx(4e-3, rel=0.05)
    assert ops.estimate(now_s=105.0).age_s.tolist() == [1.0, 6.0]


def test_op_times_variance_rule_flags_op_and_next() -> None:
    ops = OpTimes(4)
    for i in range(10):
        jitter = 1e-3 if i % 2 else 3e-3  # CV = 0.5 on op 1
        ops.update({0: 1e-3, 1: jitter, 2: 1e-3, 3: 1e-3}, now_s=float(i))
    assert ops.estimate(now_s=10.0).unstable.tolist() == [False, True, True, False]


def test_op_times_stable_under_small_noise() -> None:
    ops = OpTimes(3)
    rng = np.random.default_rng(3)
    for i in range(30):
        ops.update({k: float(rng.normal(1e-3, 5e-5)) for k in range(3)}, now_s=float(i))
    assert not ops.estimate(now_s=30.0).unstable.any()


@pytest.mark.parametrize(
    ("observation", "fragment"),
    [({5: 1e-3}, "out of range"), ({0: -1e-3}, ">= 0"), ({0: math.nan}, "finite")],
)
def test_op_times_rejects_bad_observations(observation: dict[int, float], fragment: str) -> None:
    with pytest.raises(PlannerError, match=fragment):
        OpTimes(2).update(observation, now_s=0.0)


def _transfer_s(payload_bytes: int, rng: np.random.Generator) -> float:
    return 0.010 + payload_bytes / 1e6 + float(rng.normal(0, 2e-4))


def test_link_single_size_never_sets_bandwidth() -> None:
    link = LinkEstimator(prior_bytes_per_s=5e5)
    link.update(100, 0.020, now_s=0.0)  # small message, mostly round trip
    est = link.estimate(now_s=0.0)
    assert not est.identified
    # SCIoT would conclude 100 B / 20 ms = 5 kB/s; the fit keeps the prior instead.
    assert est.bytes_per_s == pytest.approx(5e5)
    assert est.rtt_s == pytest.approx(0.020 - 100 / 5e5)


def test_link_fits_rtt_and_bandwidth_from_two_sizes() -> None:
    link = LinkEstimator()
    rng = np.random.default_rng(4)
    for i in range(12):
        size = 200 if i % 2 else 50_000
        link.update(size, _transfer_s(size, rng), now_s=float(i))
    est = link.estimate(now_s=12.0)
    assert est.identified
    assert est.rtt_s == pytest.approx(0.010, abs=5e-4)
    assert est.bytes_per_s == pytest.approx(1e6, rel=0.05)


def test_link_fit_is_robust_to_an_outlier() -> None:
    link = LinkEstimator()
    rng = np.random.default_rng(5)
    for i in range(12):
        size = 200 if i % 2 else 50_000
        link.update(size, _transfer_s(size, rng), now_s=float(i))
    link.update(200, 0.5, now_s=12.0)  # one retransmission-delayed transfer
    assert link.estimate(now_s=12.0).bytes_per_s == pytest.approx(1e6, rel=0.1)


@pytest.mark.parametrize("seconds", [0.0, -0.003, math.inf, math.nan])
def test_link_rejects_skewed_durations(seconds: float) -> None:
    with pytest.raises(PlannerError, match="duration"):
        LinkEstimator().update(1000, seconds, now_s=0.0)


def test_link_change_drops_old_regime() -> None:
    link = LinkEstimator()
    rng = np.random.default_rng(6)
    for i in range(20):
        size = 200 if i % 2 else 50_000
        link.update(size, _transfer_s(size, rng), now_s=float(i))
    changed = [link.update(50_000, 0.010 + 50_000 / 1e5, now_s=20.0 + i) for i in range(5)]
    assert any(changed)
    # Only the new regime's size is left: not identified until another size is seen.
    assert not link.estimate(now_s=23.0).identified
    link.update(200, 0.010 + 200 / 1e5, now_s=24.0)
    link.update(200, 0.010 + 200 / 1e5, now_s=25.0)
    assert link.estimate(now_s=25.0).bytes_per_s == pytest.approx(1e5, rel=0.05)


def test_link_guessed_slope_errors_are_no_change_once_a_line_is_fitted() -> None:
    """Exact transfers on one line (3 ms + bytes / 2.5 MB/s), begun with a prior slope 2.5
    times too steep: the residuals against the guess must not carry over into the change
    test of the fitted line, or they drift it to a false alarm, the history is dropped and
    the link is unidentified again (which made every offloaded cut worth a probe)."""
    link = LinkEstimator(prior_bytes_per_s=1e6)

    def exact(size: int) -> float:
        return 0.003 + size / 2.5e6

    sizes = [27_648, 4_608, 20_736, 20_736, 112_896] + [20_736] * 30
    changed = [link.update(size, exact(size), now_s=0.05 * i) for i, size in enumerate(sizes)]
    assert not any(changed)
    estimate = link.estimate(now_s=2.0)
    assert estimate.identified
    assert estimate.bytes_per_s == pytest.approx(2.5e6, rel=1e-6)


def _cross_traffic_s(size: int, rng: np.random.Generator) -> float:
    """A transfer on a 2.5 MB/s link of which other traffic takes a uniform random share."""
    share = min(0.95, float(rng.uniform(0.0, 1.0)))
    return 0.003 + size / 2.5e6 / (1.0 - share)


def test_link_skewed_noise_is_not_a_string_of_changes() -> None:
    """Other traffic only ever slows a transfer down: its residuals average above their
    median, and the change test must not read that skew as shift after shift; a real
    three-fold slow-down is still caught within a few transfers."""
    link = LinkEstimator(prior_bytes_per_s=2.5e6)
    rng = np.random.default_rng(11)
    sizes = (2_304, 20_736)
    for i in range(2_000):
        size = sizes[i % 2]
        link.update(size, _cross_traffic_s(size, rng), now_s=i * 0.05)
    # About one false change in 125 transfers (29 without the skew correction, on this seed).
    assert link.changes <= 20
    before = link.changes
    for i in range(12):
        size = sizes[i % 2]
        link.update(size, 3 * _cross_traffic_s(size, rng), now_s=100.0 + i * 0.05)
    assert link.changes > before


def test_link_optimistic_bound_covers_every_consistent_line() -> None:
    link = LinkEstimator()
    link.update(10_000, 0.030, now_s=0.0)
    sizes = np.array([1_000.0, 10_000.0, 100_000.0])
    optimistic = link.optimistic_network_s(sizes)
    assert optimistic.tolist() == pytest.approx([0.003, 0.030, 0.030])
    # Any rtt + bytes/bw through (10 kB, 30 ms) is at least the bound.
    for rtt in (0.0, 0.01, 0.029):
        rate = 10_000 / (0.030 - rtt)
        assert np.all(rtt + sizes / rate >= optimistic - 1e-12)
