"""The three ways to judge a window, each on the shared baselines of its base class.

* :class:`StreamingDetector` fires when some input's deviation over its threshold exceeds 1.
* :class:`IsolationForestDetector` fits one scikit-learn Isolation Forest on the standardised
  warm-up windows of every sensor and fires when a window is both isolated faster than almost
  every warm-up window and at least ``iforest_min_ratio`` of the way to some threshold.
* :class:`TfliteDetector` runs a TFLite model (through :mod:`sciot.runtime`) on the ratios
  and fires when its output exceeds ``threshold``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sciot.errors import MissingExtraError
from sciot.sensors._baseline import Baseline
from sciot.sensors._config import DetectionConfig
from sciot.sensors._detector_base import BaselineDetector
from sciot.sensors._types import FloatArray


class StreamingDetector(BaselineDetector):
    """Fires when some input deviates from its baseline by more than its threshold.

    Every window is judged against the baseline as updated by the window before it, so the
    alerts do not depend on how readings were grouped into messages.
    """

    name = "streaming"

    def _judge(self, sensor_id: str, z: FloatArray, ratio: FloatArray) -> tuple[bool, float]:
        score = float(ratio.max())
        return score > 1.0, score


class IsolationForestDetector(BaselineDetector):
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


class TfliteDetector(BaselineDetector):
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
