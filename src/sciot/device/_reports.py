"""When device-only inferences are reported to the edge: a sans-I/O batch with two triggers.

At the device-only cut the device needs nothing from the edge, so an inference must not wait for
a round trip. Its compact record (sequence number, start time, device seconds, per-op seconds
when profiled) waits here instead, and the driver sends the batch in one ``DeviceOnlyReport``
when it is due: ``report_every`` records, or ``report_interval_s`` after the oldest one,
whichever comes first, or with the next record after :meth:`DeviceOnlyBatch.hurry` (the last
report's round trip sped up, :func:`sciot.planner.round_trip_moved`: the edge learns a report's
network time only from the next one). The report's ack carries the next cut, which bounds how
long the edge needs to move the device back to splitting. No clock is read here: the driver
passes ``now_s``.
"""

from __future__ import annotations

from sciot.errors import ConfigError
from sciot.wire import OfflineRecord


class DeviceOnlyBatch:
    """Device-only records not yet reported, oldest first."""

    __slots__ = ("_first_s", "_hurried", "_records", "report_every", "report_interval_s")

    def __init__(self, *, report_every: int, report_interval_s: float) -> None:
        if not 1 <= report_every <= 0xFFFF:
            raise ConfigError(f"report_every must be in 1..65535, got {report_every}")
        if not report_interval_s > 0.0:
            raise ConfigError(f"report_interval_s must be > 0, got {report_interval_s}")
        self.report_every = report_every
        self.report_interval_s = report_interval_s
        self._records: list[OfflineRecord] = []
        self._first_s = 0.0
        self._hurried = False

    def __len__(self) -> int:
        return len(self._records)

    def add(self, record: OfflineRecord, now_s: float) -> None:
        if not self._records:
            self._first_s = now_s
        self._records.append(record)

    def due(self, now_s: float) -> bool:
        """Whether the batch should be reported now (never when empty)."""
        if not self._records:
            return False
        full = len(self._records) >= self.report_every
        return self._hurried or full or now_s - self._first_s >= self.report_interval_s

    def hurry(self) -> None:
        """Report with the next record, whatever the count and the interval."""
        self._hurried = True

    def take(self) -> tuple[OfflineRecord, ...]:
        """Every waiting record; the batch is empty afterwards (and no longer hurried)."""
        records, self._records = tuple(self._records), []
        self._hurried = False
        return records


__all__ = ["DeviceOnlyBatch"]
