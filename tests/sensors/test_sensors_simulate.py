"""Simulated signals: realistic shapes, labelled anomalies, determinism."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sciot.errors import ConfigError
from sciot.sensors import (
    ANOMALY_KINDS,
    ReadingBatch,
    SensorType,
    Simulator,
    parse_config,
    register_sensor_type,
)


def _config(**extra: Any) -> Any:
    doc: dict[str, Any] = {
        "seed": 3,
        "sensors": [
            {"id": "t", "type": "temperature", "location": "a", "rate_hz": 1.0},
            {"id": "h", "type": "humidity", "location": "a", "rate_hz": 1.0},
            {"id": "v", "type": "vibration", "location": "a", "rate_hz": 20.0},
        ],
    }
    doc.update(extra)
    return parse_config(doc)


def _by_id(batches: list[ReadingBatch]) -> dict[str, ReadingBatch]:
    return {b.info.sensor_id: b for b in batches}


def test_same_seed_same_values_whatever_the_chunking() -> None:
    one = Simulator(_config())
    whole = _by_id(one.advance(one.start_s + 2000.0))
    two = Simulator(_config())
    parts: dict[str, list[np.ndarray]] = {}
    for k in range(1, 21):
        for b in two.advance(two.start_s + 100.0 * k):
            parts.setdefault(b.info.sensor_id, []).append(b.value)
    for sensor_id, batch in whole.items():
        np.testing.assert_array_equal(np.concatenate(parts[sensor_id]), batch.value)

    def order(e: Any) -> tuple[str, float]:
        return (e.sensor_id, e.start_s)

    assert sorted(one.events, key=order) == sorted(two.events, key=order)


def test_daily_cycle_and_location_correlation() -> None:
    config = _config(anomalies={"kinds": []})
    sim = Simulator(config)
    batches = _by_id(sim.advance(sim.start_s + 86_400.0))
    temp, hum = batches["t"], batches["h"]
    hour = np.mod(temp.timestamp_s, 86_400.0) / 3600.0
    afternoon = temp.value[(hour > 14) & (hour < 16)].mean()
    night = temp.value[(hour > 2) & (hour < 4)].mean()
    assert afternoon > night + 2.0
    # Humidity at the same location falls when temperature rises.
    assert np.corrcoef(temp.value, hum.value)[0, 1] < -0.8
    assert temp.info.unit == "°C" and temp.info.location == "a"


def test_anomalies_are_labelled_and_injected() -> None:
    config = _config(anomalies={"warmup_s": 10, "mean_gap_s": 60, "min_gap_s": 30})
    sim = Simulator(config)
    batches = _by_id(sim.advance(sim.start_s + 3600.0))
    events = sim.events
    assert {e.kind for e in events} == set(ANOMALY_KINDS)
    assert all(e.start_s >= sim.start_s + 10 for e in events)
    t = batches["t"]
    for e in events:
        if e.sensor_id != "t":
            continue
        inside = (t.timestamp_s >= e.start_s) & (t.timestamp_s <= e.end_s)
        if e.kind == "dropout":
            assert not inside.any()
        if e.kind == "stuck":
            assert np.unique(t.value[inside]).size == 1
    # seq counts readings sent: a dropout leaves a hole in time, none in seq.
    dropouts = [e for e in events if e.kind == "dropout" and e.sensor_id == "t"]
    assert dropouts
    np.testing.assert_array_equal(np.diff(t.seq), 1)
    assert np.diff(t.timestamp_s).max() >= 10.0  # the shortest default dropout, at 1 Hz


def test_magnitudes_and_spans_follow_the_config() -> None:
    anomalies = {
        "warmup_s": 10,
        "mean_gap_s": 60,
        "min_gap_s": 30,
        "magnitude": {"spike": [5, 5], "level_shift": [3, 3], "drift": [4, 4]},
        "span_samples": {"level_shift": [50, 50], "stuck": [30, 40]},
    }
    sim = Simulator(_config(anomalies=anomalies))
    sim.advance(sim.start_s + 7200.0)
    noise = {"t": 0.1, "h": 0.4, "v": 0.3}
    rate = {"t": 1.0, "h": 1.0, "v": 20.0}
    seen = set()
    for e in sim.events:
        seen.add(e.kind)
        size = abs(e.magnitude) / noise[e.sensor_id]
        samples = round((e.end_s - e.start_s) * rate[e.sensor_id]) + 1
        if e.kind == "spike":
            assert size == pytest.approx(5.0) and samples in (1, 2)
        elif e.kind == "level_shift":
            assert size == pytest.approx(3.0) and samples == 50
        elif e.kind == "drift":
            assert size == pytest.approx(4.0) and 80 <= samples <= 200
        elif e.kind == "stuck":
            assert 30 <= samples <= 40
        elif e.kind == "noise_burst":
            assert 3.0 <= size <= 5.0 and e.magnitude > 0
    assert seen == set(ANOMALY_KINDS)


@pytest.mark.parametrize(
    ("anomalies", "needle"),
    [
        ({"magnitude": {"spike": [8, 4]}}, "magnitude.spike"),
        ({"magnitude": {"drift": [0, 4]}}, "magnitude.drift"),
        ({"span_samples": {"stuck": [0, 10]}}, "span_samples.stuck"),
        ({"magnitude": {"stuck": [1, 2]}}, "stuck"),
    ],
)
def test_bad_magnitudes_are_config_errors(anomalies: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        _config(anomalies=anomalies)


def test_new_sensor_type_is_a_small_class() -> None:
    @register_sensor_type
    class Co2(SensorType):
        name = "co2_test"
        unit = "ppm"
        default_range = (300.0, 5000.0)
        noise = 5.0

        def clean(self, t_s: np.ndarray, *, weather: np.ndarray, hour: np.ndarray) -> np.ndarray:
            return 600.0 + 150.0 * weather

    config = parse_config({"sensors": [{"id": "c", "type": "co2_test"}]})
    sim = Simulator(config)
    (batch,) = sim.advance(sim.start_s + 50.0)
    assert batch.info.unit == "ppm"
    assert 300.0 < batch.value.mean() < 1000.0


def test_unknown_type_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown type 'laser'"):
        Simulator(parse_config({"sensors": [{"id": "x", "type": "laser"}]}))


def test_a_sensor_type_needs_a_name() -> None:
    class Nameless(SensorType):
        pass

    with pytest.raises(ConfigError, match="non-empty 'name'"):
        register_sensor_type(Nameless)
