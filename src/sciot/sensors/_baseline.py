"""What is normal for one sensor's detector inputs: learnt, then followed, then frozen.

A per-sensor :class:`Baseline` learns what is normal for each input during warm-up (median
and MAD, a straight-line fit for the level) and then follows it with exponentially weighted
updates (``adapt_rate``; ``level_rate`` and ``trend_rate`` for the level). While a window is
anomalous the baseline is frozen (the level keeps following its trend), so an anomaly is not
learnt as the new normal; after ``max_frozen_windows`` the sensor is re-learnt, because a
change that long is the new normal.

Baselines are pickled whole inside a saved detector; files saved before this module existed
name the class ``sciot.sensors._detect.Baseline``, which still resolves to it.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from sciot.sensors._config import DetectionConfig
from sciot.sensors._inputs import DETECTOR_INPUTS, LEVEL, NOISE, SPIKE, TINY_NOISE
from sciot.sensors._types import FloatArray


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
        self._rate[LEVEL] = config.level_rate
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
        slope, intercept = np.polyfit(dt, block[:, LEVEL], 1) if np.ptp(dt) > 0 else (0.0, 0.0)
        residual = block.copy()
        residual[:, LEVEL] = block[:, LEVEL] - (intercept + slope * dt)
        centre_res = centre.copy()
        centre_res[LEVEL] = 0.0
        # Robust spread (MAD) so a stray warm-up window does not set a huge tolerance.
        mad = 1.4826 * np.median(np.abs(residual - centre_res), axis=0)
        if np.ptp(dt) > 0:
            centre[LEVEL] = intercept
            self.trend_per_s = float(slope)
        self.last_s = now_s
        self._set(centre, mad**2)
        return self.z(block, times)

    def _set(self, mean: FloatArray, var: FloatArray) -> None:
        floor = 1e-6 * (np.abs(mean) + 1e-3)
        self.mean = mean
        self.var = np.maximum(var, floor * floor)
        self._std = np.sqrt(self.var)
        self._noise = float(np.exp(mean[NOISE])) + TINY_NOISE

    def expected(self, now_s: float) -> FloatArray:
        """The baseline's prediction for a window ending at ``now_s``."""
        assert self.mean is not None
        out = self.mean.copy()
        out[LEVEL] += self.trend_per_s * (now_s - self.last_s)
        return out

    def noise(self) -> float:
        """The sensor's usual residual noise (the scale of the ``spike`` input)."""
        return self._noise

    def z(self, x: FloatArray, now_s: FloatArray | float) -> FloatArray:
        """Deviations of ``x`` (one row or a matrix) in each input's own units."""
        assert self.mean is not None
        out = np.asarray((x - self.mean) / self._std, dtype=np.float64)
        drift = self.trend_per_s * (np.asarray(now_s, dtype=np.float64) - self.last_s)
        out[..., LEVEL] -= drift / self._std[LEVEL]
        out[..., SPIKE] = x[..., SPIKE] / self._noise
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
            self.trend_per_s += c.level_rate * c.trend_rate * float(delta[LEVEL]) / elapsed_s
        self.last_s = now_s
        a = c.adapt_rate
        self._set(expected + self._rate * delta, (1.0 - a) * (self.var + a * delta * delta))
