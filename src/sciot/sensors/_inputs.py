"""The four inputs every detector judges, one per way a sensor goes wrong.

Each window's features are reduced to:

* ``level``: the window mean, against a per-sensor level-and-trend baseline (Holt's linear
  smoothing, in sensor time), so daily cycles and weather are followed, not flagged, while a
  level shift or a drift away from the long-term course shows as a growing residual;
* ``log_noise``: the log of the residual noise once the window's slow part is removed; far
  above its baseline is a noise burst, far below (zero variance) a stuck value;
* ``spike``: the largest residual, in units of the sensor's own usual noise;
* ``slope``: the window's least-squares slope, against its baseline (a drift's signature).

Each input's deviation is divided by its own threshold (``level_threshold``,
``noise_threshold``, ``spike_threshold``, ``slope_threshold``): a ratio above 1 is anomalous,
and the input with the largest ratio (and the sign of its deviation) names the likely kind.
"""

from __future__ import annotations

import numpy as np

from sciot.sensors._config import DetectionConfig
from sciot.sensors._types import AnomalyKind, FloatArray
from sciot.sensors._windows import WindowFeatures, feature_column

DETECTOR_INPUTS: tuple[str, ...] = ("level", "log_noise", "spike", "slope")
# Column of each input in a row of detector inputs (DETECTOR_INPUTS order).
LEVEL, NOISE, SPIKE, SLOPE = range(4)
# The kind of anomaly a large deviation of each input most likely means (sign: +1 above).
KIND_BY_INPUT: dict[tuple[str, int], AnomalyKind] = {
    ("level", 1): "level_shift",
    ("level", -1): "level_shift",
    ("log_noise", 1): "noise_burst",
    ("log_noise", -1): "stuck",
    ("spike", 1): "spike",
    ("spike", -1): "spike",
    ("slope", 1): "drift",
    ("slope", -1): "drift",
}
# Added before taking a log or dividing by a noise, so a stuck (noise-free) window stays finite.
TINY_NOISE = 1e-12


def detector_inputs(features: WindowFeatures) -> FloatArray:
    """The derived inputs (windows x DETECTOR_INPUTS) every detector works on."""
    v = features.values
    out = np.empty((v.shape[0], len(DETECTOR_INPUTS)), dtype=np.float64)
    out[:, LEVEL] = v[:, feature_column("mean")]
    out[:, NOISE] = np.log(v[:, feature_column("residual_std")] + TINY_NOISE)
    out[:, SPIKE] = v[:, feature_column("residual_peak")]
    out[:, SLOPE] = v[:, feature_column("slope")]
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
