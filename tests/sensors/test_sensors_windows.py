"""Windows and features on known signals; validation counts what it rejects."""

from __future__ import annotations

import numpy as np
import pytest

from sciot.sensors import FEATURE_NAMES, ReadingBatch, SensorInfo, WindowBuilder, compute_features

INFO = SensorInfo(sensor_id="s", sensor_type="vibration", unit="mm/s", location="x")


def _batch(t: np.ndarray, v: np.ndarray) -> ReadingBatch:
    n = t.shape[0]
    return ReadingBatch(
        info=INFO,
        timestamp_s=t.astype(np.float64),
        value=v.astype(np.float64),
        seq=np.arange(n, dtype=np.int64),
        sent_s=np.zeros(n),
        received_s=np.zeros(n),
    )


def _col(name: str) -> int:
    return FEATURE_NAMES.index(name)


def test_features_of_a_ramp() -> None:
    t = np.arange(16, dtype=np.float64)[None, :] * 0.5  # 2 Hz
    v = 3.0 + 0.25 * t  # 0.25 units per second
    f = compute_features(t, v)[0]
    assert f[_col("slope")] == pytest.approx(0.25)
    assert f[_col("rate_of_change")] == pytest.approx(0.25)
    assert f[_col("mean")] == pytest.approx(v.mean())
    assert f[_col("min")] == 3.0 and f[_col("max")] == pytest.approx(3.0 + 0.25 * 7.5)
    assert f[_col("std")] == pytest.approx(v.std())
    assert f[_col("gap_ratio")] == pytest.approx(1.0)


def test_features_of_a_constant_and_of_a_gap() -> None:
    t = np.array([[0.0, 1.0, 2.0, 3.0, 10.0, 11.0, 12.0, 13.0]])
    f = compute_features(t, np.full((1, 8), 7.0))[0]
    assert f[_col("std")] == 0.0 and f[_col("slope")] == 0.0
    assert f[_col("spectral_energy")] == 0.0
    assert f[_col("gap_ratio")] == pytest.approx(7.0)


def test_spectral_energy_separates_a_tone_from_broadband_noise() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(64, dtype=np.float64)[None, :] / 64.0
    tone = np.sin(2 * np.pi * 4 * t)  # low frequency, same variance as the noise below
    noise = rng.normal(0.0, np.sqrt(0.5), size=(1, 64))
    low = compute_features(t, tone)[0][_col("spectral_energy")]
    high = compute_features(t, noise)[0][_col("spectral_energy")]
    assert low < 1e-6 < high


def test_time_of_day_features() -> None:
    t = np.array([[0.0, 21_600.0]])  # window ends at 06:00 UTC
    f = compute_features(t, np.zeros((1, 2)))[0]
    assert f[_col("tod_sin")] == pytest.approx(1.0)
    assert f[_col("tod_cos")] == pytest.approx(0.0, abs=1e-12)


def test_windows_do_not_depend_on_batch_boundaries() -> None:
    t = np.arange(100, dtype=np.float64)
    v = np.sin(t / 5.0)
    whole = WindowBuilder(window=10, step=3).push(_batch(t, v))
    assert whole is not None
    pieces = WindowBuilder(window=10, step=3)
    got = []
    for lo, hi in ((0, 4), (4, 5), (5, 33), (33, 34), (34, 100)):
        out = pieces.push(_batch(t[lo:hi], v[lo:hi]))
        if out is not None:
            got.append(out)
    np.testing.assert_array_equal(np.concatenate([g.end_s for g in got]), whole.end_s)
    np.testing.assert_allclose(np.vstack([g.values for g in got]), whole.values)
    assert whole.end_s[0] == 9.0 and np.all(np.diff(whole.end_s) == 3.0)


def test_validation_counts_late_duplicate_and_out_of_range() -> None:
    builder = WindowBuilder(window=4, step=1, ranges={"s": (0.0, 10.0)})
    builder.push(_batch(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])))
    kept = builder.validate(
        _batch(np.array([3.0, 2.5, 4.0, 5.0, 6.0]), np.array([1.0, 1.0, 99.0, 1.0, 1.0]))
    )
    np.testing.assert_array_equal(kept.timestamp_s, [5.0, 6.0])
    c = builder.counts
    assert (c.readings, c.duplicate, c.late, c.out_of_range) == (5, 1, 1, 1)
