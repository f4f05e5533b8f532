"""The report uploader: inferences the device ran alone, delivered to the edge in batches.

Two kinds of record travel here, both as :class:`~sciot.wire.OfflineRecord`: *offline*
inferences (the edge was unreachable; they wait in the bounded :class:`OfflineQueue` and go
up in ``OfflineReport`` frames once it is back) and *device-only* ones (the edge chose cut N;
they gather in a :class:`DeviceOnlyBatch` and go up in one ``DeviceOnlyReport`` every
``report_every`` inferences or ``report_interval_s``). Both are cut to the edge's frame bound
by one helper, :func:`~sciot.device._exchange.largest_fitting_prefix`; nothing is lost
silently: a record too large to ever fit is counted in ``rejected``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

from sciot.device._config import DeviceConfig
from sciot.device._exchange import CallFailed, Exchange, RoundTrip, describe, largest_fitting_prefix
from sciot.device._outcome import StatsRecorder
from sciot.device._queue import OfflineQueue
from sciot.device._queue_store import PersistentOfflineQueue
from sciot.device._reports import DeviceOnlyBatch
from sciot.errors import WireError
from sciot.planner import round_trip_moved
from sciot.wire import (
    DeviceOnlyReport,
    OfflineAck,
    OfflineRecord,
    OfflineReport,
    TensorEncoding,
    encode,
)


class ReportUploader:
    """Queues and batches local records and uploads them through an :class:`Exchange`.

    ``on_ok`` / ``on_failed`` tell the client's session how each upload went, ``adopt_cut``
    hands it the next cut an ack carries; ``seq`` and ``wall_clock`` stamp the frames.
    """

    def __init__(
        self,
        config: DeviceConfig,
        exchange: Exchange,
        *,
        model_id: str,
        stats: StatsRecorder,
        seq: Callable[[], int],
        wall_clock: Callable[[], float],
        on_ok: Callable[[], None],
        on_failed: Callable[[CallFailed], None],
        adopt_cut: Callable[[int, bool], None],
        logger: logging.Logger,
    ) -> None:
        self.config = config
        self.queue: OfflineQueue[OfflineRecord] | PersistentOfflineQueue
        if config.offline_queue_path is None:
            self.queue = OfflineQueue(config.offline_queue_size)
        else:
            self.queue = PersistentOfflineQueue(
                config.offline_queue_path,
                config.offline_queue_size,
                device_id=config.device_id,
                model_id=model_id,
            )
            if self.queue.restored:
                logger.info(
                    "%s: %d offline inferences from an earlier run queued for upload",
                    config.device_id,
                    self.queue.restored,
                )
        self.batch = DeviceOnlyBatch(
            report_every=config.report_every, report_interval_s=config.report_interval_s
        )
        self.rejected = 0
        """Records the edge never took (refused in part, or too large for any frame)."""
        self._last_report_s: float | None = None
        self._exchange = exchange
        self._model_id = model_id
        self._stats = stats
        self._seq = seq
        self._wall_clock = wall_clock
        self._on_ok = on_ok
        self._on_failed = on_failed
        self._adopt_cut = adopt_cut
        self._log = logger

    def use_model(self, model_id: str) -> None:
        """Report under a newer model version from now on (the caller has emptied the queue
        and the batch of the old version's records first)."""
        self._model_id = model_id

    @property
    def lost(self) -> int:
        return self.queue.dropped + self.rejected

    def keep_offline(self, record: OfflineRecord) -> None:
        """Queue an offline record; a full queue drops the oldest, warned about on the first
        drop and every thousandth after (not once per inference)."""
        kept = self.queue.push(record)
        if not kept and (self.queue.dropped == 1 or self.queue.dropped % 1000 == 0):
            self._log.warning(
                "%s: offline queue full (%d); dropped the oldest record (%d lost so far)",
                self.config.device_id,
                self.queue.capacity,
                self.queue.dropped,
            )

    # ---------------------------------------------------------------- offline records

    def upload_offline(self) -> bool:
        """Upload the oldest queued records; returns whether the edge took them."""
        batch, payload = self._offline_payload()
        if not batch:
            self.queue.confirm()  # records dropped as too large for any frame
            return True
        try:
            _, reply = self._send_report(payload, "an offline report")
        except CallFailed as exc:
            self.queue.put_back(batch)
            self._on_failed(exc)
            return False
        self.queue.confirm()
        accepted = self._accepted(reply, len(batch), "offline")
        self._stats.uploaded += accepted
        self._adopt_cut(reply.next_cut, reply.next_probe)
        self._log.info(
            "%s: uploaded %d offline inferences (%d still queued)",
            self.config.device_id,
            accepted,
            len(self.queue),
        )
        return True

    def _offline_payload(self) -> tuple[list[OfflineRecord], bytes]:
        """The largest batch of the oldest records whose report fits the edge's frame bound;
        a single record too large to ever fit is dropped and counted as lost."""
        while batch := self.queue.take(self.config.upload_batch):
            try:
                payload, count = largest_fitting_prefix(
                    len(batch),
                    lambda n: self._offline_frame(batch[:n]),
                    self._exchange.max_frame_bytes,
                )
            except WireError as exc:  # cannot happen for records we built; never crash on it
                self.rejected += len(batch)
                self._log.error("%s: offline records dropped: %s", self.config.device_id, exc)
                continue
            self.queue.put_back(batch[count:])
            if len(payload) <= self._exchange.max_frame_bytes:
                return batch[:count], payload
            self.rejected += 1
            self._log.warning(
                "%s: offline record %d (%d bytes) exceeds the edge's frame bound; dropped",
                self.config.device_id,
                batch[0].seq,
                len(payload),
            )
        return [], b""

    def _offline_frame(self, records: Sequence[OfflineRecord]) -> bytes:
        report = OfflineReport(
            device_id=self.config.device_id,
            model_id=self._model_id,
            records=tuple(records),
            seq=self._seq(),
            sent_at_s=self._wall_clock(),
            offline_backlog=min(len(self.queue), 0xFFFFFFFF),
        )
        return encode(report, encoding=TensorEncoding.RAW_ZLIB)

    # ---------------------------------------------------------------- device-only records

    def report_device_only(self) -> RoundTrip | str | None:
        """Report the whole batch, in as few ``DeviceOnlyReport`` frames as the edge's frame
        bound allows (one, unless results travel); returns the last round trip (``None`` if
        there was nothing to report), or why it failed. On failure the unsent records move to
        the offline queue: they reach the edge once it is back, as inferences made while it
        was unreachable."""
        records = self.batch.take()
        trip: RoundTrip | None = None
        while records:
            payload, count = self._device_only_payload(records)
            try:
                trip, reply = self._send_report(payload, "a device-only report")
            except CallFailed as exc:
                for record in records:
                    self.queue.push(record)
                self._on_failed(exc)
                return str(exc)
            self._on_ok()
            self._stats.reported += self._accepted(reply, count, "device-only")
            # The ack carries no edge time: the whole round trip is the link's (the edge only
            # counts the records), a small-frame sample the link estimator needs anyway.
            self._exchange.last_transfer = sample = trip.transfer()
            if round_trip_moved(self._last_report_s, sample.seconds):
                self.batch.hurry()  # the edge hears this round trip only with the next report
            self._last_report_s = sample.seconds
            self._adopt_cut(reply.next_cut, reply.next_probe)
            records = records[count:]
        return trip

    def _device_only_payload(self, records: tuple[OfflineRecord, ...]) -> tuple[bytes, int]:
        """The frame of the longest prefix of ``records`` that fits the edge's bound, and its
        length; a lone record too large to fit travels without its result tensors."""
        limit = self._exchange.max_frame_bytes
        payload, count = largest_fitting_prefix(
            len(records), lambda n: self._device_only_frame(records[:n]), limit
        )
        if len(payload) > limit and records[0].tensors:
            payload = self._device_only_frame((replace(records[0], tensors=()),))
        return payload, count

    def _device_only_frame(self, records: tuple[OfflineRecord, ...]) -> bytes:
        report = DeviceOnlyReport(
            device_id=self.config.device_id,
            model_id=self._model_id,
            records=records,
            last_transfer=self._exchange.last_transfer,
            seq=self._seq(),
            sent_at_s=self._wall_clock(),
            offline_backlog=min(len(self.queue), 0xFFFFFFFF),
        )
        encoding = TensorEncoding.RAW_ZLIB if self.config.report_results else TensorEncoding.RAW
        return encode(report, encoding=encoding)

    def _send_report(self, payload: bytes, what: str) -> tuple[RoundTrip, OfflineAck]:
        """One report's round trip; anything but an acknowledgement is a failed call."""
        trip = self._exchange.send(payload, what.removeprefix("an ").removeprefix("a "))
        if not isinstance(trip.reply, OfflineAck):
            raise CallFailed(f"unexpected reply to {what}: {describe(trip.reply)}")
        return trip, trip.reply

    def _accepted(self, reply: OfflineAck, count: int, kind: str) -> int:
        accepted = min(reply.accepted, count)
        if accepted < count:
            self.rejected += count - accepted
            self._log.warning(
                "%s: edge stored only %d of %d %s records",
                self.config.device_id,
                accepted,
                count,
                kind,
            )
        return accepted


__all__ = ["ReportUploader"]
