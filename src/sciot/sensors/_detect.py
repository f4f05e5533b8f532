"""Anomaly detectors over window features, one state per sensor, saved and reloaded whole.

Every detector sees the same derived inputs per window: the level (window mean), the spread
(log of the standard deviation, so a stuck sensor's zero spread is far from normal), the peaks
above and below the mean, the slope, the largest step between neighbours and, for vibration,
the broadband spectral energy. A per-sensor :class:`Baseline` learns what is normal for each
input during a warm-up period and then follows it with an exponentially weighted mean and
variance, so daily cycles and slow sensor drift are absorbed. While a window is anomalous the
baseline is frozen, so an anomaly is not learnt as the new normal (up to ``max_frozen_windows``,
after which the sensor is re-learnt, because a change that long is the new normal).

* :class:`StreamingDetector` fires when some input is more than ``threshold`` standard
  deviations from its baseline.
* :class:`IsolationForestDetector` fits one scikit-learn Isolation Forest on the standardised
  warm-up windows of every sensor and fires when a window is both isolated faster than almost
  every warm-up window and far from its baseline on some input.
* :class:`TfliteDetector` runs a TFLite model (through :mod:`sciot.runtime`) on the
  standardised inputs and fires when its output exceeds ``threshold``.

A gap in the readings longer than ``dropout_periods`` typical intervals is reported by every
detector as a dropout: it is a fact about the stream, not a statistical judgement.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sciot.errors import ConfigError, MissingExtraError, SensorError
from sciot.sensors._config import DetectionConfig
from sciot.sensors._types import AnomalyKind, FloatArray
from sciot.sensors._windows import WindowFeatures, feature_column

DETECTOR_INPUTS: tuple[str, ...] = (
    "level",
    "log_spread",
    "peak_above",
    "peak_below",
    "slope",
    "rate_of_change",
    "log_spectral_energy",
)
# The kind of anomaly a large deviation of each input most likely means (sign: +1 above).
_KIND_BY_INPUT: dict[tuple[str, int], AnomalyKind] = {
    ("level", 1): "level_shift",
    ("level", -1): "level_shift",
    ("log_spread", 1): "noise_burst",
    ("log_spread", -1): "stuck",
    ("peak_above", 1): "spike",
    ("peak_above", -1): "stuck",
    ("peak_below", 1): "spike",
    ("peak_below", -1): "stuck",
    ("slope", 1): "drift",
    ("slope", -1): "drift",
    ("rate_of_change", 1): "spike",
    ("rate_of_change", -1): "stuck",
    ("log_spectral_energy", 1): "noise_burst",
    ("log_spectral_energy", -1): "stuck",
}
SPECTRAL_TYPES = frozenset({"vibration"})
_FORMAT = "sciot-sensor-detector"
_FORMAT_VERSION = 1


def detector_inputs(features: WindowFeatures) -> FloatArray:
    """The derived inputs (windows x DETECTOR_INPUTS) every detector works on."""
    v = features.values
    mean = v[:, feature_column("mean")]
    std = v[:, feature_column("std")]
    spectral = features.info.sensor_type in SPECTRAL_TYPES
    out = np.empty((v.shape[0], len(DETECTOR_INPUTS)), dtype=np.float64)
    out[:, 0] = mean
    out[:, 1] = np.log(std + 1e-9)
    out[:, 2] = v[:, feature_column("max")] - mean
    out[:, 3] = mean - v[:, feature_column("min")]
    out[:, 4] = v[:, feature_column("slope")]
    out[:, 5] = v[:, feature_column("rate_of_change")]
    out[:, 6] = np.log(v[:, feature_column("spectral_energy")] + 1e-12) if spectral else 0.0
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One anomalous window, before alert de-duplication."""

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
        self.mean: FloatArray | None = None
        self.var: FloatArray | None = None
        self.frozen = 0

    @property
    def ready(self) -> bool:
        return self.mean is not None

    def warm(self, x: FloatArray) -> FloatArray | None:
        """Collect a warm-up window; returns the warm-up matrix when warm-up completes."""
        self._warmup.append(x)
        if len(self._warmup) < self._config.warmup_windows:
            return None
        block = np.vstack(self._warmup)
        self._warmup = []
        median = np.median(block, axis=0)
        # Robust spread (MAD) so a stray warm-up window does not set a huge tolerance.
        mad = 1.4826 * np.median(np.abs(block - median), axis=0)
        std = block.std(axis=0)
        self.mean = median
        self.var = np.maximum(np.maximum(mad, std) ** 2, self._floor(median) ** 2)
        return block

    def _floor(self, mean: FloatArray) -> FloatArray:
        return 1e-6 * (np.abs(mean) + 1e-3)

    def z(self, x: FloatArray) -> FloatArray:
        assert self.mean is not None and self.var is not None
        return np.asarray((x - self.mean) / np.sqrt(self.var), dtype=np.float64)

    def update(self, x: FloatArray, *, anomalous: bool) -> None:
        assert self.mean is not None and self.var is not None
        if anomalous:
            self.frozen += 1
            if self.frozen > self._config.max_frozen_windows:
                # Anomalous for this long: the world changed; learn it afresh.
                self.mean = self.var = None
                self.frozen = 0
            return
        self.frozen = 0
        a = self._config.adapt_rate
        delta = x - self.mean
        self.mean = self.mean + a * delta
        floor = self._floor(self.mean) ** 2
        self.var = np.maximum((1.0 - a) * (self.var + a * delta * delta), floor)


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

    def process(self, features: WindowFeatures) -> list[Finding]:
        return self.process_many([features])

    def process_many(self, blocks: Sequence[WindowFeatures]) -> list[Finding]:
        prepared = [(f, self._baseline(f.info.sensor_id), detector_inputs(f)) for f in blocks]
        scores = self._prescore([(f.info.sensor_id, b, x) for f, b, x in prepared])
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
        self, blocks: Sequence[tuple[str, Baseline, FloatArray]]
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
        findings: list[Finding] = []
        for i in range(inputs.shape[0]):
            x = inputs[i]
            if gaps[i] > self.config.dropout_periods:
                findings.append(self._dropout(features, i, float(gaps[i])))
                continue
            if not baseline.ready:
                block = baseline.warm(x)
                if block is not None:
                    self._fitted(sensor_id, baseline, block)
                    # Score the rest of the block now that there is a baseline to score with.
                    (rest,) = self._prescore([(sensor_id, baseline, inputs[i + 1 :])])
                    if rest is not None:
                        pre = np.concatenate((np.full(i + 1, np.nan), rest))
                continue
            z = baseline.z(x)
            if pre is not None and not np.isnan(pre[i]):
                score = float(pre[i])
                anomalous = self._exceeds(score, z)
            else:
                anomalous, score = self._judge(sensor_id, z)
            baseline.update(x, anomalous=anomalous)
            if anomalous:
                findings.append(self._finding(features, i, baseline, x, z, score))
        return findings

    def _exceeds(self, score: float, z: FloatArray) -> bool:
        return score > self.config.threshold

    def _fitted(self, sensor_id: str, baseline: Baseline, block: FloatArray) -> None:
        """Warm-up just ended for ``sensor_id``; subclasses fit their models here."""

    def _judge(self, sensor_id: str, z: FloatArray) -> tuple[bool, float]:
        raise NotImplementedError

    def _dropout(self, features: WindowFeatures, i: int, ratio: float) -> Finding:
        return Finding(
            sensor_id=features.info.sensor_id,
            timestamp_s=float(features.end_s[i]),
            sent_s=float(features.sent_s[i]),
            kind="dropout",
            feature="gap_ratio",
            z=ratio,
            score=ratio,
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
        score: float,
    ) -> Finding:
        assert baseline.mean is not None and baseline.var is not None
        worst = int(np.argmax(np.abs(z)))
        name = DETECTOR_INPUTS[worst]
        sign = 1 if z[worst] >= 0 else -1
        return Finding(
            sensor_id=features.info.sensor_id,
            timestamp_s=float(features.end_s[i]),
            sent_s=float(features.sent_s[i]),
            kind=_KIND_BY_INPUT[(name, sign)],
            feature=name,
            z=float(z[worst]),
            score=score,
            value=float(x[worst]),
            expected=float(baseline.mean[worst]),
            spread=float(np.sqrt(baseline.var[worst])),
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
    """Fires when an input is more than ``threshold`` baseline deviations from normal.

    Every window is judged against the baseline as updated by the window before it, so the
    alerts do not depend on how readings were grouped into messages.
    """

    name = "streaming"

    def _judge(self, sensor_id: str, z: FloatArray) -> tuple[bool, float]:
        score = float(np.abs(z).max())
        return score > self.config.threshold, score


class IsolationForestDetector(_BaselineDetector):
    """One Isolation Forest over every sensor's standardised inputs, fitted on warm-up windows.

    Inputs are standardised by each sensor's own baseline, so one forest serves all sensors and
    scores every window of a drained batch in a single call (scikit-learn's per-call cost is
    what limits a per-window forest). The forest is refitted each time the pool of warm-up
    windows has grown by half, so sensors that start later are represented. A window fires when
    it isolates faster than all but ``1 - iforest_quantile`` of the warm-up windows did (plus
    ``iforest_margin``) and deviates by at least ``iforest_min_z`` baseline deviations on some
    input. Windows of one batch
    are standardised with the baseline as it was when the batch arrived.
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
        self._pool.append(baseline.z(block))
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
        self, blocks: Sequence[tuple[str, Baseline, FloatArray]]
    ) -> list[FloatArray | None]:
        ready = [i for i, (_, b, x) in enumerate(blocks) if b.ready and x.shape[0]]
        out: list[FloatArray | None] = [None] * len(blocks)
        if self.forest is None or not ready:
            return out
        zs = [blocks[i][1].z(blocks[i][2]) for i in ready]
        scores = -self.forest.score_samples(np.vstack(zs))
        bounds = np.cumsum([0] + [z.shape[0] for z in zs])
        for k, i in enumerate(ready):
            out[i] = np.asarray(scores[bounds[k] : bounds[k + 1]], dtype=np.float64)
        return out

    def _exceeds(self, score: float, z: FloatArray) -> bool:
        # Isolation scores saturate: ordinary windows near the edge of the warm-up cloud score
        # almost like real outliers, so a window must also deviate on some input.
        return score > self.cutoff and float(np.abs(z).max()) >= self.config.iforest_min_z

    def _judge(self, sensor_id: str, z: FloatArray) -> tuple[bool, float]:
        score = float(-self.forest.score_samples(z[None, :])[0])
        return self._exceeds(score, z), score

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
    """A TFLite model scores the standardised inputs; fires above ``threshold``.

    The model takes a float32 ``[1, len(DETECTOR_INPUTS)]`` tensor and returns one score per
    window. It runs through :class:`sciot.runtime.SegmentExecutor`, the same runtime as split
    inference.
    """

    name = "tflite"

    def __init__(self, config: DetectionConfig, *, model_path: str | Path) -> None:
        super().__init__(config)
        from sciot.runtime import SegmentExecutor

        self._model_path = Path(model_path)
        self._executor = SegmentExecutor(self._model_path)
        self._input_name = self._executor.input_names[0]

    def _judge(self, sensor_id: str, z: FloatArray) -> tuple[bool, float]:
        outputs = self._executor.run({self._input_name: z.astype(np.float32)[None, :]})
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
