"""The edge's request logic: frame bytes in, reply frame bytes out, independent of transport.

:meth:`EdgeCore.handle_frame` is what HTTP, WebSocket and the SCIoT compatibility endpoints all
call, from a worker thread (it runs the tail, so it must stay off the event loop). It decodes
and validates the frame, refuses what it cannot serve with an :class:`~sciot.wire.ErrorFrame`
(unknown device, unknown model, bad cut or tensors, malformed or oversized frame), runs the
prepared tail, answers with the result and the cut to use next, and records one telemetry row.

The planner is deliberately *not* called on this path: a full observe-and-decide costs about a
millisecond, several times a whole split inference. Requests only leave their measurements in
the device's mailbox (:class:`PendingObservations`); :class:`PlannerWorker` feeds them to the
planner in its own thread, within a CPU budget, and publishes each device's next cut, which
the following reply carries. Under light load every inference is planned; under heavy load the
measurements are merged, so planning cost stays bounded while serving scales.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sciot.delays import DelaySpec
from sciot.edge._config import EdgeConfig
from sciot.edge._models import ServedModel
from sciot.edge._telemetry import TelemetryRow, TelemetryWriter
from sciot.errors import (
    ConfigError,
    ExecutionError,
    PlannerError,
    RemoteProtocolError,
    SciotError,
)
from sciot.planner import Planner, SplitSpace
from sciot.wire import (
    DeviceOnlyReport,
    ErrorCode,
    ErrorFrame,
    FrameTooLargeError,
    InferRequest,
    InferResponse,
    MessageType,
    OfflineAck,
    OfflineReport,
    Register,
    RegisterAck,
    Tensor,
    TransferSample,
    decode,
    encode,
)

log = logging.getLogger("sciot.edge")

# Transfer samples kept per device between planner rounds: the newest ones. Each costs the
# planner a link refit (~10 us); at 32 busy devices 16 per round made the planner thread the
# edge's largest CPU user after the request path, for samples of near-identical frames.
MAX_PENDING_TRANSFERS = 4
INLINE_MAX_FRAME_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """What a transport sends back: an HTTP-like status, the frame, and a simulated delay."""

    status: int
    frame: bytes
    delay_s: float = 0.0


@dataclass(slots=True)
class PendingObservations:
    """Measurements of one device waiting for the planner worker (merged when it lags)."""

    device_ops: dict[int, float] = field(default_factory=dict)
    edge_ops: dict[int, float] = field(default_factory=dict)
    transfers: list[TransferSample] = field(default_factory=list)
    outages: int = 0
    """Offline reports received: the device's split attempts failed since the last round."""
    now_s: float = 0.0


@dataclass(slots=True)
class DeviceRecord:
    """Everything the edge keeps about one registered device (mutable, lock-protected)."""

    device_id: str
    model: ServedModel
    registered_at_s: float
    kind: str = ""
    next_cut: int = 0
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
    pending: PendingObservations | None = None
    planned: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceStats:
    """A snapshot of one device's counters, for /api/stats and /metrics."""

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


def _check_fixed_cut(policy: str, models: Sequence[ServedModel]) -> None:
    """A ``fixed:K`` policy must name a cut every served model has (checked at startup)."""
    if not policy.startswith("fixed:"):
        return
    try:
        cut = int(policy.removeprefix("fixed:"))
    except ValueError:
        return  # the planner names the problem itself
    for model in models:
        if not 0 <= cut <= model.num_ops:
            raise ConfigError(
                f"key 'planner.policy': {policy!r} names cut {cut}, but model {model.label} "
                f"has cuts 0..{model.num_ops}"
            )


def _outcome(cut: int, num_ops: int) -> str:
    if cut == 0:
        return "edge_only"
    return "device_only" if cut >= num_ops else "split"


class EdgeCore:
    """Registry, validation, tail execution and bookkeeping; thread-safe."""

    def __init__(
        self,
        config: EdgeConfig,
        models: Sequence[ServedModel],
        *,
        telemetry: TelemetryWriter | None,
    ) -> None:
        self.config = config
        self.max_frame_bytes = config.max_frame_bytes
        self.models = {m.model_id: m for m in models}
        self._models_by_raw_id = {bytes.fromhex(m.model_id): m for m in models}
        self.inline_tail_max_s = config.inline_tail_max_s
        self.planners = {
            m.model_id: Planner(
                SplitSpace(
                    num_ops=m.num_ops,
                    crossing_bytes=(*m.crossing_bytes[:-1], 0),
                    result_bytes=m.result_bytes,
                ),
                config.planner.policy,
                seed=config.planner.seed,
            )
            for m in models
        }
        self.policy = config.planner.policy
        _check_fixed_cut(self.policy, models)
        self.telemetry = telemetry
        self.devices: dict[str, DeviceRecord] = {}
        self._lock = threading.Lock()  # devices, counters, mailboxes
        self.planner_lock = threading.Lock()  # the planners
        self.dirty: list[DeviceRecord] = []
        self.wakeup = threading.Event()
        self.rejected: dict[str, int] = {}
        self.frames = 0
        self.started_at_s = time.time()
        delays = config.delay_simulation
        self._compute_delay = (
            DelaySpec.from_mapping(delays.computation.as_mapping())
            if delays.computation.enabled
            else None
        )
        self._network_delay = (
            DelaySpec.from_mapping(delays.network.as_mapping()) if delays.network.enabled else None
        )
        self._rng = np.random.default_rng(delays.seed)
        self._rng_lock = threading.Lock()

    # ------------------------------------------------------------------------ entry point

    def runs_inline(self, data: bytes) -> bool:
        """Whether a frame is cheap enough to serve on the event loop itself.

        Handing a frame to a worker thread and back costs two thread wake-ups, about as much
        as a whole small tail; so registrations and requests whose tail the startup profile
        predicts to take at most ``inline_tail_max_s`` are served inline, and everything
        heavier (early cuts, edge-only, big frames) goes to the tail workers. Only the fixed
        header is peeked at here; the frame is validated when it is handled.
        """
        if self.inline_tail_max_s <= 0.0 or len(data) > INLINE_MAX_FRAME_BYTES or len(data) < 26:
            return False
        msg_type = data[3]
        if msg_type in (MessageType.REGISTER, MessageType.DEVICE_ONLY_REPORT):
            return True
        if msg_type != MessageType.INFER_REQUEST:
            return False
        model = self._models_by_raw_id.get(bytes(data[16:24]))
        cut = int.from_bytes(data[24:26], "little")
        if model is None or cut > model.num_ops:
            return True  # a refusal: cheap
        return float(model.tail_profile_s[cut]) <= self.inline_tail_max_s

    def handle_frame(self, data: bytes, now_s: float) -> Reply:
        """Decode one request frame and answer it; never raises for anything a peer sent."""
        self.frames += 1
        if len(data) > self.max_frame_bytes:
            return self.refuse_oversized(len(data))
        try:
            msg = decode(data, max_frame_bytes=self.max_frame_bytes)
        except FrameTooLargeError as exc:
            return self._refuse(ErrorCode.FRAME_TOO_LARGE, str(exc))
        except RemoteProtocolError as exc:
            return self._refuse(ErrorCode.MALFORMED, f"malformed frame: {exc}")
        try:
            if isinstance(msg, InferRequest):
                return self._infer(msg, len(data), now_s)
            if isinstance(msg, Register):
                return self._register(msg, now_s)
            if isinstance(msg, DeviceOnlyReport):
                return self._device_only(msg, len(data), now_s)
            if isinstance(msg, OfflineReport):
                return self._offline(msg, now_s)
        except ExecutionError as exc:
            log.warning("tail failed for %s: %s", msg.device_id, exc)
            return self._refuse(ErrorCode.INTERNAL, f"the edge failed to run the tail: {exc}", msg)
        except SciotError as exc:  # a bug, not the peer's fault; keep serving others
            log.exception("edge failed on a frame from %s", msg.device_id)
            return self._refuse(ErrorCode.INTERNAL, f"edge error: {exc}", msg)
        return self._refuse(
            ErrorCode.MALFORMED,
            "the edge accepts Register, InferRequest, DeviceOnlyReport and OfflineReport, "
            f"not {type(msg).__name__}",
            msg,
        )

    def refuse_oversized(self, size_bytes: int) -> Reply:
        """For transports that can tell a frame is too large before reading all of it."""
        return self._refuse(
            ErrorCode.FRAME_TOO_LARGE,
            f"frame of {size_bytes} bytes exceeds max_frame_bytes={self.max_frame_bytes}",
        )

    def malformed(self, reason: str) -> Reply:
        return self._refuse(ErrorCode.MALFORMED, reason)

    def _refuse(
        self,
        code: ErrorCode,
        reason: str,
        msg: Register | InferRequest | OfflineReport | object | None = None,
    ) -> Reply:
        key = code.name.lower()
        device_id = getattr(msg, "device_id", "")
        with self._lock:
            self.rejected[key] = self.rejected.get(key, 0) + 1
            record = self.devices.get(device_id) if device_id else None
            if record is not None:
                record.errors += 1
        seq = getattr(msg, "seq", 0)
        frame = encode(ErrorFrame(code=code, reason=reason, device_id=device_id, seq=seq))
        return Reply(status=int(code), frame=frame)

    # ------------------------------------------------------------------------ registration

    def _register(self, msg: Register, now_s: float) -> Reply:
        model = self.models.get(msg.model_id)
        if model is None:
            served = ", ".join(f"{m.label} ({m.model_id})" for m in self.models.values())
            return self._refuse(
                ErrorCode.UNKNOWN_MODEL,
                f"this edge does not serve model {msg.model_id}; it serves: {served}",
                msg,
            )
        planner = self.planners[model.model_id]
        with self.planner_lock:
            if msg.profile.op_seconds:
                ops = dict(enumerate(msg.profile.op_seconds[: model.num_ops]))
                planner.observe_device_ops(msg.device_id, ops, now_s)
            cut = self._decide(planner, msg.device_id, model, now_s)
        with self._lock:
            record = self.devices.get(msg.device_id)
            if record is None or record.model is not model:
                record = DeviceRecord(device_id=msg.device_id, model=model, registered_at_s=now_s)
                self.devices[msg.device_id] = record
            record.kind = msg.profile.kind
            record.next_cut = cut
            record.last_seen_s = now_s
        ack = RegisterAck(
            device_id=msg.device_id,
            model_id=model.model_id,
            seq=msg.seq,
            num_ops=model.num_ops,
            cut=cut,
            max_frame_bytes=self.max_frame_bytes,
            sent_at_s=now_s,
        )
        return Reply(status=200, frame=encode(ack))

    def _decide(self, planner: Planner, device_id: str, model: ServedModel, now_s: float) -> int:
        try:
            cut = planner.decide(device_id, now_s).cut
        except PlannerError as exc:
            log.warning("planner failed for %s, keeping edge-only: %s", device_id, exc)
            return 0
        return min(max(cut, 0), model.num_ops)

    def _lookup(
        self, msg: InferRequest | OfflineReport | DeviceOnlyReport
    ) -> tuple[DeviceRecord, ServedModel] | Reply:
        record = self.devices.get(msg.device_id)
        if record is None:
            return self._refuse(
                ErrorCode.UNKNOWN_DEVICE,
                f"device {msg.device_id!r} is not registered with this edge; send Register first",
                msg,
            )
        if msg.model_id != record.model.model_id:
            return self._refuse(
                ErrorCode.UNKNOWN_MODEL,
                f"device {msg.device_id!r} registered model {record.model.model_id}, but this "
                f"frame names {msg.model_id}; register again with the model it runs",
                msg,
            )
        return record, record.model

    # ------------------------------------------------------------------------ inference

    def _infer(self, msg: InferRequest, uplink_bytes: int, now_s: float) -> Reply:
        found = self._lookup(msg)
        if isinstance(found, Reply):
            return found
        record, model = found
        cut = msg.cut
        if cut > model.num_ops:
            return self._refuse(
                ErrorCode.BAD_CUT,
                f"cut {cut} is beyond this model's {model.num_ops} ops (valid: 0..{model.num_ops})",
                msg,
            )
        problem = _check_tensors(model, cut, msg.tensors)
        if problem is not None:
            return self._refuse(ErrorCode.BAD_TENSORS, problem, msg)
        pool = model.tails[cut]
        results: tuple[Tensor, ...] = ()
        edge_s = 0.0
        if cut < model.num_ops:
            if pool is None:
                return self._refuse(
                    ErrorCode.BAD_CUT, f"the model cannot be split at cut {cut}", msg
                )
            started = time.perf_counter()
            with pool.acquire() as executor:
                outputs = executor.run({t.name: t.array for t in msg.tensors})
            if self._compute_delay is not None:
                time.sleep(self._sample(self._compute_delay))
            edge_s = time.perf_counter() - started
            results = _result_tensors(model, outputs)
        next_cut = record.next_cut
        response = InferResponse(
            device_id=msg.device_id,
            model_id=model.model_id,
            seq=msg.seq,
            cut=cut,
            next_cut=next_cut,
            tensors=results,
            edge_seconds=edge_s,
            sent_at_s=now_s,
        )
        frame = encode(response)
        self._account(record, msg, cut, edge_s, uplink_bytes, len(frame), next_cut, now_s)
        delay_s = 0.0 if self._network_delay is None else self._sample(self._network_delay)
        return Reply(status=200, frame=frame, delay_s=delay_s)

    def _account(
        self,
        record: DeviceRecord,
        msg: InferRequest,
        cut: int,
        edge_s: float,
        uplink_bytes: int,
        downlink_bytes: int,
        next_cut: int,
        now_s: float,
    ) -> None:
        model = record.model
        transfer = msg.last_transfer
        transfer_s = transfer.seconds if transfer is not None else None
        e2e_s = msg.device_seconds + edge_s + (transfer_s or 0.0)
        outcome = _outcome(cut, model.num_ops)
        edge_ops = model.edge_op_seconds(cut, edge_s) if cut < model.num_ops else {}
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
            record.device_s_sum += msg.device_seconds
            record.end_to_end_s_sum += e2e_s
            record.uplink_bytes += uplink_bytes
            record.downlink_bytes += downlink_bytes
            pending = self._pending(record)
            if msg.device_op_seconds:
                pending.device_ops.update(enumerate(msg.device_op_seconds[: model.num_ops]))
            if edge_ops:
                pending.edge_ops = edge_ops
            if transfer is not None:
                if len(pending.transfers) >= MAX_PENDING_TRANSFERS:
                    del pending.transfers[0]
                pending.transfers.append(transfer)
            pending.now_s = now_s
        self.wakeup.set()
        if self.telemetry is not None:
            self.telemetry.append(
                TelemetryRow(
                    at_s=now_s,
                    device_id=msg.device_id,
                    model_id=model.model_id,
                    seq=msg.seq,
                    cut=cut,
                    next_cut=next_cut,
                    device_s=msg.device_seconds,
                    uplink_bytes=uplink_bytes,
                    downlink_bytes=downlink_bytes,
                    transfer_s=transfer_s,
                    edge_s=edge_s,
                    end_to_end_s=e2e_s,
                    policy=self.policy,
                    outcome=outcome,
                )
            )

    def _pending(self, record: DeviceRecord) -> PendingObservations:
        """The device's mailbox for the planner worker (call with the lock held)."""
        pending = record.pending
        if pending is None:
            pending = record.pending = PendingObservations()
            self.dirty.append(record)
        return pending

    def _sample(self, spec: DelaySpec) -> float:
        with self._rng_lock:
            return max(0.0, float(spec.sample(self._rng)))

    # ------------------------------------------------------------------------ device-only

    def _device_only(self, msg: DeviceOnlyReport, uplink_bytes: int, now_s: float) -> Reply:
        """Inferences the device ran alone by decision: recorded one row each like any other
        inference, their timings and the report's transfer sample fed to the planner, and the
        ack carries the next cut so exploration can move the device back to splitting."""
        found = self._lookup(msg)
        if isinstance(found, Reply):
            return found
        record, model = found
        bad = [r.cut for r in msg.records if r.cut != model.num_ops]
        if bad:
            return self._refuse(
                ErrorCode.BAD_CUT,
                f"a device-only report holds cut {bad[0]}, but device-only is cut "
                f"{model.num_ops} for this model; report other cuts with InferRequest",
                msg,
            )
        next_cut = self._account_device_only(record, msg, uplink_bytes, now_s)
        ack = OfflineAck(
            device_id=msg.device_id,
            model_id=model.model_id,
            seq=msg.seq,
            accepted=len(msg.records),
            next_cut=next_cut,
            sent_at_s=now_s,
        )
        frame = encode(ack)
        with self._lock:
            record.downlink_bytes += len(frame)
        delay_s = 0.0 if self._network_delay is None else self._sample(self._network_delay)
        return Reply(status=200, frame=frame, delay_s=delay_s)

    def _account_device_only(
        self, record: DeviceRecord, msg: DeviceOnlyReport, uplink_bytes: int, now_s: float
    ) -> int:
        num_ops = record.model.num_ops
        with self._lock:
            for r in msg.records:
                record.inferences += 1
                record.device_only += 1
                record.device_s_sum += r.device_seconds
                record.end_to_end_s_sum += r.device_seconds
            if msg.records:
                record.cuts[num_ops] = record.cuts.get(num_ops, 0) + len(msg.records)
                record.last_cut = num_ops
            record.last_seen_s = now_s
            record.uplink_bytes += uplink_bytes
            pending = self._pending(record)
            for r in msg.records:  # oldest first, so the newest timing of an op wins
                if r.device_op_seconds:
                    pending.device_ops.update(enumerate(r.device_op_seconds[:num_ops]))
            if msg.last_transfer is not None:
                if len(pending.transfers) >= MAX_PENDING_TRANSFERS:
                    del pending.transfers[0]
                pending.transfers.append(msg.last_transfer)
            pending.now_s = now_s
            next_cut = record.next_cut
        self.wakeup.set()
        # Device-only inferences cost the edge nothing: no bytes, no edge time.
        self._local_rows(msg, record.model.model_id, next_cut, 0, 0.0, "device_only")
        return next_cut

    def _local_rows(
        self,
        msg: OfflineReport | DeviceOnlyReport,
        model_id: str,
        next_cut: int | None,
        bytes_sent: int | None,
        edge_s: float | None,
        outcome: str,
    ) -> None:
        """One telemetry row per inference the device ran alone (whole model on the device)."""
        if self.telemetry is None:
            return
        for r in msg.records:
            self.telemetry.append(
                TelemetryRow(
                    at_s=r.started_at_s,
                    device_id=msg.device_id,
                    model_id=model_id,
                    seq=r.seq,
                    cut=r.cut,
                    next_cut=next_cut,
                    device_s=r.device_seconds,
                    uplink_bytes=bytes_sent,
                    downlink_bytes=bytes_sent,
                    transfer_s=None,
                    edge_s=edge_s,
                    end_to_end_s=r.device_seconds,
                    policy=self.policy,
                    outcome=outcome,
                )
            )

    # ------------------------------------------------------------------------ offline

    def _offline(self, msg: OfflineReport, now_s: float) -> Reply:
        found = self._lookup(msg)
        if isinstance(found, Reply):
            return found
        record, model = found
        with self._lock:
            if msg.records:
                pending = self._pending(record)
                pending.outages += 1
                pending.now_s = now_s
            for r in msg.records:
                record.inferences += 1
                record.offline += 1
                record.cuts[r.cut] = record.cuts.get(r.cut, 0) + 1
                record.device_s_sum += r.device_seconds
                record.end_to_end_s_sum += r.device_seconds
            record.last_seen_s = now_s
            next_cut = record.next_cut
        self.wakeup.set()
        # Offline inferences never reached the edge: what it did not see is unknown (NULL).
        self._local_rows(msg, model.model_id, None, None, None, "offline")
        ack = OfflineAck(
            device_id=msg.device_id,
            model_id=model.model_id,
            seq=msg.seq,
            accepted=len(msg.records),
            next_cut=next_cut,
            sent_at_s=now_s,
        )
        return Reply(status=200, frame=encode(ack))

    # ------------------------------------------------------------------------ planning

    def plan_pending(self) -> int:
        """Feed every device's pending measurements to its planner and publish the next cut.

        Called by :class:`PlannerWorker`; returns how many devices were planned.
        """
        with self._lock:
            batch, self.dirty = self.dirty, []
            work = []
            for record in batch:
                pending, record.pending = record.pending, None
                if pending is not None:
                    work.append((record, pending))
        for record, pending in work:
            planner = self.planners[record.model.model_id]
            device_id, now_s = record.device_id, pending.now_s
            with self.planner_lock:
                try:
                    if pending.device_ops:
                        planner.observe_device_ops(device_id, pending.device_ops, now_s)
                    if pending.edge_ops:
                        planner.observe_edge_ops(device_id, pending.edge_ops, now_s)
                    for t in pending.transfers:
                        planner.observe_transfer(
                            device_id,
                            uplink_bytes=t.uplink_bytes,
                            downlink_bytes=t.downlink_bytes,
                            seconds=t.seconds,
                            now_s=now_s,
                        )
                    if pending.outages:
                        # After the transfers: the outage is the newest news about the link.
                        planner.observe_failure(device_id, now_s)
                except PlannerError as exc:
                    log.warning("planner refused measurements of %s: %s", device_id, exc)
                cut = self._decide(planner, device_id, record.model, now_s)
            with self._lock:
                record.next_cut = cut
                record.planned += 1
        return len(work)

    # ------------------------------------------------------------------------ reporting

    def stats(self) -> list[DeviceStats]:
        with self._lock:
            return [_snapshot(r) for r in self.devices.values()]


def _snapshot(r: DeviceRecord) -> DeviceStats:
    online = r.inferences - r.offline

    def mean_ms(total_s: float, count: int) -> float | None:
        return None if count == 0 else 1000.0 * total_s / count

    return DeviceStats(
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
    )


def _check_tensors(model: ServedModel, cut: int, tensors: tuple[Tensor, ...]) -> str | None:
    spec = model.crossing[cut]
    names = tuple(t.name for t in tensors)
    if names != spec.names:
        if sorted(names) != sorted(spec.names):
            return f"cut {cut} expects tensors {list(spec.names)}, got {list(names)}"
        order = {name: i for i, name in enumerate(names)}
        tensors = tuple(tensors[order[name]] for name in spec.names)
    for tensor, shape, dtype in zip(tensors, spec.shapes, spec.dtypes, strict=True):
        array = tensor.array
        if array.shape != shape or array.dtype != dtype:
            return (
                f"tensor {tensor.name!r} at cut {cut} must be {dtype.name}{list(shape)}, "
                f"got {array.dtype.name}{list(array.shape)}"
            )
    return None


def _result_tensors(model: ServedModel, outputs: dict[str, np.ndarray]) -> tuple[Tensor, ...]:
    results = []
    for info in model.outputs:
        per_tensor = len(info.scale) == 1
        results.append(
            Tensor(
                name=info.name,
                array=outputs[info.name],
                scale=info.scale[0] if per_tensor else 0.0,
                zero_point=info.zero_point[0] if per_tensor else 0,
            )
        )
    return tuple(results)


class PlannerWorker:
    """Runs :meth:`EdgeCore.plan_pending` in a thread, using at most ``busy_fraction`` of it.

    After each round that took ``t`` seconds it rests ``t * (1 / busy_fraction - 1)``, and at
    least until ``min_round_s`` has passed since the round began, so the planner never takes
    more than its share of the CPU from the request path; measurements arriving meanwhile are
    merged into the next round.
    """

    def __init__(
        self, core: EdgeCore, *, busy_fraction: float = 0.2, min_round_s: float = 0.05
    ) -> None:
        self._core = core
        self._rest_factor = 1.0 / busy_fraction - 1.0
        self._min_round_s = min_round_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sciot-planner", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        core = self._core
        while not self._stop.is_set():
            core.wakeup.wait(0.2)
            core.wakeup.clear()
            started = time.perf_counter()
            try:
                planned = core.plan_pending()
            except Exception:  # keep planning for the others; a bug is logged, not fatal
                log.exception("planner round failed")
                planned = 0
            if planned:
                took = time.perf_counter() - started
                self._stop.wait(max(took * self._rest_factor, self._min_round_s - took))

    def stop(self) -> None:
        self._stop.set()
        self._core.wakeup.set()
        if self._thread.is_alive():
            self._thread.join(5.0)
