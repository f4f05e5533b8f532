"""The device registry: who is registered with which model, and what each device did.

Every counter the edge exports (``/api/stats``, ``/metrics``) is kept here, per device, under
one lock; the frame router calls one ``count_*`` method per frame it served. An inference is
counted by its *cut*, the same way the device counts it: ``split`` for an interior cut,
``edge_only`` for cut 0 (the device sent its input), ``device_only`` for cut N (whole model on
the device, reported in batches) and ``offline`` for inferences the device ran while it could
not reach the edge. Each device also keeps its last ``LATENCY_WINDOW`` end-to-end latencies,
so ``/api/stats`` can give percentiles of its recent inferences, not only means since it
registered.
"""

from __future__ import annotations

import heapq
import math
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from sciot.edge._models import ServedModel
from sciot.planner import ran_probe
from sciot.wire import OfflineRecord

LATENCY_WINDOW = 256
"""End-to-end latencies kept per device for its p50 / p95 (its most recent inferences)."""


def outcome_of(cut: int, num_ops: int) -> str:
    """The telemetry ``outcome`` of an inference the edge took part in, from its cut."""
    if cut == 0:
        return "edge_only"
    return "device_only" if cut >= num_ops else "split"


@dataclass(slots=True)
class DeviceRecord:
    """Everything the edge keeps about one registered device (mutable, lock-protected)."""

    device_id: str
    model: ServedModel
    registered_at_s: float
    kind: str = ""
    transport: str = ""
    """The transport of the device's latest accepted frame (``http``, ``ws``, ``tcp``, ...)."""
    source: str = ""
    """The peer address the device registered from ("" when the transport has none)."""
    next_cut: int = 0
    next_probe: bool = False
    """Whether ``next_cut`` is a probe (the reply to the request that runs it is planned
    with that request's measurements: :func:`~sciot.planner.ran_probe`)."""
    unpaired: tuple[int, float] | None = None
    """(cut, device + edge seconds) of the device's last split request, whose network time
    comes with its next message: the planner gets that request's latency only then."""
    last_cut: int | None = None
    last_seen_s: float = 0.0
    inferences: int = 0
    split: int = 0
    edge_only: int = 0
    device_only: int = 0
    offline: int = 0
    errors: int = 0
    cuts: dict[int, int] = field(default_factory=dict)
    edge_s_sum: float = 0.0
    device_s_sum: float = 0.0
    end_to_end_s_sum: float = 0.0
    uplink_bytes: int = 0
    downlink_bytes: int = 0
    planned: int = 0
    offline_backlog: int = 0
    """Offline records the device said were still queued, in its latest report."""
    probes_alongside: int = 0
    """Probes the device sent alongside an inference it ran whole (not inferences)."""
    recent_s: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    """End-to-end seconds of the latest inferences the edge served or was told of."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EdgeDeviceStats:
    """A snapshot of one device's counters as the edge saw them, for /api/stats and /metrics
    (the device client's own view is :class:`sciot.device.DeviceStats`)."""

    device_id: str
    model: str
    model_id: str
    kind: str
    inferences: int
    split_inferences: int
    edge_only: int
    device_only: int
    offline: int
    errors: int
    next_cut: int
    last_cut: int | None
    cuts: dict[int, int]
    mean_edge_ms: float | None
    mean_device_ms: float | None
    mean_end_to_end_ms: float | None
    uplink_bytes: int
    downlink_bytes: int
    planner_updates: int
    last_seen_s: float
    p50_ms: float | None = None
    p95_ms: float | None = None
    """Percentiles of the last ``LATENCY_WINDOW`` end-to-end latencies (None before any)."""
    transport: str = ""
    """The transport of the device's latest accepted frame ("" when not told)."""
    offline_backlog: int = 0
    """Offline records still queued on the device, as its latest report said."""
    probes_alongside: int = 0
    """Probes sent alongside device-only inferences (their bytes are in the byte counts)."""


class DeviceRegistry:
    """Registered devices and their counters; thread-safe.

    Bounded: at most ``max_devices`` are held. A new device arriving at the bound first
    evicts every device silent for ``idle_s`` (their ids are returned by :meth:`has_room` so
    the planner can forget them too); if none is idle, the newcomer is refused, never an
    active device. An evicted device that comes back gets ``UNKNOWN_DEVICE`` and registers
    again, as after an edge restart.

    Also bounded per source: one peer address holds at most ``max_per_source`` devices
    (0: no cap), so a single client minting fresh ids cannot fill the registry for everyone
    else. An empty source (a transport with no peer address) is never capped.
    """

    def __init__(
        self,
        *,
        max_devices: int = 1 << 62,
        idle_s: float = float("inf"),
        max_per_source: int = 0,
    ) -> None:
        self.devices: dict[str, DeviceRecord] = {}
        self.rejected: dict[str, int] = {}
        self.evicted = 0
        self.max_devices = max_devices
        self.idle_s = idle_s
        self.max_per_source = max_per_source
        self.per_source: dict[str, int] = {}
        """Registered devices per non-empty source address."""
        self.source_refusals = 0
        """New device ids refused because their source was at ``max_per_source``."""
        self._lock = threading.Lock()

    def get(self, device_id: str) -> DeviceRecord | None:
        return self.devices.get(device_id)

    def source_full(self, device_id: str, source: str) -> bool:
        """Whether registering ``device_id`` would take ``source`` over its cap (an id already
        registered from that source is not a new device)."""
        if not source or self.max_per_source <= 0:
            return False
        with self._lock:
            record = self.devices.get(device_id)
            if record is not None and record.source == source:
                return False
            full = self.per_source.get(source, 0) >= self.max_per_source
            self.source_refusals += full
            return full

    def has_room(self, device_id: str, now_s: float) -> tuple[bool, list[str]]:
        """Whether ``device_id`` may register now, and the idle devices evicted to make room."""
        with self._lock:
            if device_id in self.devices or len(self.devices) < self.max_devices:
                return True, []
            cutoff = now_s - self.idle_s
            idle = [d for d, r in self.devices.items() if r.last_seen_s <= cutoff]
            for d in idle:
                self._drop_source(self.devices.pop(d).source)
            self.evicted += len(idle)
            return len(self.devices) < self.max_devices, idle

    def _add_source(self, source: str) -> None:
        """One device more from ``source`` (caller holds the lock)."""
        if source:
            self.per_source[source] = self.per_source.get(source, 0) + 1

    def _drop_source(self, source: str) -> None:
        """One device fewer from ``source`` (caller holds the lock)."""
        if source:
            left = self.per_source.get(source, 0) - 1
            if left > 0:
                self.per_source[source] = left
            else:
                self.per_source.pop(source, None)

    def register(
        self,
        device_id: str,
        model: ServedModel,
        *,
        kind: str,
        cut: int,
        now_s: float,
        source: str = "",
        probe: bool = False,
    ) -> DeviceRecord:
        """Add a device, or refresh it; a device registering another model starts afresh.
        ``cut`` is the one its registration's ack carries (``probe``: a probe)."""
        with self._lock:
            record = self.devices.get(device_id)
            if record is None or record.model is not model:
                if record is not None:
                    self._drop_source(record.source)
                record = DeviceRecord(
                    device_id=device_id, model=model, registered_at_s=now_s, source=source
                )
                self.devices[device_id] = record
                self._add_source(source)
            elif record.source != source:
                self._drop_source(record.source)
                record.source = source
                self._add_source(source)
            record.kind = kind
            record.next_cut, record.next_probe = cut, probe
            record.unpaired = None
            record.last_seen_s = now_s
        return record

    def publish_cut(self, device_id: str, cut: int, probe: bool = False) -> None:
        """The planner's next cut for a device (the following reply carries it), and
        whether it is a probe."""
        with self._lock:
            record = self.devices.get(device_id)
            if record is not None:
                record.next_cut = cut
                record.next_probe = probe
                record.planned += 1

    def runs_probe(self, record: DeviceRecord, cut: int) -> bool:
        """Whether ``cut`` is the probe published for ``record``'s device: a request at it
        runs the probe, and a reply carrying it says so (its probe bit)."""
        with self._lock:
            return ran_probe(record.next_cut, record.next_probe, cut)

    def count_probe(
        self, record: DeviceRecord, *, uplink_bytes: int, downlink_bytes: int, now_s: float
    ) -> None:
        """A probe sent alongside an inference the device ran whole: its bytes, no inference
        (the device reports that one as device-only)."""
        with self._lock:
            record.probes_alongside += 1
            record.last_seen_s = now_s
            record.uplink_bytes += uplink_bytes
            record.downlink_bytes += downlink_bytes

    def count_refusal(self, reason: str, device_id: str) -> None:
        with self._lock:
            self.rejected[reason] = self.rejected.get(reason, 0) + 1
            record = self.devices.get(device_id) if device_id else None
            if record is not None:
                record.errors += 1

    def count_inference(
        self,
        record: DeviceRecord,
        *,
        cut: int,
        device_s: float,
        edge_s: float,
        end_to_end_s: float,
        uplink_bytes: int,
        downlink_bytes: int,
        now_s: float,
    ) -> None:
        """One inference the edge served (an ``InferRequest`` at ``cut``)."""
        outcome = outcome_of(cut, record.model.num_ops)
        with self._lock:
            record.inferences += 1
            if outcome == "split":
                record.split += 1
            elif outcome == "edge_only":
                record.edge_only += 1
            else:
                record.device_only += 1
            record.cuts[cut] = record.cuts.get(cut, 0) + 1
            record.last_cut = cut
            record.last_seen_s = now_s
            record.edge_s_sum += edge_s
            record.device_s_sum += device_s
            record.end_to_end_s_sum += end_to_end_s
            record.recent_s.append(end_to_end_s)
            record.uplink_bytes += uplink_bytes
            record.downlink_bytes += downlink_bytes

    def count_local(
        self,
        record: DeviceRecord,
        records: Iterable[OfflineRecord],
        *,
        offline: bool,
        uplink_bytes: int,
        now_s: float,
        offline_backlog: int = 0,
    ) -> int:
        """Inferences the device ran alone (device-only by decision, or ``offline``), counted
        at the cut each record names; returns the device's next cut."""
        with self._lock:
            for r in records:
                record.inferences += 1
                if offline:
                    record.offline += 1
                else:
                    record.device_only += 1
                record.cuts[r.cut] = record.cuts.get(r.cut, 0) + 1
                if not offline:
                    record.last_cut = r.cut
                record.device_s_sum += r.device_seconds
                record.end_to_end_s_sum += r.device_seconds
                record.recent_s.append(r.device_seconds)
            record.last_seen_s = now_s
            record.uplink_bytes += uplink_bytes
            record.offline_backlog = offline_backlog
            return record.next_cut

    def count_downlink(self, record: DeviceRecord, downlink_bytes: int) -> None:
        with self._lock:
            record.downlink_bytes += downlink_bytes

    def stats(self, *, limit: int | None = None) -> list[EdgeDeviceStats]:
        """Snapshots of every device, or of the ``limit`` most recently seen. Only copying
        happens under the lock the request path counts under; the sorting for percentiles and
        the means are done after it, so a client polling ``/api/stats`` or ``/metrics`` holds
        up no inference for long."""
        with self._lock:
            chosen: Iterable[DeviceRecord] = self.devices.values()
            if limit is not None and len(self.devices) > limit:
                chosen = heapq.nlargest(limit, chosen, key=lambda r: r.last_seen_s)
            copies = [
                replace(r, cuts=dict(r.cuts), recent_s=deque(r.recent_s, maxlen=LATENCY_WINDOW))
                for r in chosen
            ]
        return [_snapshot(r) for r in copies]

    def totals(self) -> tuple[int, int, int]:
        """Devices, inferences and split inferences over the whole registry (no snapshots)."""
        with self._lock:
            records = list(self.devices.values())
        return (
            len(records),
            sum(r.inferences for r in records),
            sum(r.split for r in records),
        )


def _snapshot(r: DeviceRecord) -> EdgeDeviceStats:
    online = r.inferences - r.offline

    def mean_ms(total_s: float, count: int) -> float | None:
        return None if count == 0 else 1000.0 * total_s / count

    recent = sorted(r.recent_s)

    return EdgeDeviceStats(
        device_id=r.device_id,
        model=r.model.label,
        model_id=r.model.model_id,
        kind=r.kind,
        inferences=r.inferences,
        split_inferences=r.split,
        edge_only=r.edge_only,
        device_only=r.device_only,
        offline=r.offline,
        errors=r.errors,
        next_cut=r.next_cut,
        last_cut=r.last_cut,
        cuts=dict(sorted(r.cuts.items())),
        mean_edge_ms=mean_ms(r.edge_s_sum, online),
        mean_device_ms=mean_ms(r.device_s_sum, r.inferences),
        mean_end_to_end_ms=mean_ms(r.end_to_end_s_sum, r.inferences),
        uplink_bytes=r.uplink_bytes,
        downlink_bytes=r.downlink_bytes,
        planner_updates=r.planned,
        last_seen_s=r.last_seen_s,
        p50_ms=_percentile_ms(recent, 0.50),
        p95_ms=_percentile_ms(recent, 0.95),
        transport=r.transport,
        offline_backlog=r.offline_backlog,
        probes_alongside=r.probes_alongside,
    )


def _percentile_ms(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted seconds, in ms (what numpy calls ``inverted_cdf``)."""
    if not ordered:
        return None
    rank = max(1, math.ceil(len(ordered) * q))
    return 1000.0 * ordered[rank - 1]


__all__ = ["DeviceRecord", "DeviceRegistry", "EdgeDeviceStats", "outcome_of"]
