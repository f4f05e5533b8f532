"""Value types that flow through the sensor pipeline.

Readings travel in column batches (:class:`ReadingBatch`: one numpy array per field) so every
stage after decoding works on arrays, never on one Python object per reading. Anomaly events
(the simulator's ground truth), findings (anomalous windows, before de-duplication) and alerts
(the detector's output) are small frozen records because there are few of them and they cross
module and process boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from sciot.errors import SensorError

AnomalyKind = Literal["spike", "level_shift", "drift", "stuck", "dropout", "noise_burst"]
ANOMALY_KINDS: tuple[AnomalyKind, ...] = (
    "spike",
    "level_shift",
    "drift",
    "stuck",
    "dropout",
    "noise_burst",
)
Severity = Literal["warning", "critical"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True, kw_only=True)
class SensorInfo:
    """What a reading says about its sensor besides the value (the seed schema's keys)."""

    sensor_id: str
    sensor_type: str
    unit: str
    location: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadingBatch:
    """Readings of one sensor, in arrival order, as parallel arrays.

    ``timestamp_s`` is the sensor's clock (epoch seconds, simulated time when simulating);
    ``sent_s`` and ``received_s`` are wall-clock epoch seconds at the publisher and at the
    ingest process, used only for latency. ``seq`` is -1 where the sender gave none.
    """

    info: SensorInfo
    timestamp_s: FloatArray
    value: FloatArray
    seq: IntArray
    sent_s: FloatArray
    received_s: FloatArray

    def __post_init__(self) -> None:
        n = self.timestamp_s.shape[0]
        for name in ("value", "seq", "sent_s", "received_s"):
            if getattr(self, name).shape != (n,):
                raise SensorError(
                    f"reading batch for {self.info.sensor_id!r}: field {name!r} has shape "
                    f"{getattr(self, name).shape}, expected ({n},)"
                )

    def __len__(self) -> int:
        return int(self.timestamp_s.shape[0])

    def slice(self, start: int, stop: int) -> ReadingBatch:
        """Readings ``[start, stop)`` (views, no copy)."""
        return ReadingBatch(
            info=self.info,
            timestamp_s=self.timestamp_s[start:stop],
            value=self.value[start:stop],
            seq=self.seq[start:stop],
            sent_s=self.sent_s[start:stop],
            received_s=self.received_s[start:stop],
        )

    def select(self, keep: npt.NDArray[np.bool_]) -> ReadingBatch:
        """The readings where ``keep`` is true, same sensor."""
        return ReadingBatch(
            info=self.info,
            timestamp_s=self.timestamp_s[keep],
            value=self.value[keep],
            seq=self.seq[keep],
            sent_s=self.sent_s[keep],
            received_s=self.received_s[keep],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AnomalyEvent:
    """One injected anomaly: ground truth for scoring (times on the sensor's clock)."""

    sensor_id: str
    kind: AnomalyKind
    start_s: float
    end_s: float
    magnitude: float

    def __post_init__(self) -> None:
        if self.end_s < self.start_s:
            raise SensorError(
                f"anomaly on {self.sensor_id!r} ends ({self.end_s}) before it starts "
                f"({self.start_s})"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One anomalous window, before alert de-duplication.

    ``z`` is the deviation of ``feature`` in its own units (baseline deviations, or noise
    sigma for ``spike``); ``score`` is the largest deviation over its threshold (above 1 is
    anomalous); ``value``, ``expected`` and ``spread`` are in the input's units.
    """

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


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """A de-duplicated anomaly alert for one sensor.

    ``timestamp_s`` is the sensor-clock time of the window that fired; ``kind`` is the
    detector's best guess from the feature that deviated most; ``reason`` says which feature
    and by how much, in words an operator can act on.
    """

    sensor_id: str
    timestamp_s: float
    severity: Severity
    kind: AnomalyKind
    feature: str
    score: float
    value: float
    expected: float
    reason: str
    sent_s: float
    raised_s: float

    @property
    def latency_ms(self) -> float:
        """Wall time from publishing the reading that completed the window to this alert."""
        return (self.raised_s - self.sent_s) * 1000.0


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestCounts:
    """Readings accepted and rejected, by reason; nothing is lost without being counted.

    ``dropped`` counts messages this process dropped (full inbox, or still queued at the end);
    ``missing_seq`` counts readings the senders' sequence numbers show never arrived, wherever
    they were lost (our inbox, the broker, the network).
    """

    messages: int = 0
    readings: int = 0
    malformed: int = 0
    out_of_range: int = 0
    late: int = 0
    duplicate: int = 0
    dropped: int = 0
    missing_seq: int = 0

    def plus(self, other: IngestCounts) -> IngestCounts:
        return IngestCounts(
            messages=self.messages + other.messages,
            readings=self.readings + other.readings,
            malformed=self.malformed + other.malformed,
            out_of_range=self.out_of_range + other.out_of_range,
            late=self.late + other.late,
            duplicate=self.duplicate + other.duplicate,
            dropped=self.dropped + other.dropped,
            missing_seq=self.missing_seq + other.missing_seq,
        )
