"""What the device client reports: one outcome per inference and running statistics.

:class:`InferenceOutcome` is what :meth:`DeviceClient.infer` returns (the prediction and where
its time went); :class:`StatsRecorder` folds outcomes into the counters :class:`DeviceStats`
exposes, with latency percentiles over a bounded window so a long-running device does not grow.
"""

from __future__ import annotations

import enum
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np


class InferenceMode(enum.StrEnum):
    """Where an inference ran.

    ``split``: head on the device, tail on the edge (edge-only is split at cut 0).
    ``device-only``: the edge chose cut N (or forced local inference); the device ran the
    whole model with no round trip, and reports such inferences to the edge in batches.
    ``local``: the edge could not be used (failure or backoff); the device ran the whole model
    and queued the record for upload.
    """

    SPLIT = "split"
    DEVICE_ONLY = "device-only"
    LOCAL = "local"


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class InferenceOutcome:
    """One inference: its result, the cut used and where the time went (seconds)."""

    outputs: Mapping[str, np.ndarray]
    cut: int
    mode: InferenceMode
    device_s: float
    network_s: float
    edge_s: float
    total_s: float
    payload_bytes: int
    seq: int
    reason: str = ""
    """Why the inference ran locally (empty for split / device-only)."""

    def output(self) -> np.ndarray:
        """The single output of a one-output model (FOMO's heat map)."""
        if len(self.outputs) != 1:
            raise ValueError(f"model has {len(self.outputs)} outputs; index .outputs by name")
        return next(iter(self.outputs.values()))


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencySummary:
    """Percentiles of end-to-end latency, milliseconds (0 when there is no sample)."""

    count: int = 0
    mean_ms: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    max_ms: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceStats:
    """Counters of one device client since it started."""

    device_id: str
    state: str
    inferences: int
    split: int
    """Round trips at an interior cut (head here, tail on the edge): the edge's
    ``split_inferences`` counts the same ones."""
    device_only: int
    local_fallbacks: int
    lost: int
    uploaded: int
    queued: int
    failures: int
    registrations: int
    reported: int = 0
    """Device-only inferences the edge acknowledged in periodic reports."""
    edge_only: int = 0
    """Round trips at cut 0 (the input sent, the whole model on the edge), as the edge's
    ``edge_only`` counts them."""
    cuts: Mapping[int, int] = field(default_factory=dict)
    latency: LatencySummary = field(default_factory=LatencySummary)
    split_latency: LatencySummary = field(default_factory=LatencySummary)
    probes_alongside: int = 0
    """Probes sent alongside device-only inferences (answered or not); not inferences."""

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view (for ``sciot device --json`` and the demo summary)."""
        return {
            "device_id": self.device_id,
            "state": self.state,
            "inferences": self.inferences,
            "split_inferences": self.split,
            "edge_only": self.edge_only,
            "device_only": self.device_only,
            "local_fallbacks": self.local_fallbacks,
            "lost": self.lost,
            "uploaded": self.uploaded,
            "queued": self.queued,
            "failures": self.failures,
            "registrations": self.registrations,
            "reported": self.reported,
            "probes_alongside": self.probes_alongside,
            "cuts": {str(cut): count for cut, count in sorted(self.cuts.items())},
            "latency_ms": _latency_dict(self.latency),
            "split_latency_ms": _latency_dict(self.split_latency),
        }


def _latency_dict(summary: LatencySummary) -> dict[str, float]:
    return {
        "mean": summary.mean_ms,
        "p50": summary.p50_ms,
        "p95": summary.p95_ms,
        "max": summary.max_ms,
    }


def summarise_latency(samples_s: np.ndarray) -> LatencySummary:
    """Percentiles of ``samples_s`` (seconds) in milliseconds."""
    if samples_s.size == 0:
        return LatencySummary()
    ms = samples_s * 1000.0
    p50, p95 = np.percentile(ms, [50, 95])
    return LatencySummary(
        count=int(ms.size),
        mean_ms=float(ms.mean()),
        p50_ms=float(p50),
        p95_ms=float(p95),
        max_ms=float(ms.max()),
    )


class StatsRecorder:
    """Accumulates outcomes; latencies are kept over the last ``window`` inferences."""

    __slots__ = (
        "_latency_s",
        "_split_latency_s",
        "cuts",
        "device_only",
        "edge_only",
        "failures",
        "inferences",
        "local_fallbacks",
        "probes_alongside",
        "registrations",
        "reported",
        "split",
        "uploaded",
    )

    def __init__(self, window: int = 100_000) -> None:
        self.inferences = 0
        self.split = 0
        self.edge_only = 0
        self.device_only = 0
        self.local_fallbacks = 0
        self.uploaded = 0
        self.reported = 0
        self.failures = 0
        self.registrations = 0
        self.probes_alongside = 0
        self.cuts: Counter[int] = Counter()
        self._latency_s: deque[float] = deque(maxlen=window)
        self._split_latency_s: deque[float] = deque(maxlen=window)

    def record(self, outcome: InferenceOutcome) -> None:
        self.inferences += 1
        self.cuts[outcome.cut] += 1
        self._latency_s.append(outcome.total_s)
        if outcome.mode is InferenceMode.SPLIT:
            # Counted by cut, as the edge counts them: cut 0 is edge-only, not a split.
            if outcome.cut == 0:
                self.edge_only += 1
            else:
                self.split += 1
            self._split_latency_s.append(outcome.total_s)
        elif outcome.mode is InferenceMode.DEVICE_ONLY:
            self.device_only += 1
        else:
            self.local_fallbacks += 1

    def snapshot(self, *, device_id: str, state: str, lost: int, queued: int) -> DeviceStats:
        return DeviceStats(
            device_id=device_id,
            state=state,
            inferences=self.inferences,
            split=self.split,
            device_only=self.device_only,
            local_fallbacks=self.local_fallbacks,
            lost=lost,
            uploaded=self.uploaded,
            queued=queued,
            failures=self.failures,
            registrations=self.registrations,
            reported=self.reported,
            edge_only=self.edge_only,
            cuts=MappingProxyType(dict(self.cuts)),
            latency=summarise_latency(np.fromiter(self._latency_s, dtype=np.float64)),
            split_latency=summarise_latency(np.fromiter(self._split_latency_s, dtype=np.float64)),
            probes_alongside=self.probes_alongside,
        )


__all__ = [
    "DeviceStats",
    "InferenceMode",
    "InferenceOutcome",
    "LatencySummary",
    "StatsRecorder",
    "summarise_latency",
]
