"""Detectors: learn normal, fire on anomalies with a reason, survive a save/load."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from sciot.errors import SensorError
from sciot.sensors import (
    AlertGate,
    IsolationForestDetector,
    ReadingBatch,
    SensorInfo,
    StreamingDetector,
    WindowBuilder,
    WindowFeatures,
    load_detector,
)
from sciot.sensors._config import AlertConfig, DetectionConfig

INFO = SensorInfo(sensor_id="p1", sensor_type="pressure", unit="hPa", location="x")
RATE_HZ = 2.0


def _batch(sample_index: np.ndarray, values: np.ndarray) -> ReadingBatch:
    """Readings of INFO at the given sample indices (a hole in them is a gap in time)."""
    n = values.shape[0]
    return ReadingBatch(
        info=INFO,
        timestamp_s=1_000_000.0 + sample_index / RATE_HZ,
        value=values,
        seq=np.arange(n, dtype=np.int64),
        sent_s=np.zeros(n),
        received_s=np.zeros(n),
    )


def _windows(values: np.ndarray, start: int = 0, window: int = 32) -> WindowFeatures:
    sample_index = start + np.arange(values.shape[0])
    out = WindowBuilder(window=window, step=8).push(_batch(sample_index, values))
    assert out is not None
    return out


def _signal(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 1013.0 + 0.002 * np.arange(n) + rng.normal(0.0, 0.15, n)


@pytest.fixture(params=["streaming", "iforest"])
def detector(request: pytest.FixtureRequest) -> StreamingDetector | IsolationForestDetector:
    config = DetectionConfig(warmup_windows=30)
    if request.param == "iforest":
        pytest.importorskip("sklearn")
        return IsolationForestDetector(config, seed=1)
    return StreamingDetector(config)


def test_normal_signal_raises_nothing(detector: StreamingDetector) -> None:
    assert detector.process(_windows(_signal(3000, 1))) == []


SIGMA = 0.15  # the noise of _signal


def _inject(v: np.ndarray, kind: str) -> None:
    """Realistic sizes: a few noise sigma, not tens."""
    if kind == "level_shift":
        v[1500:1600] += 4.0 * SIGMA
    elif kind == "stuck":
        v[1500:1600] = v[1500]
    elif kind == "spike":
        v[1500] += 7.0 * SIGMA
    elif kind == "drift":
        v[1500:1650] += np.linspace(0.0, 5.0 * SIGMA, 150)
    else:
        v[1500:1580] += np.random.default_rng(9).normal(0.0, 4.0 * SIGMA, 80)


@pytest.mark.parametrize(
    ("kind", "features"),
    [
        ("level_shift", {"level"}),
        ("stuck", {"log_noise"}),
        ("spike", {"spike"}),
        ("drift", {"level", "slope"}),
        # The first window a burst reaches may see only a few wild readings: a spike.
        ("noise_burst", {"log_noise", "spike"}),
    ],
)
def test_realistic_anomalies_fire_with_a_reason(
    detector: StreamingDetector, kind: str, features: set[str]
) -> None:
    v = _signal(2000, 2)
    _inject(v, kind)
    findings = detector.process(_windows(v))
    assert findings, f"{detector.name} missed the {kind}"
    first = findings[0]
    end_s = 1_000_000.0 + 1650 / RATE_HZ
    assert 1_000_000.0 + 1500 / RATE_HZ <= first.timestamp_s <= end_s + 32 / RATE_HZ
    assert all(f.timestamp_s >= 1_000_000.0 + 1500 / RATE_HZ for f in findings)
    assert first.feature in features
    if kind not in ("drift", "noise_burst"):
        assert first.kind == kind  # kinds are hints; these two first look like others
    alerts = AlertGate(AlertConfig(cooldown_s=600.0), DetectionConfig()).admit(
        findings, raised_s=0.0
    )
    assert len(alerts) == 1  # de-duplicated by the cool-down
    assert "sigma" in alerts[0].reason and alerts[0].kind == first.kind
    assert first.feature.replace("log_noise", "noise").split("_")[0] in alerts[0].reason or (
        first.feature == "spike" and "noise" in alerts[0].reason
    )


def test_a_spike_below_its_threshold_is_not_an_anomaly() -> None:
    v = _signal(2000, 2)
    v[1500] += 3.0 * SIGMA  # within what 2,000 readings of noise reach on their own
    assert StreamingDetector(DetectionConfig(warmup_windows=30)).process(_windows(v)) == []


def test_thresholds_are_per_input() -> None:
    v = _signal(2000, 2)
    _inject(v, "spike")
    strict = DetectionConfig(warmup_windows=30, spike_threshold=20.0)
    assert StreamingDetector(strict).process(_windows(v)) == []
    assert StreamingDetector(DetectionConfig(warmup_windows=30)).process(_windows(v))


def test_a_drift_is_not_learnt_as_the_new_normal() -> None:
    # Learning waits learn_delay_windows, so the drift's gentle start is never learnt.
    v = _signal(2400, 3)
    v[1500:1700] += np.linspace(0.0, 4.0 * SIGMA, 200)
    detector = StreamingDetector(DetectionConfig(warmup_windows=30))
    findings = detector.process(_windows(v))
    assert findings and findings[0].timestamp_s <= 1_000_000.0 + 1700 / RATE_HZ
    baseline = detector.baselines["p1"]
    assert baseline.ready and baseline.frozen == 0  # back to normal after the drift


def test_dropout_is_a_rule(detector: StreamingDetector) -> None:
    v = _signal(800, 3)
    t_idx = np.concatenate([np.arange(400), np.arange(460, 860)])
    out = WindowBuilder(window=32, step=8).push(_batch(t_idx, v))
    assert out is not None
    findings = detector.process(out)
    assert findings and all(f.kind == "dropout" for f in findings)
    assert findings[0].value == pytest.approx(61.0)


def test_saved_state_reloads_and_behaves_the_same(
    detector: StreamingDetector, tmp_path: Path
) -> None:
    v = _signal(4000, 4)
    v[3000:3100] += 2.0
    detector.process(_windows(v[:2000]))
    path = tmp_path / "det.pkl"
    detector.save(path)
    assert (tmp_path / "det.pkl.json").exists()
    again = load_detector(path)
    assert again.name == detector.name
    rest = _windows(v, window=32)
    later = WindowFeatures(
        info=rest.info,
        end_s=rest.end_s[rest.end_s > 1_000_000.0 + 2000 / RATE_HZ],
        sent_s=rest.sent_s[rest.end_s > 1_000_000.0 + 2000 / RATE_HZ],
        values=rest.values[rest.end_s > 1_000_000.0 + 2000 / RATE_HZ],
    )
    assert detector.process(later) == again.process(later)


def test_state_saved_before_the_detection_modules_split_still_loads(tmp_path: Path) -> None:
    # Earlier versions defined Baseline in sciot.sensors._detect, so their pickles name it
    # there; protocol 2 writes that name as plain text, which lets the test write one.
    detector = StreamingDetector(DetectionConfig(warmup_windows=30))
    v = _signal(4000, 4)
    detector.process(_windows(v[:2000]))
    path = tmp_path / "det.pkl"
    detector.save(path)
    saved = pickle.loads(path.read_bytes())
    old = pickle.dumps(saved, protocol=2)
    assert b"sciot.sensors._baseline\nBaseline" in old
    path.write_bytes(old.replace(b"sciot.sensors._baseline\n", b"sciot.sensors._detect\n"))
    again = load_detector(path)
    later = _windows(v[2000:], start=2000)
    assert detector.process(later) == again.process(later)


def test_load_rejects_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(SensorError, match="cannot load"):
        load_detector(tmp_path / "missing.pkl")
    bogus = tmp_path / "bogus.pkl"
    bogus.write_bytes(pickle.dumps({"hello": 1}))
    (tmp_path / "bogus.pkl.json").write_text('{"format": "other"}', encoding="utf-8")
    with pytest.raises(SensorError, match="not a saved sciot detector"):
        load_detector(bogus)


def test_warm_up_ending_on_the_last_window_of_a_block(
    detector: StreamingDetector,
) -> None:
    # 30 warm-up windows end exactly with the block: nothing is left to score in it.
    v = _signal(32 + 29 * 8, 5)
    assert detector.process(_windows(v)) == []
    assert detector.baselines["p1"].ready


def test_process_leaves_its_input_unchanged(detector: StreamingDetector) -> None:
    windows = _windows(_signal(1200, 6))
    before = windows.values.copy()
    detector.process(windows)
    np.testing.assert_array_equal(windows.values, before)


def test_severity_follows_the_deviation() -> None:
    gate = AlertGate(AlertConfig(cooldown_s=0.0), DetectionConfig(threshold=8, critical=16))
    v = _signal(2000, 8)
    v[1500:1600] += 0.25  # under 2 noise sigma: a mild shift
    v[1800:1900] += 6.0  # a severe one
    detector = StreamingDetector(DetectionConfig(warmup_windows=30))
    alerts = gate.admit(detector.process(_windows(v)), raised_s=0.0)
    severities = {a.severity for a in alerts}
    assert severities == {"warning", "critical"}
