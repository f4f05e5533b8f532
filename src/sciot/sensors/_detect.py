"""Anomaly detectors over window features, one state per sensor, saved and reloaded whole.

Every detector sees the same four inputs per window, one per way a sensor goes wrong:

* ``level``: the window mean, against a per-sensor level-and-trend baseline (Holt's linear
  smoothing, in sensor time), so daily cycles and weather are followed, not flagged, while a
  level shift or a drift away from the long-term course shows as a growing residual;
* ``log_noise``: the log of the residual noise once the window's slow part is removed; far
  above its baseline is a noise burst, far below (zero variance) a stuck value;
* ``spike``: the largest residual, in units of the sensor's own usual noise;
* ``slope``: the window's least-squares slope, against its baseline (a drift's signature).

A per-sensor :class:`Baseline` learns what is normal for each input during warm-up (median
and MAD, a straight-line fit for the level) and then follows it with exponentially weighted
updates (``adapt_rate``; ``level_rate`` and ``trend_rate`` for the level). While a window is
anomalous the baseline is frozen (the level keeps following its trend), so an anomaly is not
learnt as the new normal; after ``max_frozen_windows`` the sensor is re-learnt, because a
change that long is the new normal. Each input's deviation is divided by its own threshold
(``level_threshold``, ``noise_threshold``, ``spike_threshold``, ``slope_threshold``): a
ratio above 1 is anomalous, and the input with the largest ratio names the likely kind.

* :class:`StreamingDetector` fires when some ratio exceeds 1.
* :class:`IsolationForestDetector` fits one scikit-learn Isolation Forest on the standardised
  warm-up windows of every sensor and fires when a window is both isolated faster than almost
  every warm-up window and at least ``iforest_min_ratio`` of the way to some threshold.
* :class:`TfliteDetector` runs a TFLite model (through :mod:`sciot.runtime`) on the ratios
  and fires when its output exceeds ``threshold``.

A gap in the readings longer than ``dropout_periods`` typical intervals is reported by every
detector as a dropout: it is a fact about the stream, not a statistical judgement. Gaps left
by readings lost on the way (a hole in the sender's sequence numbers, a drop in our own
inbox) are not dropouts: the window builder excuses them before this rule sees them.
"""

from __future__ import annotations

import json
import pickle
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sciot.errors import ConfigError, MissingExtraError, SensorError
from sciot.sensors._config import DetectionConfig
from sciot.sensors._types import AnomalyKind, FloatArray
from sciot.sensors._windows import WindowFeatures, feature_column

DETECTOR_INPUTS: tuple[str, ...] = ("level", "log_noise", "spike", "slope")
_LEVEL, _NOISE, _SPIKE, _SLOPE = range(4)
# The kind of anomaly a large deviation of each input most likely means (sign: +1 above).
_KIND_BY_INPUT: dict[tuple[str, int], AnomalyKind] = {
    ("level", 1): "level_shift",
    ("level", -1): "level_shift",
    ("log_noise", 1): "noise_burst",
    ("log_noise", -1): "stuck",
    ("spike", 1): "spike",
    ("spike", -1): "spike",
    ("slope", 1): "drift",
    ("slope", -1): "drift",
}
_FORMAT = "sciot-sensor-detector"
_FORMAT_VERSION = 2
_TINY_NOISE = 1e-12


def detector_inputs(features: WindowFeatures) -> FloatArray:
    """The derived inputs (windows x DETECTOR_INPUTS) every detector works on."""
    v = features.values
    out = np.empty((v.shape[0], len(DETECTOR_INPUTS)), dtype=np.float64)
    out[:, _LEVEL] = v[:, feature_column("mean")]
    out[:, _NOISE] = np.log(v[:, feature_column("residual_std")] + _TINY_NOISE)
    out[:, _SPIKE] = v[:, feature_column("residual_peak")]
    out[:, _SLOPE] = v[:, feature_column("slope")]
    return out


def thresholds(config: DetectionConfig) -> FloatArray:
    """Per input, the deviation at which the streaming rule fires (DETECTOR_INPUTS order)."""
    return np.array(
        [
            config.level_threshold,
            config.noise_threshold,
            config.spike_threshold,
            config.slope_threshold,
        ]
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One anomalous window, before alert de-duplication.

    ``z`` is the deviation of ``feature`` in its own units (baseline deviations, or noise
    sigma for ``spike``); ``score`` is the largest deviation over its threshold (above 1 is
    anomalous); ``value``, ``expected`` and ``spread`` are in the input's units.
    """

    sensor_id: str
    timestamp_s: float
    sent_s: float
    kind: AnomalyKind
    feature: str
    z: float
    score: float
    value: float
    expected: float
    spread: float


class Baseline:
    """What is normal for one sensor's detector inputs; learns, then follows, then freezes."""

    def __init__(self, config: DetectionConfig) -> None:
        self._config = config
        self._warmup: list[FloatArray] = []
        self._warmup_s: list[float] = []
        self.mean: FloatArray | None = None
        self.var: FloatArray | None = None
        self.trend_per_s = 0.0
        self.last_s = 0.0
        self.frozen = 0
        self._pending: deque[tuple[FloatArray, float]] = deque()
        self._rate = np.full(len(DETECTOR_INPUTS), config.adapt_rate)
        self._rate[_LEVEL] = config.level_rate
        # Derived from mean and var, kept because every window needs them.
        self._std = np.ones(len(DETECTOR_INPUTS))
        self._noise = 1.0

    @property
    def ready(self) -> bool:
        return self.mean is not None

    def warm(self, x: FloatArray, now_s: float) -> FloatArray | None:
        """Collect a warm-up window; when warm-up completes, returns its windows' deviations
        from the baseline just learnt (what a model of normal windows trains on)."""
        self._warmup.append(x)
        self._warmup_s.append(now_s)
        if len(self._warmup) < self._config.warmup_windows:
            return None
        block = np.vstack(self._warmup)
        times = np.asarray(self._warmup_s)
        self._warmup, self._warmup_s = [], []
        centre = np.median(block, axis=0)
        # The level moves with the day: fit its course, judge the spread around that course.
        dt = times - times[-1]
        slope, intercept = np.polyfit(dt, block[:, _LEVEL], 1) if np.ptp(dt) > 0 else (0.0, 0.0)
        residual = block.copy()
        residual[:, _LEVEL] = block[:, _LEVEL] - (intercept + slope * dt)
        centre_res = centre.copy()
        centre_res[_LEVEL] = 0.0
        # Robust spread (MAD) so a stray warm-up window does not set a huge tolerance.
        mad = 1.4826 * np.median(np.abs(residual - centre_res), axis=0)
        if np.ptp(dt) > 0:
            centre[_LEVEL] = intercept
            self.trend_per_s = float(slope)
        self.last_s = now_s
        self._set(centre, mad**2)
        return self.z(block, times)

    def _set(self, mean: FloatArray, var: FloatArray) -> None:
        floor = 1e-6 * (np.abs(mean) + 1e-3)
        self.mean = mean
        self.var = np.maximum(var, floor * floor)
        self._std = np.sqrt(self.var)
        self._noise = float(np.exp(mean[_NOISE])) + _TINY_NOISE

    def expected(self, now_s: float) -> FloatArray:
        """The baseline's prediction for a window ending at ``now_s``."""
        assert self.mean is not None
        out = self.mean.copy()
        out[_LEVEL] += self.trend_per_s * (now_s - self.last_s)
        return out

    def noise(self) -> float:
        """The sensor's usual residual noise (the scale of the ``spike`` input)."""
        return self._noise

    def z(self, x: FloatArray, now_s: FloatArray | float) -> FloatArray:
        """Deviations of ``x`` (one row or a matrix) in each input's own units."""
        assert self.mean is not None
        out = np.asarray((x - self.mean) / self._std, dtype=np.float64)
        drift = self.trend_per_s * (np.asarray(now_s, dtype=np.float64) - self.last_s)
        out[..., _LEVEL] -= drift / self._std[_LEVEL]
        out[..., _SPIKE] = x[..., _SPIKE] / self._noise
        return out

    def update(self, x: FloatArray, now_s: float, *, anomalous: bool) -> None:
        """Judge-then-learn: a normal window is learnt only ``learn_delay_windows`` later.

        The delay keeps the onset of an anomaly (a drift's first gentle windows, a level
        shift half inside a window) out of the baseline: when a later window is judged
        anomalous, the windows still waiting are discarded with it.
        """
        assert self.mean is not None and self.var is not None
        if anomalous:
            self._pending.clear()
            self.frozen += 1
            if self.frozen > self._config.max_frozen_windows:
                # Anomalous for this long: the world changed; learn it afresh.
                self.mean = self.var = None
                self.trend_per_s = 0.0
                self.frozen = 0
            return
        self.frozen = 0
        self._pending.append((x, now_s))
        if len(self._pending) > self._config.learn_delay_windows:
            self._learn(*self._pending.popleft())

    def _learn(self, x: FloatArray, now_s: float) -> None:
        assert self.mean is not None and self.var is not None
        c = self._config
        expected = self.expected(now_s)
        delta = x - expected
        elapsed_s = now_s - self.last_s
        if elapsed_s > 0:
            self.trend_per_s += c.level_rate * c.trend_rate * float(delta[_LEVEL]) / elapsed_s
        self.last_s = now_s
        a = c.adapt_rate
        self._set(expected + self._rate * delta, (1.0 - a) * (self.var + a * delta * delta))


class Detector(Protocol):
    """What the pipeline needs from a detector (River-style: one verb, state inside)."""

    name: str

    def process(self, features: WindowFeatures) -> list[Finding]:
        """Score the windows in order, learn from the normal ones, return the anomalous ones."""
        ...

    def process_many(self, blocks: Sequence[WindowFeatures]) -> list[Finding]:
        """``process`` for several sensors' blocks at once (lets a model score in one call)."""
        ...

    def save(self, path: str | Path) -> None:
        """Write the detector's whole state (baselines, models, thresholds, schema)."""
        ...


class _BaselineDetector:
    """Shared machinery: per-sensor baselines, dropout rule, findings with reasons."""

    name = "base"

    def __init__(self, config: DetectionConfig) -> None:
        self.config = config
        self.baselines: dict[str, Baseline] = {}
        self._thresholds = thresholds(config)

    def process(self, features: WindowFeatures) -> list[Finding]:
        return self.process_many([features])

    def process_many(self, blocks: Sequence[WindowFeatures]) -> list[Finding]:
        prepared = [(f, self._baseline(f.info.sensor_id), detector_inputs(f)) for f in blocks]
        scores = self._prescore([(f.info.sensor_id, b, x, f.end_s) for f, b, x in prepared])
        findings: list[Finding] = []
        for (features, baseline, inputs), pre in zip(prepared, scores, strict=True):
            findings.extend(self._process(features, baseline, inputs, pre))
        return findings

    def _baseline(self, sensor_id: str) -> Baseline:
        baseline = self.baselines.get(sensor_id)
        if baseline is None:
            baseline = self.baselines[sensor_id] = Baseline(self.config)
        return baseline

    def _prescore(
        self, blocks: Sequence[tuple[str, Baseline, FloatArray, FloatArray]]
    ) -> list[FloatArray | None]:
        """Scores computed for whole blocks at once (None: judge window by window)."""
        return [None] * len(blocks)

    def _process(
        self,
        features: WindowFeatures,
        baseline: Baseline,
        inputs: FloatArray,
        pre: FloatArray | None,
    ) -> list[Finding]:
        sensor_id = features.info.sensor_id
        gaps = features.column("gap_ratio")
        end_s = features.end_s
        findings: list[Finding] = []
        for i in range(inputs.shape[0]):
            x = inputs[i]
            now_s = float(end_s[i])
            if gaps[i] > self.config.dropout_periods:
                findings.append(self._dropout(features, i, float(gaps[i])))
                continue
            if not baseline.ready:
                block = baseline.warm(x, now_s)
                if block is not None:
                    self._fitted(sensor_id, baseline, block)
                    # Score the rest of the block now that there is a baseline to score with.
                    rest = (sensor_id, baseline, inputs[i + 1 :], end_s[i + 1 :])
                    (scored,) = self._prescore([rest])
                    if scored is not None:
                        pre = np.concatenate((np.full(i + 1, np.nan), scored))
                continue
            z = baseline.z(x, now_s)
            ratio = np.abs(z) / self._thresholds
            if pre is not None and not np.isnan(pre[i]):
                score = float(pre[i])
                anomalous = self._exceeds(score, ratio)
            else:
                anomalous, score = self._judge(sensor_id, z, ratio)
            if anomalous:
                score = self._reported_score(score, ratio)
                findings.append(self._finding(features, i, baseline, x, z, ratio, score))
            baseline.update(x, now_s, anomalous=anomalous)
        return findings

    def _exceeds(self, score: float, ratio: FloatArray) -> bool:
        return score > self.config.threshold

    def _reported_score(self, score: float, ratio: FloatArray) -> float:
        """The finding's score: the judged score where it is on the ratio scale."""
        return score

    def _fitted(self, sensor_id: str, baseline: Baseline, block: FloatArray) -> None:
        """Warm-up just ended for ``sensor_id``; subclasses fit their models here."""

    def _judge(self, sensor_id: str, z: FloatArray, ratio: FloatArray) -> tuple[bool, float]:
        raise NotImplementedError

    def _dropout(self, features: WindowFeatures, i: int, ratio: float) -> Finding:
        return Finding(
            sensor_id=features.info.sensor_id,
            timestamp_s=float(features.end_s[i]),
            sent_s=float(features.sent_s[i]),
            kind="dropout",
            feature="gap_ratio",
            z=ratio,
            score=ratio / self.config.dropout_periods,
            value=ratio,
            expected=1.0,
            spread=0.0,
        )

    def _finding(
        self,
        features: WindowFeatures,
        i: int,
        baseline: Baseline,
        x: FloatArray,
        z: FloatArray,
        ratio: FloatArray,
        score: float,
    ) -> Finding:
        assert baseline.var is not None
        worst = int(np.argmax(ratio))
        name = DETECTOR_INPUTS[worst]
        sign = 1 if z[worst] >= 0 else -1
        kind = _KIND_BY_INPUT[(name, sign)]
        now_s = float(features.end_s[i])
        if worst == _SPIKE:
            expected, spread = 0.0, baseline.noise()
        else:
            expected = float(baseline.expected(now_s)[worst])
            spread = float(np.sqrt(baseline.var[worst]))
        return Finding(
            sensor_id=features.info.sensor_id,
            timestamp_s=now_s,
            sent_s=float(features.sent_s[i]),
            kind=kind,
            feature=name,
            z=float(z[worst]),
            score=score,
            value=float(x[worst]),
            expected=expected,
            spread=spread,
        )

    def _schema(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "detector": self.name,
            "inputs": list(DETECTOR_INPUTS),
            "config": self.config.model_dump(),
            "sensors": sorted(self.baselines),
        }

    def save(self, path: str | Path) -> None:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as fh:
                pickle.dump({"schema": self._schema(), "state": self._state()}, fh)
            schema_path(path).write_text(json.dumps(self._schema(), indent=2), encoding="utf-8")
        except OSError as exc:
            raise SensorError(f"cannot save detector state to {path}: {exc}") from exc

    def _state(self) -> dict[str, Any]:
        return {"baselines": self.baselines}

    def _restore(self, state: dict[str, Any]) -> None:
        self.baselines = state["baselines"]


class StreamingDetector(_BaselineDetector):
    """Fires when some input deviates from its baseline by more than its threshold.

    Every window is judged against the baseline as updated by the window before it, so the
    alerts do not depend on how readings were grouped into messages.
    """

    name = "streaming"

    def _judge(self, sensor_id: str, z: FloatArray, ratio: FloatArray) -> tuple[bool, float]:
        score = float(ratio.max())
        return score > 1.0, score


class IsolationForestDetector(_BaselineDetector):
    """One Isolation Forest over every sensor's standardised inputs, fitted on warm-up windows.

    Inputs are standardised by each sensor's own baseline, so one forest serves all sensors and
    scores every window of a drained batch in a single call (scikit-learn's per-call cost is
    what limits a per-window forest). The forest is refitted each time the pool of warm-up
    windows has grown by half, so sensors that start later are represented. A window fires when
    it isolates faster than all but ``1 - iforest_quantile`` of the warm-up windows did (plus
    ``iforest_margin``) and some input is at least ``iforest_min_ratio`` of its streaming
    threshold. Windows of one batch are standardised with the baseline as it was when the
    batch arrived.
    """

    name = "iforest"
    _MAX_POOL_ROWS = 4096

    def __init__(self, config: DetectionConfig, *, seed: int = 0) -> None:
        super().__init__(config)
        self._seed = seed
        self.forest: Any = None
        self.cutoff = np.inf
        self._pool: list[FloatArray] = []
        self._fitted_rows = 0
        _sklearn()

    def _fitted(self, sensor_id: str, baseline: Baseline, block: FloatArray) -> None:
        self._pool.append(block)
        rows = sum(p.shape[0] for p in self._pool)
        if self.forest is not None and rows < 1.5 * self._fitted_rows:
            return
        pool = np.vstack(self._pool)
        rng = np.random.default_rng(self._seed)
        if pool.shape[0] > self._MAX_POOL_ROWS:
            pool = pool[rng.choice(pool.shape[0], self._MAX_POOL_ROWS, replace=False)]
        forest = _sklearn()(
            n_estimators=self.config.iforest_trees,
            max_samples=min(256, pool.shape[0]),
            random_state=self._seed,
        )
        forest.fit(pool)
        self.forest = forest
        pool_scores = -forest.score_samples(pool)
        self.cutoff = float(np.quantile(pool_scores, self.config.iforest_quantile))
        self.cutoff += self.config.iforest_margin
        self._fitted_rows = rows

    def _prescore(
        self, blocks: Sequence[tuple[str, Baseline, FloatArray, FloatArray]]
    ) -> list[FloatArray | None]:
        ready = [i for i, (_, b, x, _t) in enumerate(blocks) if b.ready and x.shape[0]]
        out: list[FloatArray | None] = [None] * len(blocks)
        if self.forest is None or not ready:
            return out
        zs = [blocks[i][1].z(blocks[i][2], blocks[i][3]) for i in ready]
        scores = -self.forest.score_samples(np.vstack(zs))
        bounds = np.cumsum([0] + [z.shape[0] for z in zs])
        for k, i in enumerate(ready):
            out[i] = np.asarray(scores[bounds[k] : bounds[k + 1]], dtype=np.float64)
        return out

    def _exceeds(self, score: float, ratio: FloatArray) -> bool:
        # Isolation scores saturate: ordinary windows near the edge of the warm-up cloud score
        # almost like real outliers, so a window must also deviate on some input.
        return score > self.cutoff and float(ratio.max()) >= self.config.iforest_min_ratio

    def _reported_score(self, score: float, ratio: FloatArray) -> float:
        # Isolation scores have no natural scale for an operator; report the largest ratio.
        return float(ratio.max())

    def _judge(self, sensor_id: str, z: FloatArray, ratio: FloatArray) -> tuple[bool, float]:
        score = float(-self.forest.score_samples(z[None, :])[0])
        return self._exceeds(score, ratio), score

    def _state(self) -> dict[str, Any]:
        return {
            "baselines": self.baselines,
            "forest": self.forest,
            "cutoff": self.cutoff,
            "pool": self._pool,
            "fitted_rows": self._fitted_rows,
        }

    def _restore(self, state: dict[str, Any]) -> None:
        super()._restore(state)
        self.forest = state["forest"]
        self.cutoff = state["cutoff"]
        self._pool = state["pool"]
        self._fitted_rows = state["fitted_rows"]


class TfliteDetector(_BaselineDetector):
    """A TFLite model scores the inputs' deviations over their thresholds; fires above
    ``threshold``.

    The model takes a float32 ``[1, len(DETECTOR_INPUTS)]`` tensor of signed ratios (each
    input's deviation over its streaming threshold) and returns one score per window. It runs
    through :class:`sciot.runtime.SegmentExecutor`, the same runtime as split inference.
    """

    name = "tflite"

    def __init__(self, config: DetectionConfig, *, model_path: str | Path) -> None:
        super().__init__(config)
        from sciot.runtime import SegmentExecutor

        self._model_path = Path(model_path)
        self._executor = SegmentExecutor(self._model_path)
        self._input_name = self._executor.input_names[0]

    def _judge(self, sensor_id: str, z: FloatArray, ratio: FloatArray) -> tuple[bool, float]:
        signed = (z / self._thresholds).astype(np.float32)[None, :]
        outputs = self._executor.run({self._input_name: signed})
        score = float(np.asarray(next(iter(outputs.values()))).reshape(-1)[0])
        return score > self.config.threshold, score

    def _state(self) -> dict[str, Any]:
        return {"baselines": self.baselines, "model_path": str(self._model_path)}


def _sklearn() -> Any:
    try:
        from sklearn.ensemble import IsolationForest
    except ImportError as exc:
        raise MissingExtraError("scikit-learn", "sensors", "Isolation Forest detection") from exc
    return IsolationForest


def schema_path(path: Path) -> Path:
    """The JSON file beside a saved detector that describes its inputs and settings."""
    return path.with_suffix(path.suffix + ".json")


def make_detector(config: DetectionConfig, *, seed: int = 0) -> Detector:
    """The detector ``config.detector`` names, fresh (or loaded from ``config.model_path``)."""
    if config.detector == "streaming":
        return StreamingDetector(config)
    if config.detector == "iforest":
        return IsolationForestDetector(config, seed=seed)
    if config.model_path is None:
        raise ConfigError("detection.detector 'tflite' needs detection.model_path (a .tflite)")
    return TfliteDetector(config, model_path=config.model_path)


def load_detector(path: str | Path) -> Detector:
    """Reload a detector written by ``save`` (a pickle: load only files you trust)."""
    path = Path(path)
    try:
        schema = json.loads(schema_path(path).read_text(encoding="utf-8"))
        with path.open("rb") as fh:
            saved = pickle.load(fh)
    except (OSError, json.JSONDecodeError, pickle.UnpicklingError, EOFError) as exc:
        raise SensorError(f"cannot load detector state from {path}: {exc}") from exc
    if (
        not isinstance(saved, dict)
        or schema.get("format") != _FORMAT
        or saved.get("schema") != schema
    ):
        raise SensorError(f"{path} is not a saved sciot detector (or its .json schema differs)")
    if schema["version"] != _FORMAT_VERSION or schema["inputs"] != list(DETECTOR_INPUTS):
        raise SensorError(
            f"{path} was saved with detector inputs {schema['inputs']} (format "
            f"{schema['version']}); this version uses {list(DETECTOR_INPUTS)}: refit it"
        )
    config = DetectionConfig.model_validate(schema["config"])
    detector: _BaselineDetector
    if schema["detector"] == "streaming":
        detector = StreamingDetector(config)
    elif schema["detector"] == "iforest":
        detector = IsolationForestDetector(config)
    else:
        detector = TfliteDetector(config, model_path=saved["state"]["model_path"])
    detector._restore(saved["state"])
    return detector
