"""Validation, per-sensor sliding windows and window features, all on numpy arrays.

Each sensor keeps a little state: the newest timestamp accepted (to count late and duplicate
readings), and the last ``window - 1`` readings so a window can straddle two batches. A batch of
readings becomes a matrix of windows (one row per window, via ``sliding_window_view``) and every
feature is one vectorised expression over that matrix; no Python loop runs per reading or per
window. Window ``k`` of a sensor ends at its accepted reading ``window - 1 + k * step``, whatever
the batch boundaries were, so results do not depend on how messages were grouped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from sciot.errors import SensorError
from sciot.sensors._types import FloatArray, IngestCounts, ReadingBatch, SensorInfo

FEATURE_NAMES: tuple[str, ...] = (
    "mean",
    "std",
    "min",
    "max",
    "slope",
    "rate_of_change",
    "spectral_energy",
    "tod_sin",
    "tod_cos",
    "gap_ratio",
)
_COL = {name: i for i, name in enumerate(FEATURE_NAMES)}


def feature_column(name: str) -> int:
    """Column of feature ``name`` in :attr:`WindowFeatures.values`."""
    try:
        return _COL[name]
    except KeyError as exc:
        raise SensorError(f"unknown feature {name!r}; known: {', '.join(FEATURE_NAMES)}") from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowFeatures:
    """Features of consecutive windows of one sensor; ``values`` columns are FEATURE_NAMES."""

    info: SensorInfo
    end_s: FloatArray
    sent_s: FloatArray
    values: FloatArray

    def __len__(self) -> int:
        return int(self.end_s.shape[0])

    def column(self, name: str) -> FloatArray:
        return self.values[:, feature_column(name)]


def compute_features(t_s: FloatArray, v: FloatArray) -> FloatArray:
    """Feature matrix (windows x FEATURE_NAMES) of windows given as rows of times and values.

    ``slope`` and ``rate_of_change`` are per second (least-squares slope; largest absolute
    step between neighbours); ``spectral_energy`` is the mean power of the upper half of the
    spectrum of the de-meaned window (broadband energy: noise, knocks, rattles), ``tod_*``
    place the window's end on the daily circle, ``gap_ratio`` is the longest interval between
    readings over the median one (a dropout shows as a large ratio).
    """
    if t_s.ndim != 2 or t_s.shape != v.shape or t_s.shape[1] < 2:
        raise SensorError(f"windows must be 2-D with >= 2 columns, got {t_s.shape} / {v.shape}")
    m, size = v.shape
    out = np.empty((m, len(FEATURE_NAMES)), dtype=np.float64)
    mean = v.mean(axis=1)
    centred = v - mean[:, None]
    out[:, 0] = mean
    out[:, 1] = np.sqrt((centred * centred).mean(axis=1))
    out[:, 2] = v.min(axis=1)
    out[:, 3] = v.max(axis=1)
    tc = t_s - t_s.mean(axis=1, keepdims=True)
    denom = (tc * tc).sum(axis=1)
    out[:, 4] = np.divide((tc * centred).sum(axis=1), denom, out=np.zeros(m), where=denom > 0)
    dt = np.diff(t_s, axis=1)
    dv = np.abs(np.diff(v, axis=1))
    safe_dt = np.where(dt > 0, dt, np.inf)
    out[:, 5] = (dv / safe_dt).max(axis=1)
    power = np.abs(np.fft.rfft(centred, axis=1)) ** 2
    upper = power[:, power.shape[1] // 2 :]
    out[:, 6] = upper.mean(axis=1) / size
    end = t_s[:, -1]
    angle = 2.0 * np.pi * np.mod(end, 86_400.0) / 86_400.0
    out[:, 7] = np.sin(angle)
    out[:, 8] = np.cos(angle)
    typical = np.median(dt, axis=1)
    out[:, 9] = np.divide(dt.max(axis=1), typical, out=np.ones(m), where=typical > 0)
    return out


@dataclass(slots=True)
class _SensorWindowState:
    last_t: float
    accepted: int
    carry_t: FloatArray
    carry_v: FloatArray
    carry_sent: FloatArray


class WindowBuilder:
    """Validates each sensor's readings and turns them into window features.

    ``ranges`` maps a sensor id to its valid ``(low, high)``; sensors without one get no range
    check. Rejected readings are counted in :attr:`counts`, by reason, and skipped.
    """

    def __init__(
        self, *, window: int, step: int, ranges: Mapping[str, tuple[float, float]] | None = None
    ) -> None:
        if not window >= 2 or not 1 <= step <= window:
            raise SensorError(f"need window >= 2 and 1 <= step <= window, got {window}/{step}")
        self.window = window
        self.step = step
        self._ranges = dict(ranges or {})
        self._state: dict[str, _SensorWindowState] = {}
        self.counts = IngestCounts()

    def validate(self, batch: ReadingBatch) -> ReadingBatch:
        """The readings of ``batch`` that are in range, in time order and not duplicated."""
        state = self._state_of(batch.info.sensor_id)
        t = batch.timestamp_s
        keep = np.ones(len(batch), dtype=np.bool_)
        out_of_range = 0
        bounds = self._ranges.get(batch.info.sensor_id)
        if bounds is not None:
            inside = (batch.value >= bounds[0]) & (batch.value <= bounds[1])
            out_of_range = int((~inside).sum())
            keep &= inside
        newest = np.maximum.accumulate(np.concatenate(([state.last_t], t)))[:-1]
        duplicate = keep & (t == newest)
        late = keep & (t < newest)
        keep &= t > newest
        if keep.any():
            state.last_t = max(state.last_t, float(t[keep].max()))
        self.counts = self.counts.plus(
            IngestCounts(
                readings=int(keep.sum()),
                out_of_range=out_of_range,
                late=int(late.sum()),
                duplicate=int(duplicate.sum()),
            )
        )
        return batch if keep.all() else batch.select(keep)

    def seen(self, sensor_id: str) -> bool:
        """Whether any reading of ``sensor_id`` has reached this builder."""
        return sensor_id in self._state

    def _state_of(self, sensor_id: str) -> _SensorWindowState:
        state = self._state.get(sensor_id)
        if state is None:
            empty = np.empty(0, dtype=np.float64)
            state = _SensorWindowState(-np.inf, 0, empty, empty, empty)
            self._state[sensor_id] = state
        return state

    def push(self, batch: ReadingBatch) -> WindowFeatures | None:
        """Validate ``batch`` and return the features of every window it completes."""
        accepted = self.validate(batch)
        n = len(accepted)
        if n == 0:
            return None
        state = self._state[batch.info.sensor_id]
        t = np.concatenate((state.carry_t, accepted.timestamp_s))
        v = np.concatenate((state.carry_v, accepted.value))
        sent = np.concatenate((state.carry_sent, accepted.sent_s))
        first_index = state.accepted - state.carry_t.shape[0]  # global index of t[0]
        state.accepted += n
        keep = min(self.window - 1, t.shape[0])
        state.carry_t, state.carry_v, state.carry_sent = t[-keep:], v[-keep:], sent[-keep:]
        if t.shape[0] < self.window:
            return None
        # Window ending at global index e exists when e >= window-1 and (e-window+1) % step == 0.
        offset = (-first_index) % self.step
        starts = np.arange(offset, t.shape[0] - self.window + 1, self.step)
        if starts.shape[0] == 0:
            return None
        tw = sliding_window_view(t, self.window)[starts]
        vw = sliding_window_view(v, self.window)[starts]
        ends = starts + self.window - 1
        return WindowFeatures(
            info=batch.info,
            end_s=t[ends],
            sent_s=sent[ends],
            values=compute_features(tw, vw),
        )
