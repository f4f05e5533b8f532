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
from sciot.sensors._types import BoolArray, FloatArray, IngestCounts, ReadingBatch, SensorInfo

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
    "residual_std",
    "residual_peak",
    "lost",
)
# Sensor types whose normal signal is a fast oscillation: their residual is what is left
# above half the Nyquist frequency, not what is left around a straight line.
PERIODIC_TYPES = frozenset({"vibration"})
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


def compute_features(
    t_s: FloatArray,
    v: FloatArray,
    *,
    periodic: bool = False,
    lost: BoolArray | None = None,
) -> FloatArray:
    """Feature matrix (windows x FEATURE_NAMES) of windows given as rows of times and values.

    ``slope`` and ``rate_of_change`` are per second (least-squares slope; largest absolute
    step between neighbours); ``spectral_energy`` is the mean power of the upper half of the
    spectrum of the de-meaned window (broadband energy: noise, knocks, rattles), ``tod_*``
    place the window's end on the daily circle, ``gap_ratio`` is the longest interval between
    readings over the median one (a dropout shows as a large ratio). ``residual_std`` and
    ``residual_peak`` are the root mean square and the largest magnitude of what is left once
    the window's slow part is removed: its straight-line fit, or for ``periodic`` signals
    everything below half the Nyquist frequency. ``lost[i, j]`` says readings known to be lost
    on the way (not a sensor fault) preceded reading ``j`` of window ``i``: those intervals do
    not count towards ``gap_ratio``, and ``lost`` counts them.
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
    slope = np.divide((tc * centred).sum(axis=1), denom, out=np.zeros(m), where=denom > 0)
    out[:, 4] = slope
    dt = np.diff(t_s, axis=1)
    dv = np.abs(np.diff(v, axis=1))
    safe_dt = np.where(dt > 0, dt, np.inf)
    out[:, 5] = (dv / safe_dt).max(axis=1)
    spectrum = np.fft.rfft(centred, axis=1)
    power = np.abs(spectrum) ** 2
    half = power.shape[1] // 2
    out[:, 6] = power[:, half:].mean(axis=1) / size
    end = t_s[:, -1]
    angle = 2.0 * np.pi * np.mod(end, 86_400.0) / 86_400.0
    out[:, 7] = np.sin(angle)
    out[:, 8] = np.cos(angle)
    typical = np.median(dt, axis=1)
    if lost is not None:
        excused = lost[:, 1:]
        dt = np.where(excused, typical[:, None], dt)
        out[:, 12] = excused.sum(axis=1)
    else:
        out[:, 12] = 0.0
    out[:, 9] = np.divide(dt.max(axis=1), typical, out=np.ones(m), where=typical > 0)
    if periodic:
        spectrum[:, :half] = 0.0
        residual = np.fft.irfft(spectrum, n=size, axis=1)
        # The FFT sees the window as periodic; a tone that does not fit it a whole number of
        # times jumps at the seam and rings near both ends, so judge only the middle.
        edge = size // 4
        if size - 2 * edge >= 2 and edge:
            residual = residual[:, edge:-edge]
    else:
        residual = centred - slope[:, None] * tc
    out[:, 10] = np.sqrt((residual * residual).mean(axis=1))
    out[:, 11] = np.abs(residual).max(axis=1)
    return out


@dataclass(slots=True)
class _SensorWindowState:
    last_t: float
    accepted: int
    carry_t: FloatArray
    carry_v: FloatArray
    carry_sent: FloatArray
    carry_lost: BoolArray
    last_seq: int
    pending_lost: bool


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
        keep = self._keep(batch)
        return batch if keep.all() else batch.select(keep)

    def _keep(self, batch: ReadingBatch) -> BoolArray:
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
        return keep

    def seen(self, sensor_id: str) -> bool:
        """Whether any reading of ``sensor_id`` has reached this builder."""
        return sensor_id in self._state

    def _state_of(self, sensor_id: str) -> _SensorWindowState:
        state = self._state.get(sensor_id)
        if state is None:
            empty = np.empty(0, dtype=np.float64)
            state = _SensorWindowState(
                -np.inf, 0, empty, empty, empty, np.empty(0, dtype=np.bool_), -1, False
            )
            self._state[sensor_id] = state
        return state

    def push(
        self, batch: ReadingBatch, *, lost_before_s: FloatArray | None = None
    ) -> WindowFeatures | None:
        """Validate ``batch`` and return the features of every window it completes.

        Readings known to have been lost on the way (not the sensor's doing) are excused from
        the dropout rule: those after a hole in the sender's ``seq``, and those whose
        timestamp is in ``lost_before_s`` (the ingest's own drops, for senders without seq).
        """
        keep = self._keep(batch)
        state = self._state[batch.info.sensor_id]
        lost = self._lost_flags(state, batch, keep, lost_before_s)
        accepted = batch if keep.all() else batch.select(keep)
        n = len(accepted)
        if n == 0:
            return None
        t = np.concatenate((state.carry_t, accepted.timestamp_s))
        v = np.concatenate((state.carry_v, accepted.value))
        sent = np.concatenate((state.carry_sent, accepted.sent_s))
        gone = np.concatenate((state.carry_lost, lost))
        first_index = state.accepted - state.carry_t.shape[0]  # global index of t[0]
        state.accepted += n
        carry = min(self.window - 1, t.shape[0])
        state.carry_t, state.carry_v, state.carry_sent = t[-carry:], v[-carry:], sent[-carry:]
        state.carry_lost = gone[-carry:]
        if t.shape[0] < self.window:
            return None
        # Window ending at global index e exists when e >= window-1 and (e-window+1) % step == 0.
        offset = (-first_index) % self.step
        starts = np.arange(offset, t.shape[0] - self.window + 1, self.step)
        if starts.shape[0] == 0:
            return None
        tw = sliding_window_view(t, self.window)[starts]
        vw = sliding_window_view(v, self.window)[starts]
        lw = sliding_window_view(gone, self.window)[starts]
        ends = starts + self.window - 1
        periodic = batch.info.sensor_type in PERIODIC_TYPES
        return WindowFeatures(
            info=batch.info,
            end_s=t[ends],
            sent_s=sent[ends],
            values=compute_features(tw, vw, periodic=periodic, lost=lw),
        )

    def _lost_flags(
        self,
        state: _SensorWindowState,
        batch: ReadingBatch,
        keep: BoolArray,
        lost_before_s: FloatArray | None,
    ) -> BoolArray:
        """Per accepted reading: whether readings that did exist went missing just before it.

        Missing means a hole in ``seq``, a reading this builder rejected (out of range), or a
        drop the ingest reported; the flag lands on the next accepted reading.
        """
        seq = batch.seq
        previous = np.concatenate(([state.last_seq], seq[:-1]))
        hole = (seq >= 0) & (previous >= 0) & (seq - previous > 1)
        missing = int((seq - previous - 1)[hole].sum())
        if missing:
            self.counts = self.counts.plus(IngestCounts(missing_seq=missing))
        if seq.shape[0]:
            state.last_seq = int(seq[-1])
        if lost_before_s is not None and lost_before_s.shape[0]:
            hole |= np.isin(batch.timestamp_s, lost_before_s)
        # A gap is excused when anything since the previous accepted reading was lost.
        missed = hole | ~keep
        seen = np.cumsum(missed) + int(state.pending_lost)
        accepted_at = np.flatnonzero(keep)
        before = np.concatenate(([0], seen[accepted_at[:-1]] if accepted_at.shape[0] else []))
        flags = np.asarray(seen[accepted_at] - before > 0, dtype=np.bool_)
        if accepted_at.shape[0]:
            state.pending_lost = bool(missed[accepted_at[-1] + 1 :].any())
        else:
            state.pending_lost = bool(state.pending_lost or missed.any())
        return flags
