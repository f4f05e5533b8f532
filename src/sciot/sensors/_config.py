"""The sensor pipeline's configuration, read once from YAML and validated at the boundary.

Pydantic models check every field (types, ranges, unknown keys) and :func:`load_config` turns
any problem into a :class:`~sciot.errors.ConfigError` naming the file and the field. Past this
module the pipeline only sees validated, immutable settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal, Self

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from sciot._settings import read_yaml, validate_settings
from sciot.sensors._types import ANOMALY_KINDS, AnomalyKind

Encoding = Literal["json", "batch"]
DetectorName = Literal["streaming", "iforest", "tflite"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SensorConfig(_Strict):
    """One simulated sensor."""

    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\-]+$")
    type: str = Field(min_length=1)
    location: str = "default"
    range: tuple[float, float] | None = None
    unit: str | None = None
    rate_hz: float = Field(
        default=1.0, gt=0.0, le=10_000.0, validation_alias=AliasChoices("rate_hz", "sampling_rate")
    )
    noise: float | None = Field(default=None, gt=0.0)

    @model_validator(mode="after")
    def _range_ordered(self) -> SensorConfig:
        if self.range is not None and not self.range[0] < self.range[1]:
            raise ValueError(f"range {list(self.range)} must be [low, high] with low < high")
        return self


class _DrawRanges(_Strict):
    """Settings whose every field is a ``[low, high]`` range drawn from, ``0 < low <= high``.

    The sizes and the lengths of injected anomalies are both such ranges, one per kind; the
    error names the field as the configuration spells it (``<section>.<kind>``).
    """

    section: ClassVar[str]

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        for name in type(self).model_fields:
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(f"{self.section}.{name} must be [low, high] with 0 < low <= high")
        return self


class AnomalyMagnitudes(_DrawRanges):
    """How large each injected kind is, as ``[low, high]`` drawn uniformly per event.

    Spikes, level shifts and drifts are in units of the sensor's noise sigma (a drift reaches
    its magnitude at the end of its span); a noise burst's extra noise is that many times the
    sensor's noise. Stuck-at values and dropouts have no size, only a length.
    """

    spike: tuple[float, float] = (4.0, 8.0)
    level_shift: tuple[float, float] = (3.0, 6.0)
    drift: tuple[float, float] = (4.0, 6.0)
    noise_burst: tuple[float, float] = (3.0, 5.0)
    section: ClassVar[str] = "magnitude"


class AnomalySpans(_DrawRanges):
    """How many samples each injected kind lasts, ``[low, high]`` drawn uniformly per event."""

    spike: tuple[int, int] = (1, 2)
    level_shift: tuple[int, int] = (60, 160)
    drift: tuple[int, int] = (80, 200)
    stuck: tuple[int, int] = (40, 120)
    dropout: tuple[int, int] = (10, 60)
    noise_burst: tuple[int, int] = (40, 120)
    section: ClassVar[str] = "span_samples"


class AnomalyConfig(_Strict):
    """Labelled anomalies injected into the simulated signals (ground truth is kept)."""

    kinds: tuple[AnomalyKind, ...] = ANOMALY_KINDS
    mean_gap_s: float = Field(default=600.0, gt=0.0)
    warmup_s: float = Field(default=300.0, ge=0.0)
    min_gap_s: float = Field(default=120.0, ge=0.0)
    magnitude: AnomalyMagnitudes = AnomalyMagnitudes()
    span_samples: AnomalySpans = AnomalySpans()


class SimulationConfig(_Strict):
    """How fast simulated time runs and how readings are sent."""

    start: str = "2026-03-02T00:00:00Z"
    speed: float = Field(default=1.0, gt=0.0, le=1e6)
    tick_s: float = Field(default=0.05, gt=0.0, le=5.0)
    encoding: Encoding = "json"
    qos: Literal[0, 1, 2] = 0


class ProcessingConfig(_Strict):
    """Ingest queue and per-sensor windows."""

    window: int = Field(default=32, ge=4, le=4096)
    step: int = Field(default=8, ge=1, le=4096)
    queue_messages: int = Field(default=20_000, ge=1)
    drain_messages: int = Field(default=512, ge=1)
    group: str | None = Field(default="sciot", pattern=r"^[A-Za-z0-9_\-]+$")
    topics: tuple[str, ...] = Field(default=("sensors/+/data",), min_length=1)

    @model_validator(mode="after")
    def _reading_topics(self) -> ProcessingConfig:
        for topic in self.topics:
            parts = topic.split("/")
            if len(parts) != 3 or parts[0] != "sensors" or parts[2] != "data" or not parts[1]:
                raise ValueError(f"topic {topic!r} must be sensors/<id>/data or sensors/+/data")
        return self

    @model_validator(mode="after")
    def _step_fits(self) -> ProcessingConfig:
        if self.step > self.window:
            raise ValueError(f"step ({self.step}) must not exceed window ({self.window})")
        return self


class DetectionConfig(_Strict):
    """Which detector runs and when it fires.

    The streaming detector has one threshold per input: ``level_threshold`` and
    ``slope_threshold`` in deviations of that input from its per-sensor baseline,
    ``noise_threshold`` in deviations of the log residual noise from its baseline (up: a
    noise burst, down: a stuck value), ``spike_threshold`` in the sensor's own noise sigma.
    ``critical`` is how many times over its threshold an input must be for a critical alert.
    ``threshold`` is the TFLite detector's score cut-off (its inputs are those deviations
    over their thresholds, so 1.0 means "at the streaming threshold").
    """

    detector: DetectorName = "streaming"
    warmup_windows: int = Field(default=40, ge=4)
    level_threshold: float = Field(default=6.0, gt=0.0)
    noise_threshold: float = Field(default=6.0, gt=0.0)
    spike_threshold: float = Field(default=5.0, gt=0.0)
    slope_threshold: float = Field(default=8.0, gt=0.0)
    threshold: float = Field(default=1.0, gt=0.0)
    critical: float = Field(default=2.0, gt=1.0)
    adapt_rate: float = Field(default=0.02, gt=0.0, lt=1.0)
    level_rate: float = Field(default=0.1, gt=0.0, lt=1.0)
    trend_rate: float = Field(default=0.03, gt=0.0, le=1.0)
    dropout_periods: float = Field(default=5.0, gt=1.0)
    max_frozen_windows: int = Field(default=100, ge=1)
    learn_delay_windows: int = Field(default=8, ge=0, le=1000)
    iforest_trees: int = Field(default=100, ge=1, le=2000)
    iforest_quantile: float = Field(default=0.99, gt=0.0, le=1.0)
    iforest_margin: float = Field(default=0.0, ge=0.0)
    iforest_min_ratio: float = Field(default=1.0, ge=0.0)
    model_path: str | None = None


class AlertConfig(_Strict):
    """Alert de-duplication."""

    cooldown_s: float = Field(default=60.0, ge=0.0)


class ScoringConfig(_Strict):
    """Event-level scoring: an event is caught by an alert within its span plus the grace."""

    grace_s: float | None = Field(default=None, ge=0.0)


class PipelineConfig(_Strict):
    """Everything ``sciot sensors run`` needs."""

    seed: int = 7
    sensors: tuple[SensorConfig, ...] = Field(min_length=1)
    anomalies: AnomalyConfig = AnomalyConfig()
    simulation: SimulationConfig = SimulationConfig()
    processing: ProcessingConfig = ProcessingConfig()
    detection: DetectionConfig = DetectionConfig()
    alerts: AlertConfig = AlertConfig()
    scoring: ScoringConfig = ScoringConfig()

    @model_validator(mode="after")
    def _unique_ids(self) -> PipelineConfig:
        seen: set[str] = set()
        for sensor in self.sensors:
            if sensor.id in seen:
                raise ValueError(f"sensor id {sensor.id!r} appears twice")
            seen.add(sensor.id)
        return self


def parse_config(data: object, *, source: str = "<config>") -> PipelineConfig:
    """Validate an already-parsed YAML/JSON document."""
    return validate_settings(PipelineConfig, data, source=source, docs="docs/sensors.md")


def load_config(path: str | Path) -> PipelineConfig:
    """Read and validate a YAML config file."""
    return parse_config(read_yaml(path, what="sensor config"), source=str(path))


def default_config() -> PipelineConfig:
    """A small plant: two locations, every built-in sensor type, all anomaly kinds."""
    sensors = [
        {"id": "temp_001", "type": "temperature", "location": "hall_a", "rate_hz": 2.0},
        {"id": "hum_001", "type": "humidity", "location": "hall_a", "rate_hz": 2.0},
        {"id": "press_001", "type": "pressure", "location": "hall_a", "rate_hz": 2.0},
        {"id": "power_001", "type": "power", "location": "hall_a", "rate_hz": 2.0},
        {"id": "vib_001", "type": "vibration", "location": "hall_a", "rate_hz": 50.0},
        {"id": "temp_002", "type": "temperature", "location": "hall_b", "rate_hz": 2.0},
        {"id": "hum_002", "type": "humidity", "location": "hall_b", "rate_hz": 2.0},
        {"id": "power_002", "type": "power", "location": "hall_b", "rate_hz": 2.0},
    ]
    # 150 simulated s per wall s: the default 10 s run covers 25 simulated minutes, past the
    # 5-minute anomaly warm-up, so the quick start injects and scores about ten anomalies.
    return parse_config({"sensors": sensors, "simulation": {"speed": 150.0}}, source="<default>")
