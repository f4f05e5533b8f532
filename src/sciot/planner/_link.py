"""Round-trip time and bandwidth of one device's link, fitted from observed transfers.

A request's network time is modelled as ``rtt_s + request_bytes / bytes_per_s``. One transfer
cannot separate the two (a small message that took 20 ms may mean a slow link or a long round
trip), so :class:`LinkEstimator` keeps recent transfers grouped by size (power-of-two buckets)
and fits the line robustly (Theil-Sen: the median of the slopes between pairs of transfers of
different sizes, then the median intercept) only once it has seen at least three transfers of
at least two clearly different sizes. Until then it keeps the last identified bandwidth (or a
prior) and says so (``identified=False``), and it can give the optimistic network time every
line consistent with the data allows, which the adaptive policy uses to decide whether a probe
is worth it. A Page-Hinkley test on the log-ratio of observed to predicted time detects a shift
(a bandwidth step, a new route) and drops the history from before it. Non-positive or
non-finite durations (clock skew between device and edge) are rejected with a PlannerError.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass

import numpy as np

from sciot.errors import PlannerError
from sciot.planner._estimators import FloatArray, PageHinkley

_BUCKET_SAMPLES = 8
_MAX_BYTES_PER_S = 1e11
_MIN_REL_SPREAD = 0.05
_MAX_MEAN_FACTOR = 4.0


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkEstimate:
    """What the link estimator believes now.

    ``bandwidth_age_s`` is how long ago the bandwidth was last pinned by a transfer of a size
    other than the most recent one (infinite if never): the age of the slope, not of the RTT.
    ``largest_bytes``: the biggest transfer in the window, how far the fit has been tried.
    """

    rtt_s: float
    bytes_per_s: float
    identified: bool
    samples: int
    rel_spread: float
    window_samples: int
    last_s: float
    bandwidth_age_s: float
    largest_bytes: float = 0.0
    mean_factor: float = 1.0

    def network_s(self, request_bytes: FloatArray) -> FloatArray:
        """The *mean* network time: the fitted line is a median one, so it is scaled by the
        recent transfers' mean over median (``mean_factor``). Where other traffic takes a
        random share of the link, a transfer's time is heavy-tailed and its mean, which the
        latency objective is about, lies well above the typical one."""
        return (self.rtt_s + request_bytes / self.bytes_per_s) * self.mean_factor


class LinkEstimator:
    """Robust online fit of ``seconds = rtt_s + bytes / bytes_per_s`` from transfers."""

    def __init__(self, *, prior_bytes_per_s: float = 1e6) -> None:
        if not prior_bytes_per_s > 0:
            raise PlannerError(f"prior_bytes_per_s must be > 0, got {prior_bytes_per_s}")
        self._prior_s_per_byte = 1.0 / prior_bytes_per_s
        self._buckets: dict[int, deque[tuple[float, float]]] = {}
        self._bucket_last_s: dict[int, float] = {}
        self._last_bucket: int | None = None
        # A transfer far faster than the fitted line cannot be a straggler: one such is enough.
        self._detector = PageHinkley(clip_down=12.0)
        self._identified_slope: float | None = None
        self._fit = _Fit(rtt_s=0.0, s_per_byte=self._prior_s_per_byte, identified=False)
        self._rel_spread = _MIN_REL_SPREAD
        self._mean_factor = 1.0
        self._skew = 0.0
        self._log_residuals: deque[float] = deque(maxlen=32)
        self._samples = 0
        self._last_s = -math.inf
        self.changes = 0

    def update(self, request_bytes: int, seconds: float, now_s: float) -> bool:
        """Add one transfer; returns True if it revealed a shift (older history dropped)."""
        if isinstance(request_bytes, bool) or request_bytes < 0:
            raise PlannerError(f"transfer bytes must be >= 0, got {request_bytes!r}")
        if not math.isfinite(seconds) or seconds <= 0:
            raise PlannerError(
                f"transfer duration must be a finite number of seconds > 0, got {seconds!r}; "
                "a zero or negative duration usually means the device and edge clocks disagree"
            )
        changed = False
        bucket = max(0, int(request_bytes)).bit_length()
        if self._samples > 0:
            predicted = self._fit.rtt_s + request_bytes * self._fit.s_per_byte
            log_residual = math.log(seconds / max(predicted, 1e-9))
            self._log_residuals.append(log_residual)
            scaled = (log_residual - self._skew) / self._rel_spread
            if not self._fit.identified and bucket not in self._buckets:
                # A guessed slope, at a size not seen yet: a speed-up may be the guess's error.
                # At a size the window holds, the fit is that size's own (the slope hardly
                # matters), so one far faster transfer is a change (a link that recovered).
                scaled = max(scaled, -self._detector.clip)
            if self._detector.update(scaled):
                # The previous sample belongs to the new regime only if it leaned the same way
                # beyond the noise (a shift caught over several samples); a shift caught on
                # its first sample keeps nothing from before it.
                before = self._log_residuals[-2] if len(self._log_residuals) > 1 else 0.0
                leaned = before * log_residual > 0 and abs(before) > 2 * self._rel_spread
                self._forget_history(keep_newest=leaned)
                changed = True
                self.changes += 1
        samples = self._buckets.setdefault(bucket, deque(maxlen=_BUCKET_SAMPLES))
        samples.append((float(request_bytes), seconds))
        self._bucket_last_s[bucket] = now_s
        self._last_bucket = bucket
        self._samples += 1
        self._last_s = now_s
        self._refit()
        return changed

    def _forget_history(self, *, keep_newest: bool = True) -> None:
        # Keep at most the newest sample of the current bucket, when it is of the new regime.
        kept = self._last_bucket if keep_newest else None
        if kept is not None:
            newest = self._buckets[kept][-1]
            self._buckets = {kept: deque([newest], maxlen=_BUCKET_SAMPLES)}
            self._bucket_last_s = {kept: self._bucket_last_s[kept]}
        else:
            self._buckets, self._bucket_last_s = {}, {}
        self._log_residuals.clear()
        # Unsure until new residuals come in; a shift of level is no sign of less noise, so
        # a noisy link keeps its spread (a narrower one would see the noise as more shifts).
        self._rel_spread = max(self._rel_spread, _MIN_REL_SPREAD * 4)

    def _refit(self) -> None:
        # A handful of small groups: plain Python beats numpy's per-call overhead here.
        samples = [sample for bucket in self._buckets.values() for sample in bucket]
        fit = _grouped_theil_sen(list(self._buckets.values()), samples)
        if fit is not None and self._identified_slope is None:
            # The first line ever fitted: the residuals so far were measured against the
            # prior's slope, a guess, so they say nothing of a change, nor of the link's noise
            # or skew; left in, the guess's error drifts the change test to a false alarm on
            # exact transfers. (After a change the slope kept is a measured one.)
            self._detector.reset()
            self._log_residuals.clear()
        if fit is not None:
            self._identified_slope = fit.s_per_byte
            self._fit = fit
        else:
            slope = self._identified_slope or self._prior_s_per_byte
            self._fit = _fit_intercept(samples, slope)
        if len(self._log_residuals) >= 4:
            center = statistics.median(self._log_residuals)
            mad = statistics.median(abs(r - center) for r in self._log_residuals)
            self._rel_spread = max(_MIN_REL_SPREAD, 1.4826 * mad)
            ratios = [math.exp(r - center) for r in self._log_residuals]
            self._mean_factor = min(_MAX_MEAN_FACTOR, max(1.0, statistics.fmean(ratios)))
            # Noise that only ever slows a transfer down (other traffic taking a share of the
            # link) is skewed: its residuals average above their median. The change test
            # measures from that average, or the skew alone would drift it to an alarm.
            self._skew = max(0.0, statistics.fmean(self._log_residuals) - center)
        else:
            self._mean_factor = 1.0
            self._skew = 0.0

    def estimate(self, now_s: float) -> LinkEstimate:
        return LinkEstimate(
            rtt_s=self._fit.rtt_s,
            bytes_per_s=1.0 / self._fit.s_per_byte,
            identified=self._fit.identified,
            samples=self._samples,
            rel_spread=self._rel_spread,
            window_samples=sum(len(bucket) for bucket in self._buckets.values()),
            last_s=self._last_s,
            bandwidth_age_s=now_s - self._second_newest_bucket_s(),
            largest_bytes=max(
                (b for bucket in self._buckets.values() for b, _ in bucket), default=0.0
            ),
            mean_factor=self._mean_factor,
        )

    def _second_newest_bucket_s(self) -> float:
        if len(self._bucket_last_s) < 2:
            return -math.inf
        newest = max(self._bucket_last_s, key=self._bucket_last_s.__getitem__)
        return max(t for b, t in self._bucket_last_s.items() if b != newest)

    def optimistic_network_s(self, request_bytes: FloatArray) -> FloatArray:
        """The lowest network time any line consistent with the recent transfers allows.

        Identified: the fitted line. Otherwise every slope between 0 and the one that makes the
        RTT zero fits the one size seen (b0, t0): larger transfers could take as little as t0,
        smaller ones as little as ``t0 * bytes / b0``.
        """
        if self._samples == 0:
            return np.zeros_like(request_bytes)
        if self._fit.identified:
            return self._fit.rtt_s + request_bytes * self._fit.s_per_byte
        samples = [sample for bucket in self._buckets.values() for sample in bucket]
        b0 = statistics.median(b for b, _ in samples)
        t0 = statistics.median(t for _, t in samples)
        if b0 <= 0:
            return np.full_like(request_bytes, t0)
        return np.minimum(t0, t0 * request_bytes / b0)


@dataclass(frozen=True, slots=True)
class _Fit:
    rtt_s: float
    s_per_byte: float
    identified: bool


def _grouped_theil_sen(
    buckets: list[deque[tuple[float, float]]], samples: list[tuple[float, float]]
) -> _Fit | None:
    """Theil-Sen between size groups: the weighted median of the slopes between the groups'
    median points (weight: the number of sample pairs they stand for), then the median
    intercept over every sample. Medians make one delayed transfer harmless."""
    if len(samples) < 3 or len(buckets) < 2:
        return None
    points = [
        (
            statistics.median(b for b, _ in bucket),
            statistics.median(t for _, t in bucket),
            len(bucket),
        )
        for bucket in buckets
    ]
    slopes: list[tuple[float, int]] = []
    for i, (b_i, t_i, n_i) in enumerate(points):
        for b_j, t_j, n_j in points[i + 1 :]:
            if b_j != b_i:
                slopes.append(((t_j - t_i) / (b_j - b_i), n_i * n_j))
    if not slopes:
        return None
    slopes.sort()
    half = sum(w for _, w in slopes) / 2
    running = 0
    median_slope = slopes[-1][0]
    for candidate, weight in slopes:
        running += weight
        if running >= half:
            median_slope = candidate
            break
    slope = max(median_slope, 1.0 / _MAX_BYTES_PER_S)
    rtt = max(0.0, statistics.median(t - slope * b for b, t in samples))
    return _Fit(rtt_s=rtt, s_per_byte=slope, identified=True)


def _fit_intercept(samples: list[tuple[float, float]], s_per_byte: float) -> _Fit:
    if not samples:
        return _Fit(rtt_s=0.0, s_per_byte=s_per_byte, identified=False)
    # The known slope may be too steep for these transfers (the link got faster): then the
    # whole time is put down to bandwidth rather than predicting a negative RTT.
    ratios = [t / b for b, t in samples if b > 0]
    if ratios:
        s_per_byte = min(s_per_byte, statistics.median(ratios))
    rtt = max(0.0, statistics.median(t - s_per_byte * b for b, t in samples))
    return _Fit(rtt_s=rtt, s_per_byte=max(s_per_byte, 1.0 / _MAX_BYTES_PER_S), identified=False)


__all__ = ["LinkEstimate", "LinkEstimator"]
