"""Limits on what one device may report: size, rate and plausibility.

A device-only or offline report is a list of inferences a device says it ran; the edge cannot
re-run them, so without limits one client could claim millions of inferences a second and
crowd every honest device out of the telemetry writer. :class:`ReportGate` refuses, before
anything is counted or recorded:

- a report holding more than ``max_report_records`` records;
- a report claiming more inferences than its own time span allows: one device runs its
  inferences one after another, so ``n`` records whose start times span ``t`` seconds are
  implausible beyond ``1 + plausible_inferences_per_s * t``;
- records beyond a device's rate: a token bucket per device refills at
  ``max_records_per_s`` and holds at most ``record_burst`` (a backlog after an outage fits
  in the burst, a flood does not);
- inference requests beyond ``max_frames_per_s`` per device (a bucket of ``frame_burst``).

Refusals are :class:`~sciot.wire.ErrorFrame` replies; a device client keeps refused records in
its offline queue and retries after its backoff, so an honest device loses nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from sciot.wire import ErrorCode, OfflineRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportLimits:
    """The per-device bounds :class:`ReportGate` enforces (``limits`` in the edge config)."""

    max_report_records: int
    max_records_per_s: float
    record_burst: int
    plausible_inferences_per_s: float
    max_frames_per_s: float = float("inf")
    frame_burst: int = 1 << 62


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a report was refused, and the error code the reply carries."""

    code: ErrorCode
    reason: str


@dataclass(slots=True)
class _Bucket:
    tokens: float
    refilled_at_s: float


class ReportGate:
    """Checks each report against :class:`ReportLimits`; thread-safe."""

    def __init__(self, limits: ReportLimits) -> None:
        self.limits = limits
        self._buckets: dict[str, _Bucket] = {}
        self._frame_buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def check_frame(self, device_id: str, now_s: float) -> Refusal | None:
        """One inference request of ``device_id``: ``None`` if within its frame rate."""
        limits = self.limits
        with self._lock:
            bucket = self._frame_buckets.get(device_id)
            if bucket is None:
                bucket = self._frame_buckets[device_id] = _Bucket(float(limits.frame_burst), now_s)
            elapsed = max(0.0, now_s - bucket.refilled_at_s)
            bucket.tokens = min(
                float(limits.frame_burst), bucket.tokens + elapsed * limits.max_frames_per_s
            )
            bucket.refilled_at_s = now_s
            if bucket.tokens < 1.0:
                return Refusal(
                    ErrorCode.OVERLOADED,
                    f"device {device_id!r} is over its rate of {limits.max_frames_per_s:g} "
                    "requests/s (limits.max_frames_per_s); slow down",
                )
            bucket.tokens -= 1.0
        return None

    def check(
        self, device_id: str, records: Sequence[OfflineRecord], now_s: float
    ) -> Refusal | None:
        """``None`` if the report may be taken (its records are charged to the device's
        bucket), else why not (nothing is charged)."""
        limits = self.limits
        count = len(records)
        if count > limits.max_report_records:
            return Refusal(
                ErrorCode.FRAME_TOO_LARGE,
                f"a report holds {count} records, at most {limits.max_report_records} "
                "(limits.max_report_records): send smaller reports",
            )
        implausible = self._implausible(records)
        if implausible is not None:
            return Refusal(ErrorCode.MALFORMED, implausible)
        with self._lock:
            bucket = self._buckets.get(device_id)
            if bucket is None:
                bucket = self._buckets[device_id] = _Bucket(float(limits.record_burst), now_s)
            elapsed = max(0.0, now_s - bucket.refilled_at_s)
            bucket.tokens = min(
                float(limits.record_burst), bucket.tokens + elapsed * limits.max_records_per_s
            )
            bucket.refilled_at_s = now_s
            if count > bucket.tokens:
                wait_s = (count - bucket.tokens) / limits.max_records_per_s
                return Refusal(
                    ErrorCode.OVERLOADED,
                    f"device {device_id!r} is over its report rate of "
                    f"{limits.max_records_per_s:g} records/s; retry in {wait_s:.1f} s",
                )
            bucket.tokens -= count
        return None

    def _implausible(self, records: Sequence[OfflineRecord]) -> str | None:
        if len(records) < 2:
            return None
        starts = [r.started_at_s for r in records]
        span_s = max(starts) - min(starts) + max(r.device_seconds for r in records)
        allowed = 1.0 + self.limits.plausible_inferences_per_s * span_s
        if len(records) <= allowed:
            return None
        return (
            f"implausible report: {len(records)} inferences started within {span_s:.6f} s, "
            f"more than {self.limits.plausible_inferences_per_s:g}/s "
            "(limits.plausible_inferences_per_s) allows"
        )

    def forget(self, device_id: str) -> None:
        """Drop an evicted device's bucket (a returning device starts with a full one)."""
        with self._lock:
            self._buckets.pop(device_id, None)
            self._frame_buckets.pop(device_id, None)


__all__ = ["Refusal", "ReportGate", "ReportLimits"]
