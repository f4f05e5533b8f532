"""What a detector is, and the window-by-window judging every detector shares.

:class:`Detector` is what the pipeline needs from any detector.
:class:`BaselineDetector` holds one :class:`~sciot.sensors._baseline.Baseline` per sensor and
walks each block of windows in order: warm up, judge each window against the baseline as the
window before left it, learn from the normal ones, and turn the anomalous ones into
:class:`~sciot.sensors._types.Finding` records with the input that deviated most. Subclasses
supply only the judgement (``_judge``, optionally a whole-block ``_prescore``).

A gap in the readings longer than ``dropout_periods`` typical intervals is reported by every
detector as a dropout: it is a fact about the stream, not a statistical judgement. Gaps left
by readings lost on the way (a hole in the sender's sequence numbers, a drop in our own
inbox) are not dropouts: the window builder excuses them before this rule sees them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sciot.sensors._baseline import Baseline
from sciot.sensors._config import DetectionConfig
from sciot.sensors._detector_file import FORMAT, FORMAT_VERSION, write_detector_file
from sciot.sensors._inputs import (
    DETECTOR_INPUTS,
    KIND_BY_INPUT,
    SPIKE,
    detector_inputs,
    thresholds,
)
from sciot.sensors._types import Finding, FloatArray
from sciot.sensors._windows import WindowFeatures


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


class BaselineDetector:
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
        kind = KIND_BY_INPUT[(name, sign)]
        now_s = float(features.end_s[i])
        if worst == SPIKE:
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
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "detector": self.name,
            "inputs": list(DETECTOR_INPUTS),
            "config": self.config.model_dump(),
            "sensors": sorted(self.baselines),
        }

    def save(self, path: str | Path) -> None:
        write_detector_file(path, self._schema(), self._state())

    def _state(self) -> dict[str, Any]:
        return {"baselines": self.baselines}

    def _restore(self, state: dict[str, Any]) -> None:
        self.baselines = state["baselines"]
