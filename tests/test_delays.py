"""Delay distributions: validation, SCIoT-style settings and their statistics (seeded)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sciot.delays import DelaySpec
from sciot.errors import ConfigError

N = 20_000


def _draw(spec: DelaySpec, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([spec.sample(rng) for _ in range(N)])


def test_static_is_constant() -> None:
    samples = _draw(DelaySpec.static(0.005))
    assert np.all(samples == 0.005)


def test_gaussian_matches_mean_and_std() -> None:
    samples = _draw(DelaySpec.gaussian(0.020, 0.005))
    # Standard error of the mean is 0.005 / sqrt(N) ~ 3.5e-5; 5 sigma bounds.
    assert abs(samples.mean() - 0.020) < 5 * 0.005 / math.sqrt(N)
    assert abs(samples.std() - 0.005) < 0.0003


def test_gaussian_never_negative_and_expected_accounts_for_clipping() -> None:
    spec = DelaySpec.gaussian(0.040, 0.040)
    samples = _draw(spec)
    assert samples.min() >= 0.0
    assert (samples == 0.0).mean() > 0.1  # about 16% of draws fall below zero
    assert abs(samples.mean() - spec.expected_s) < 5 * 0.040 / math.sqrt(N)
    assert spec.expected_s > 0.040


def test_uniform_bounds_and_mean() -> None:
    samples = _draw(DelaySpec.uniform(0.010, 0.030))
    assert samples.min() >= 0.010
    assert samples.max() <= 0.030
    assert abs(samples.mean() - 0.020) < 0.0005
    # Flat: each quarter of the range holds about a quarter of the draws.
    counts, _ = np.histogram(samples, bins=4, range=(0.010, 0.030))
    assert np.all(np.abs(counts / N - 0.25) < 0.02)


def test_uniform_from_mean_and_std() -> None:
    spec = DelaySpec(kind="uniform", mean_s=0.020, std_s=0.005)
    samples = _draw(spec)
    assert abs(samples.std() - 0.005) < 0.0003
    assert abs(samples.mean() - spec.expected_s) < 0.0003


def test_exponential_mean_and_memoryless_tail() -> None:
    samples = _draw(DelaySpec.exponential(0.010))
    assert abs(samples.mean() - 0.010) < 5 * 0.010 / math.sqrt(N)
    # P(X > 2 mean) = e^-2 ~ 0.135.
    assert abs((samples > 0.020).mean() - math.exp(-2)) < 0.015


def test_same_seed_same_draws() -> None:
    spec = DelaySpec.gaussian(0.02, 0.01)
    assert np.array_equal(_draw(spec, seed=7)[:50], _draw(spec, seed=7)[:50])
    assert not np.array_equal(_draw(spec, seed=7)[:50], _draw(spec, seed=8)[:50])


def test_from_mapping_reads_sciot_keys() -> None:
    spec = DelaySpec.from_mapping({"type": "gaussian", "mean": 0.02, "std_dev": 0.005})
    assert spec == DelaySpec.gaussian(0.02, 0.005)
    off = DelaySpec.from_mapping({"enabled": False, "type": "gaussian", "mean": 0.02})
    assert off.sample(np.random.default_rng(0)) == 0.0
    assert DelaySpec.from_mapping({"type": "uniform", "low": 0.01, "high": 0.03}).expected_s == (
        pytest.approx(0.02)
    )


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"type": "gaussian", "mean": 0.02, "stddev": 0.005}, "'stddev'"),
        ({"type": "poisson", "mean": 0.02}, "'poisson'"),
        ({"type": "gaussian", "mean": -0.01}, "mean_s"),
        ({"type": "static", "mean": "fast"}, "'mean_s'"),
        ({"type": "uniform", "low": 0.03, "high": 0.01}, "low_s <= high_s"),
        ({"type": "static", "mean": float("nan")}, "mean_s"),
    ],
)
def test_bad_settings_name_what_is_wrong(settings: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        DelaySpec.from_mapping(settings)


def test_describe() -> None:
    assert DelaySpec.gaussian(0.02, 0.005).describe() == "gaussian(20±5 ms)"
