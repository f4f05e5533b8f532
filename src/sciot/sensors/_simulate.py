"""Simulated sensors with realistic signals and labelled anomalies.

Each sensor type is a small class that turns sample times into a clean signal: a daily cycle, a
location-wide "weather" factor shared by every sensor at one location (so temperature, humidity,
pressure and power there move together), and a type-specific shape. The :class:`Simulator` adds
per-sensor noise and slow drift, then injects anomalies (spikes, level shifts, drifts, stuck-at
values, dropouts, noise bursts) from a seeded schedule, each sized and timed from its kind's
configured range (in units of the sensor's noise, a few sigma by default), and keeps them as
ground truth. A reading's ``seq`` counts the readings its sensor sent, so a dropout leaves a
gap in time but none in ``seq``. Signals are generated a whole block of samples at a time
with numpy, never one reading per call.

Adding a sensor type::

    @register_sensor_type
    class Co2(SensorType):
        name = "co2"
        unit = "ppm"
        default_range = (300.0, 5000.0)
        noise = 5.0

        def clean(self, t_s, *, weather, hour):
            return 600.0 + 150.0 * weather
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

import numpy as np

from sciot.errors import ConfigError
from sciot.sensors._config import PipelineConfig, SensorConfig
from sciot.sensors._types import AnomalyEvent, AnomalyKind, FloatArray, ReadingBatch, SensorInfo

_DAY_S = 86_400.0


class SensorType:
    """Base of sensor types: the clean signal as a function of time; noise is added outside."""

    name: ClassVar[str] = ""
    unit: ClassVar[str] = ""
    default_range: ClassVar[tuple[float, float]] = (-1e9, 1e9)
    noise: ClassVar[float] = 1.0

    def clean(self, t_s: FloatArray, *, weather: FloatArray, hour: FloatArray) -> FloatArray:
        """Noise-free signal at epoch times ``t_s`` (``hour`` is the local hour of day)."""
        raise NotImplementedError


SENSOR_TYPES: dict[str, type[SensorType]] = {}


def register_sensor_type(cls: type[SensorType]) -> type[SensorType]:
    """Make a sensor type usable by name in configs; returns the class (a decorator)."""
    if not cls.name:
        raise ConfigError(f"sensor type class {cls.__name__} needs a non-empty 'name'")
    SENSOR_TYPES[cls.name] = cls
    return cls


def _daily(hour: FloatArray, peak_hour: float) -> FloatArray:
    return np.cos(2.0 * np.pi * (hour - peak_hour) / 24.0)


def _working_hours(hour: FloatArray) -> FloatArray:
    # Smooth 0..1 plateau from about 07:00 to 19:00.
    return 1.0 / (1.0 + np.exp(-(hour - 7.0) * 2.0)) - 1.0 / (1.0 + np.exp(-(hour - 19.0) * 2.0))


@register_sensor_type
class Temperature(SensorType):
    name = "temperature"
    unit = "°C"
    default_range = (-40.0, 85.0)
    noise = 0.1

    def clean(self, t_s: FloatArray, *, weather: FloatArray, hour: FloatArray) -> FloatArray:
        return 21.0 + 3.0 * _daily(hour, 15.0) + 1.5 * weather


@register_sensor_type
class Humidity(SensorType):
    name = "humidity"
    unit = "%RH"
    default_range = (0.0, 100.0)
    noise = 0.4

    def clean(self, t_s: FloatArray, *, weather: FloatArray, hour: FloatArray) -> FloatArray:
        # Relative humidity falls as the same air warms up.
        return 50.0 - 8.0 * _daily(hour, 15.0) - 5.0 * weather


@register_sensor_type
class Pressure(SensorType):
    name = "pressure"
    unit = "hPa"
    default_range = (900.0, 1100.0)
    noise = 0.15

    def clean(self, t_s: FloatArray, *, weather: FloatArray, hour: FloatArray) -> FloatArray:
        return 1013.0 + 6.0 * weather + 0.5 * _daily(hour, 10.0)


@register_sensor_type
class Power(SensorType):
    name = "power"
    unit = "kW"
    default_range = (0.0, 100.0)
    noise = 0.12

    def clean(self, t_s: FloatArray, *, weather: FloatArray, hour: FloatArray) -> FloatArray:
        # Base load, machines in working hours, cooling when it is warm.
        return 4.0 + 6.0 * _working_hours(hour) + 0.8 * np.maximum(weather, 0.0)


@register_sensor_type
class Vibration(SensorType):
    name = "vibration"
    unit = "mm/s"
    default_range = (-50.0, 50.0)
    noise = 0.3
    tone_hz: ClassVar[float] = 7.3

    def clean(self, t_s: FloatArray, *, weather: FloatArray, hour: FloatArray) -> FloatArray:
        amplitude = 1.5 + 1.0 * _working_hours(hour)
        return amplitude * np.sin(2.0 * np.pi * self.tone_hz * np.mod(t_s, 1000.0))


def parse_start(start: str) -> float:
    """Epoch seconds of an ISO 8601 start time (``Z`` or an offset; naive means UTC)."""
    try:
        moment = datetime.fromisoformat(start.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(
            f"simulation.start {start!r} is not an ISO 8601 time (e.g. 2026-03-02T00:00:00Z)"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@dataclass(frozen=True, slots=True, kw_only=True)
class _Planned:
    kind: AnomalyKind
    first: int  # first affected sample index
    stop: int  # one past the last affected sample index
    magnitude: float  # signal units, signed (a noise burst: the std of its extra noise)
    stuck_value: float


class _Weather:
    """A smooth location-wide factor in about [-1, 1]: a few slow sinusoids, seeded."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._periods_s = rng.uniform(3 * 3600.0, 30 * 3600.0, size=3)
        self._phases = rng.uniform(0.0, 2.0 * np.pi, size=3)
        self._weights = rng.dirichlet(np.ones(3))

    def __call__(self, t_s: FloatArray) -> FloatArray:
        angles = 2.0 * np.pi * t_s[:, None] / self._periods_s + self._phases
        return np.asarray(np.sin(angles) @ self._weights, dtype=np.float64)


class _SensorStream:
    """One sensor's sample stream: clean signal + noise + drift + scheduled anomalies."""

    def __init__(
        self,
        sensor: SensorConfig,
        *,
        config: PipelineConfig,
        start_s: float,
        weather: _Weather,
        rng: np.random.Generator,
    ) -> None:
        try:
            self.kind = SENSOR_TYPES[sensor.type]()
        except KeyError as exc:
            known = ", ".join(sorted(SENSOR_TYPES))
            raise ConfigError(
                f"sensor {sensor.id!r}: unknown type {sensor.type!r}; known types: {known} "
                "(register a new one with sciot.sensors.register_sensor_type)"
            ) from exc
        self.config = sensor
        self.info = SensorInfo(
            sensor_id=sensor.id,
            sensor_type=sensor.type,
            unit=sensor.unit if sensor.unit is not None else self.kind.unit,
            location=sensor.location,
        )
        self.value_range = sensor.range if sensor.range is not None else self.kind.default_range
        self.noise = sensor.noise if sensor.noise is not None else self.kind.noise
        self.rate_hz = sensor.rate_hz
        self._start_s = start_s
        self._weather = weather
        # Separate streams for noise, the anomaly schedule and burst noise, so the values do
        # not depend on how the caller chunks time.
        self._rng, self._plan_rng, self._burst_rng = (
            np.random.default_rng(s) for s in rng.integers(2**63, size=3)
        )
        self._drift_per_s = rng.uniform(-0.5, 0.5) * self.noise / 3600.0
        self._anomalies = config.anomalies
        self._next = 0  # next sample index to generate
        self._sent = 0  # readings sent so far (the next seq)
        self._planned: list[_Planned] = []
        self._plan_until = 0  # samples before this index have their anomalies planned
        self._kind_cursor = int(self._plan_rng.integers(0, max(1, len(self._anomalies.kinds))))
        self._next_event = self._index(self._anomalies.warmup_s) + self._gap_samples()

    def _index(self, offset_s: float) -> int:
        return math.ceil(offset_s * self.rate_hz)

    def time_of(self, index: int) -> float:
        return self._start_s + index / self.rate_hz

    def _gap_samples(self) -> int:
        a = self._anomalies
        gap_s = a.min_gap_s + self._plan_rng.exponential(a.mean_gap_s)
        return max(1, int(gap_s * self.rate_hz))

    def _plan(self, until: int) -> None:
        a = self._anomalies
        while a.kinds and self._next_event < until:
            kind = a.kinds[self._kind_cursor % len(a.kinds)]
            self._kind_cursor += 1
            rng = self._plan_rng
            low, high = getattr(a.span_samples, kind)
            span = int(rng.integers(low, high + 1))
            size = getattr(a.magnitude, kind, None)
            sigma = float(rng.uniform(*size)) if size is not None else 0.0
            sign = 1.0 if rng.random() < 0.5 else -1.0
            if kind == "noise_burst":
                sign = 1.0  # the size of the extra noise, which has no direction
            first = self._next_event
            t_first = np.array([self.time_of(first)])
            stuck = float(self._clean(t_first)[0] + rng.normal(0.0, self.noise))
            self._planned.append(
                _Planned(
                    kind=kind,
                    first=first,
                    stop=first + span,
                    magnitude=sign * sigma * self.noise,
                    stuck_value=stuck,
                )
            )
            self._next_event = first + span + self._gap_samples()
        self._plan_until = max(self._plan_until, until)

    def _clean(self, t_s: FloatArray) -> FloatArray:
        hour = np.mod(t_s, _DAY_S) / 3600.0
        return self.kind.clean(t_s, weather=self._weather(t_s), hour=hour)

    def generate(self, until_s: float) -> ReadingBatch:
        """Samples with time < ``until_s`` not generated yet (dropout samples are left out)."""
        stop = max(self._next, math.ceil((until_s - self._start_s) * self.rate_hz))
        index = np.arange(self._next, stop, dtype=np.int64)
        self._next = stop
        self._plan(stop)
        t_s = self._start_s + index / self.rate_hz
        value = self._clean(t_s) + self._drift_per_s * (t_s - self._start_s)
        value = value + self._rng.normal(0.0, self.noise, size=index.shape[0])
        keep = np.ones(index.shape[0], dtype=np.bool_)
        if index.shape[0]:
            self._inject(index, value, keep)
        np.clip(value, self.value_range[0], self.value_range[1], out=value)
        sent = int(keep.sum())
        nan = np.full(sent, np.nan)
        # seq counts readings the sensor sent: a dropout (nothing sent) leaves it unbroken,
        # while readings lost on the way leave a hole the ingest can see.
        seq = np.arange(self._sent, self._sent + sent, dtype=np.int64)
        self._sent += sent
        return ReadingBatch(
            info=self.info,
            timestamp_s=t_s[keep],
            value=value[keep],
            seq=seq,
            sent_s=nan,
            received_s=nan.copy(),
        )

    def _inject(self, index: np.ndarray, value: FloatArray, keep: np.ndarray) -> None:
        first, last = int(index[0]), int(index[-1])
        for p in self._planned:
            if p.stop <= first or p.first > last:
                continue
            lo, hi = max(p.first, first) - first, min(p.stop, last + 1) - first
            segment = slice(lo, hi)
            if p.kind in ("spike", "level_shift"):
                value[segment] += p.magnitude
            elif p.kind == "drift":
                progress = (index[segment] - p.first + 1) / (p.stop - p.first)
                value[segment] += p.magnitude * progress
            elif p.kind == "stuck":
                value[segment] = p.stuck_value
            elif p.kind == "dropout":
                keep[segment] = False
            elif p.kind == "noise_burst":
                value[segment] += self._burst_rng.normal(0.0, p.magnitude, size=hi - lo)
        # Forget anomalies that are fully in the past.
        self._planned = [p for p in self._planned if p.stop > last + 1]

    def events_between(self, first: int, stop: int) -> list[_Planned]:
        self._plan(stop)
        return [p for p in self._planned if first <= p.first < stop]


class Simulator:
    """All configured sensors, advanced together in simulated time.

    ``advance(until_s)`` returns every reading with a timestamp before ``until_s`` not returned
    before, one batch per sensor; :attr:`events` is the ground truth of every anomaly whose
    first sample was generated so far.
    """

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self.start_s = parse_start(config.simulation.start)
        root = np.random.default_rng(config.seed)
        locations = sorted({s.location for s in config.sensors})
        weathers = {loc: _Weather(np.random.default_rng(root.integers(2**63))) for loc in locations}
        self._streams = [
            _SensorStream(
                sensor,
                config=config,
                start_s=self.start_s,
                weather=weathers[sensor.location],
                rng=np.random.default_rng(root.integers(2**63)),
            )
            for sensor in config.sensors
        ]
        self._events: list[AnomalyEvent] = []
        self.now_s = self.start_s

    @property
    def sensors(self) -> tuple[SensorInfo, ...]:
        return tuple(s.info for s in self._streams)

    def value_range(self, sensor_id: str) -> tuple[float, float]:
        for s in self._streams:
            if s.info.sensor_id == sensor_id:
                return s.value_range
        raise ConfigError(f"no simulated sensor {sensor_id!r}")

    @property
    def events(self) -> tuple[AnomalyEvent, ...]:
        return tuple(self._events)

    def readings_per_s(self) -> float:
        """Readings per simulated second over all sensors."""
        return float(sum(s.rate_hz for s in self._streams))

    def advance(self, until_s: float) -> list[ReadingBatch]:
        """Generate every sensor up to (not including) ``until_s``; empty batches are omitted."""
        out: list[ReadingBatch] = []
        for stream in self._streams:
            start = stream._next
            stop = max(start, math.ceil((until_s - self.start_s) * stream.rate_hz))
            for p in stream.events_between(start, stop):
                self._events.append(
                    AnomalyEvent(
                        sensor_id=stream.info.sensor_id,
                        kind=p.kind,
                        start_s=stream.time_of(p.first),
                        end_s=stream.time_of(p.stop - 1),
                        magnitude=p.magnitude,
                    )
                )
            batch = stream.generate(until_s)
            if len(batch):
                out.append(batch)
        self.now_s = max(self.now_s, until_s)
        return out
