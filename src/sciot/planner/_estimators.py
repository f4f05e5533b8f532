"""Online estimators of per-op times, with change and variance detection.

Every estimator updates one observation at a time (``update``) and reports what it believes
(``estimate``). :class:`Ewma` keeps an exponentially weighted mean and variance and the time of
its last observation; :class:`PageHinkley` flags a sustained shift in a normalised residual so
an estimator can drop its history and re-converge at once instead of at the EWMA's pace;
:class:`OpTimes` keeps one of each per op in numpy arrays (so a decision reads them without a
Python loop) and applies SCIoT's variance rule: a coefficient of variation above 15 % over an
op's last ten samples marks the op unstable, and the next op too, since its input came from
the unstable one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sciot.errors import PlannerError

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]

CV_WINDOW = 10
CV_THRESHOLD = 0.15
# A speed-up of this many spreads raises a change alarm on its own (Page-Hinkley's threshold
# is 8 and its slack 0.5): with a 5 % floor on the spread, one sample a third faster.
SPEED_UP_CLIP = 9.0


@dataclass(frozen=True, slots=True, kw_only=True)
class EwmaEstimate:
    mean: float
    variance: float
    count: int
    last_s: float


class Ewma:
    """Exponentially weighted mean and variance; the first sample sets the mean outright."""

    __slots__ = ("_alpha", "_count", "_last_s", "_mean", "_variance")

    def __init__(self, alpha: float) -> None:
        if not 0 < alpha <= 1:
            raise PlannerError(f"an EWMA needs 0 < alpha <= 1, got {alpha}")
        self._alpha = alpha
        self._mean = 0.0
        self._variance = 0.0
        self._count = 0
        self._last_s = -math.inf

    def update(self, x: float, now_s: float = 0.0) -> None:
        if self._count == 0:
            self._mean, self._variance = x, 0.0
        else:
            diff = x - self._mean
            incr = self._alpha * diff
            self._mean += incr
            self._variance = (1 - self._alpha) * (self._variance + diff * incr)
        self._count += 1
        self._last_s = now_s

    def reset(self, x: float, now_s: float = 0.0) -> None:
        self._count = 0
        self.update(x, now_s)

    def estimate(self) -> EwmaEstimate:
        return EwmaEstimate(
            mean=self._mean, variance=self._variance, count=self._count, last_s=self._last_s
        )


class PageHinkley:
    """Two-sided Page-Hinkley test on a residual already scaled to unit spread.

    Residuals are clipped to ``±clip`` so one straggler cannot raise an alarm on its own; with
    the defaults a shift of three spreads or more is caught on its fourth sample, a lone
    straggler (or two close together) is absorbed, and a false alarm on pure unit noise comes
    about once in several thousand samples.
    """

    __slots__ = ("_down", "_up", "clip", "clip_down", "delta", "threshold")

    def __init__(
        self,
        *,
        delta: float = 0.5,
        threshold: float = 8.0,
        clip: float = 3.0,
        clip_down: float | None = None,
    ) -> None:
        self.delta = delta
        self.threshold = threshold
        self.clip = clip
        # Residuals below zero may be clipped less: where noise only ever slows things down
        # (a transfer cannot beat its link), a big speed-up is a change, not a straggler.
        self.clip_down = clip if clip_down is None else clip_down
        self._up = 0.0
        self._down = 0.0

    def update(self, x: float) -> bool:
        """Feed one residual; True when a change is detected (the test then restarts)."""
        r = min(self.clip, max(-self.clip_down, x))
        self._up = max(0.0, self._up + r - self.delta)
        self._down = max(0.0, self._down - r - self.delta)
        if self._up > self.threshold or self._down > self.threshold:
            self.reset()
            return True
        return False

    def reset(self) -> None:
        self._up = 0.0
        self._down = 0.0

    def estimate(self) -> float:
        """How far the test is towards an alarm, in units of its threshold (0..1)."""
        return max(self._up, self._down) / self.threshold


@dataclass(frozen=True, slots=True, kw_only=True)
class OpTimesEstimate:
    """Per-op beliefs, one entry per op; ``known`` is False for never-observed ops."""

    mean_s: FloatArray
    variance: FloatArray
    known: BoolArray
    age_s: FloatArray
    unstable: BoolArray


class OpTimes:
    """Per-op time estimators for one side (device or edge) of one device's requests.

    The per-op EWMA, Page-Hinkley test and ten-sample window are kept in arrays and updated
    for all ops of a request at once: a request reports every op it ran, and a Python loop
    over a hundred ops would cost more than the decision itself.
    """

    def __init__(
        self,
        num_ops: int,
        *,
        alpha: float = 0.1,
        min_rel_spread: float = 0.05,
        clip_down: float = SPEED_UP_CLIP,
    ) -> None:
        self._num_ops = num_ops
        self._alpha = alpha
        self._min_rel_spread = min_rel_spread
        self.mean_s = np.zeros(num_ops)
        self.variance = np.zeros(num_ops)
        self.count = np.zeros(num_ops, dtype=np.int64)
        self.last_s = np.full(num_ops, -math.inf)
        self._ring = np.zeros((num_ops, CV_WINDOW))
        self._ring_count = np.zeros(num_ops, dtype=np.int64)
        self._unstable_own = np.zeros(num_ops, dtype=bool)
        self._ph_up = np.zeros(num_ops)
        self._ph_down = np.zeros(num_ops)
        # Noise and stragglers only slow an op down; a sample many spreads *faster* than the
        # mean is a change (an overload or a throttling ended), caught on that one sample.
        self._ph = PageHinkley(clip_down=clip_down)
        self.shift_ratio = np.ones(num_ops)
        """Per op: new mean over old at its latest detected shift (1 before any)."""
        self.changes = 0

    @property
    def num_ops(self) -> int:
        return self._num_ops

    def update(self, op_seconds: Mapping[int, float], now_s: float) -> list[int]:
        """Record one request's per-op times; returns the ops whose time shifted."""
        ops, xs = validate_op_seconds(op_seconds, self._num_ops)
        if len(ops) == 0:
            return []
        recent_min = self._recent_min(ops)
        slots = self._ring_count[ops] % CV_WINDOW
        self._ring[ops, slots] = xs
        self._ring_count[ops] += 1
        self._update_variance_rule(ops)
        self.last_s[ops] = now_s
        first = self.count[ops] == 0
        if first.any():
            fresh = ops[first]
            self.mean_s[fresh], self.variance[fresh], self.count[fresh] = xs[first], 0.0, 1
        seen, x = ops[~first], xs[~first]
        if len(seen) == 0:
            return []
        mean = self.mean_s[seen]
        safe_mean = np.maximum(mean, 1e-12)
        spread = np.maximum(self._min_rel_spread, np.sqrt(self.variance[seen]) / safe_mean)
        # A far faster sample is news only if it is faster than any of the op's recent ones:
        # where some requests wait in a shared queue and some do not, one that did not wait
        # is the noise's other mode, not the end of an overload. News is measured in log
        # ratio (one such sample can be a change); a speed-up within the recent range only
        # by its linear distance, which a spread-out op's quick samples do not make large.
        novel = x * (1 + 3 * spread) < recent_min[~first]
        log_residual = np.log(np.maximum(x, 1e-12) / safe_mean) / spread
        linear = (x - mean) / (spread * safe_mean)
        residual = np.where((x < mean) & ~novel, linear, log_residual)
        alarm = self._page_hinkley(seen, residual, novel)
        diff = x - mean
        # The variance sees the deviation winsorised at 3 spreads, so one outlier cannot
        # widen the spread that the change test divides by and hide the shift it began.
        bound = 3 * spread * mean
        clipped = np.clip(diff, -bound, bound)
        self.mean_s[seen] = mean + self._alpha * diff
        self.variance[seen] = (1 - self._alpha) * (
            self.variance[seen] + self._alpha * clipped * clipped
        )
        self.count[seen] += 1
        shifted = seen[alarm]
        for op, old_mean, old_var in zip(
            shifted.tolist(), mean[alarm].tolist(), (spread[alarm] ** 2).tolist(), strict=True
        ):
            self._restart(op, old_mean, old_var)
        return [int(op) for op in shifted]

    def _window(
        self, ops: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], FloatArray, npt.NDArray[np.bool_]]:
        """Per op, how many of its last ``CV_WINDOW`` samples the ring holds, the ring, and
        which of its slots are filled."""
        filled = np.minimum(self._ring_count[ops], CV_WINDOW)
        valid = np.arange(CV_WINDOW)[None, :] < filled[:, None]
        return filled, self._ring[ops], valid

    def _update_variance_rule(self, ops: npt.NDArray[np.int64]) -> None:
        filled, window, valid = self._window(ops)
        n = np.maximum(filled, 1)
        mean = np.where(valid, window, 0.0).sum(axis=1) / n
        var = np.where(valid, (window - mean[:, None]) ** 2, 0.0).sum(axis=1) / n
        ready = filled >= 3
        cv_high = (mean > 0) & (np.sqrt(var) > CV_THRESHOLD * mean)
        self._unstable_own[ops[ready]] = cv_high[ready]

    def _recent_min(self, ops: npt.NDArray[np.int64]) -> FloatArray:
        """Per op, the fastest of its last ``CV_WINDOW`` samples (infinite before any)."""
        _filled, window, valid = self._window(ops)
        recent: FloatArray = np.where(valid, window, np.inf).min(axis=1)
        return recent

    def _page_hinkley(
        self, ops: npt.NDArray[np.int64], residual: FloatArray, novel: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.bool_]:
        """:class:`PageHinkley` for many ops at once (same constants); a speed-up is clipped
        at ``clip_down`` only where it is ``novel``, at the symmetric clip elsewhere."""
        ph = self._ph
        r = np.clip(residual, np.where(novel, -ph.clip_down, -ph.clip), ph.clip)
        up = np.maximum(0.0, self._ph_up[ops] + r - ph.delta)
        down = np.maximum(0.0, self._ph_down[ops] - r - ph.delta)
        alarm = (up > ph.threshold) | (down > ph.threshold)
        self._ph_up[ops] = np.where(alarm, 0.0, up)
        self._ph_down[ops] = np.where(alarm, 0.0, down)
        return alarm

    def _restart(self, op: int, old_mean: float, rel_var: float) -> None:
        """After a shift, start again from the samples since it (median: robust to one
        straggler), keeping the relative spread, which three samples say little about. The
        samples since the shift are the recent ones nearer (in ratio) the newest than the old
        mean: a speed-up caught on its first sample restarts from it, not from two slow ones."""
        filled = min(int(self._ring_count[op]), CV_WINDOW)
        last = int(self._ring_count[op] - 1) % CV_WINDOW
        recent = self._ring[op, [(last - i) % CV_WINDOW for i in range(min(filled, 3))]]
        logs = np.log(np.maximum(recent, 1e-12))
        newest, old = logs[0], math.log(max(old_mean, 1e-12))
        regime = np.abs(logs - newest) <= np.abs(logs - old)
        new_mean = float(np.median(recent[regime]))
        self.shift_ratio[op] = new_mean / max(old_mean, 1e-12)
        self.mean_s[op] = new_mean
        self.variance[op] = max(self._min_rel_spread**2, rel_var) * new_mean * new_mean
        self.count[op] = 1
        self.changes += 1

    def scale(self, ops: npt.NDArray[np.int64], factor: float) -> None:
        """Move ops not observed by ``factor`` (their side shifted as a whole), keeping their
        age: a guess from their neighbours, re-measured like any stale estimate."""
        if len(ops) == 0 or not (math.isfinite(factor) and factor > 0):
            return
        self.mean_s[ops] *= factor
        self.variance[ops] *= factor * factor
        self._ph_up[ops] = 0.0
        self._ph_down[ops] = 0.0

    def unstable(self) -> BoolArray:
        """SCIoT's rule: an unstable op flags itself and the op after it."""
        flags = self._unstable_own.copy()
        flags[1:] |= self._unstable_own[:-1]
        return flags

    def estimate(self, now_s: float) -> OpTimesEstimate:
        return OpTimesEstimate(
            mean_s=self.mean_s,
            variance=self.variance,
            known=self.count > 0,
            age_s=now_s - self.last_s,
            unstable=self.unstable(),
        )


def validate_op_seconds(
    op_seconds: Mapping[int, float], num_ops: int
) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Check a per-op observation (known op indices, finite times >= 0) into two arrays."""
    try:
        ops = np.fromiter(op_seconds.keys(), dtype=np.int64, count=len(op_seconds))
        xs = np.fromiter(op_seconds.values(), dtype=np.float64, count=len(op_seconds))
    except (TypeError, ValueError) as exc:
        raise PlannerError(
            f"per-op times must map integer op indices to seconds; got {dict(op_seconds)!r}"
        ) from exc
    bad_index = (ops < 0) | (ops >= num_ops)
    if bad_index.any():
        op = int(ops[int(np.flatnonzero(bad_index)[0])])
        raise PlannerError(f"op index {op} is out of range; the model has ops 0..{num_ops - 1}")
    bad_time = ~np.isfinite(xs) | (xs < 0)
    if bad_time.any():
        i = int(np.flatnonzero(bad_time)[0])
        raise PlannerError(
            f"op {int(ops[i])} time must be a finite number of seconds >= 0, got {xs[i]}"
        )
    return ops, xs


__all__ = [
    "CV_THRESHOLD",
    "CV_WINDOW",
    "SPEED_UP_CLIP",
    "Ewma",
    "EwmaEstimate",
    "OpTimes",
    "OpTimesEstimate",
    "PageHinkley",
    "validate_op_seconds",
]
