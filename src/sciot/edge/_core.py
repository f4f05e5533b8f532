"""The frame router: request frame bytes in, reply frame bytes out, for every transport.

:meth:`EdgeCore.handle_frame` is what HTTP, WebSocket, TCP, UDP and the SCIoT compatibility
endpoints all call, from a worker thread (it may run a tail, so it stays off the event loop).
It decodes and validates the frame, refuses what it cannot serve with an
:class:`~sciot.wire.ErrorFrame` (unknown device or model, bad cut or tensors, malformed or
oversized frame), and hands each message to the module whose job it is:

- :class:`~sciot.edge._registry.DeviceRegistry`: who is registered, and every counter;
- :class:`~sciot.edge._tail.TailService`: checks the tensors and runs the tail;
- :class:`~sciot.edge._mailbox.PlannerMailbox`: measurements wait there for the planner
  thread, which publishes each device's next cut (the planner is called on this path only
  for a device-only report, whose ack must carry a cut planned with it);
- :class:`~sciot.edge._telemetry.TelemetryWriter`: one row per inference.

Nothing here does I/O: a new transport needs only to pass bytes in and send the reply out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sciot.edge._auth import DeviceAuth
from sciot.edge._config import EdgeConfig
from sciot.edge._delays import DelayedTail, EdgeDelays, TailRun
from sciot.edge._limits import ReportGate, ReportLimits
from sciot.edge._mailbox import PlannerMailbox, PlannerWorker
from sciot.edge._models import ServedModel
from sciot.edge._registry import DeviceRecord, DeviceRegistry, EdgeDeviceStats, outcome_of
from sciot.edge._reports import (
    LocalReport,
    admission_refusal,
    misplaced_cut,
    report_ack,
    write_local_rows,
)
from sciot.edge._tail import TailService, run_on_pool
from sciot.edge._telemetry import TelemetryRow, TelemetryWriter
from sciot.edge._versions import ServedVersions, VersionTable
from sciot.errors import ExecutionError, RemoteProtocolError, SciotError
from sciot.planner import Planner
from sciot.wire import (
    DeviceOnlyReport,
    ErrorCode,
    ErrorFrame,
    FrameTooLargeError,
    InferRequest,
    InferResponse,
    Message,
    MessageType,
    OfflineReport,
    Register,
    RegisterAck,
    Tensor,
    TransferSample,
    decode,
    encode,
    mark_newer_model,
    peek_header,
    strip_auth,
)

log = logging.getLogger("sciot.edge")

INLINE_MAX_FRAME_BYTES = 64 * 1024
EXECUTOR_FRESH_S = 2.0
"""How recent the executor's newest tail must be to tell a device-only device's planner."""
DeviceStats = EdgeDeviceStats
"""The name ``sciot.edge`` has always exported for :class:`EdgeDeviceStats`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """What a transport sends back: an HTTP-like status, the frame, and a simulated delay."""

    status: int
    frame: bytes
    delay_s: float = 0.0


class EdgeCore:
    """Routes decoded frames to the registry, the tail service and the planner mailbox;
    thread-safe. ``run_tail`` replaces how tails run (default: the model's interpreter pool,
    slowed by the configured computation delay if any)."""

    def __init__(
        self,
        config: EdgeConfig,
        models: Sequence[ServedModel],
        *,
        telemetry: TelemetryWriter | None,
        run_tail: TailRun | None = None,
    ) -> None:
        self.config = config
        self.max_frame_bytes = config.max_frame_bytes
        self.inline_tail_max_s = config.inline_tail_max_s
        self.policy = config.planner.policy
        limits = config.limits
        self.registry = DeviceRegistry(
            max_devices=limits.max_devices,
            idle_s=limits.device_idle_s,
            max_per_source=limits.max_devices_per_source,
        )
        self.report_gate = ReportGate(
            ReportLimits(
                max_report_records=limits.max_report_records,
                max_records_per_s=limits.max_records_per_s,
                record_burst=limits.record_burst,
                plausible_inferences_per_s=limits.plausible_inferences_per_s,
                max_frames_per_s=limits.max_frames_per_s,
                frame_burst=limits.frame_burst,
            )
        )
        self.mailbox = PlannerMailbox(
            models, self.policy, seed=config.planner.seed, publish=self.registry.publish_cut
        )
        self.telemetry = telemetry
        self.delays = EdgeDelays(config.delay_simulation)
        if run_tail is None:
            run_tail = run_on_pool
            if self.delays.computation is not None:
                run_tail = DelayedTail(run_tail, self.delays)
        self.tails = TailService(run_tail)
        self.auth: DeviceAuth | None = None
        """Set (``DeviceAuth``) when every frame must come from a provisioned device."""
        if config.auth.mode == "tokens":
            self.auth = DeviceAuth(config.auth.token_file)
        self.frames = 0
        self.started_at_s = time.time()
        # Per model, the newest tail the executor ran for any device: (cut, run seconds,
        # wait for a worker, when).
        self._executor: dict[str, tuple[int, float, float, float]] = {}
        self.served = ServedVersions(models, self.mailbox, in_use=self._models_in_use)

    # ---------------------------------------------------------------- views for the app

    @property
    def models(self) -> dict[str, ServedModel]:
        """Every version served right now, by model id."""
        return self.served.models

    @property
    def versions(self) -> VersionTable:
        return self.served.table

    @property
    def devices(self) -> dict[str, DeviceRecord]:
        return self.registry.devices

    @property
    def rejected(self) -> dict[str, int]:
        return self.registry.rejected

    @property
    def planners(self) -> dict[str, Planner]:
        return self.mailbox.planners

    @property
    def planner_lock(self) -> threading.Lock:
        return self.mailbox.planner_lock

    @property
    def wakeup(self) -> threading.Event:
        return self.mailbox.wakeup

    def plan_pending(self) -> int:
        """One planner round (see :meth:`PlannerMailbox.plan_pending`)."""
        return self.mailbox.plan_pending()

    def stats(self) -> list[EdgeDeviceStats]:
        return self.registry.stats()

    # ---------------------------------------------------------------- entry points

    def runs_inline(self, data: bytes) -> bool:
        """Whether a frame is cheap enough to serve on the event loop itself.

        Handing a frame to a worker thread and back costs two thread wake-ups, about as much
        as a whole small tail; so registrations and requests whose tail the startup profile
        predicts to take at most ``inline_tail_max_s`` are served inline, and everything
        heavier (early cuts, edge-only, big frames) goes to the tail workers. Only the fixed
        header is peeked at here; the frame is validated when it is handled.
        """
        if self.inline_tail_max_s <= 0.0 or len(data) > INLINE_MAX_FRAME_BYTES:
            return False
        try:
            header = peek_header(data)
        except RemoteProtocolError:
            return False
        if header.msg_type in (MessageType.REGISTER, MessageType.DEVICE_ONLY_REPORT):
            return True
        if header.msg_type != MessageType.INFER_REQUEST:
            return False
        model = self.served.by_raw_id.get(header.model_id_raw)
        if model is None or header.cut > model.num_ops:
            return True  # a refusal: cheap
        return float(model.tail_profile_s[header.cut]) <= self.inline_tail_max_s

    def handle_frame(
        self,
        data: bytes,
        now_s: float,
        *,
        transport: str = "",
        source: str = "",
        waited_s: float = 0.0,
    ) -> Reply:
        """Decode one request frame and answer it; never raises for anything a peer sent.

        ``transport`` (``http``, ``ws``, ``tcp``, ``udp``, ``mqtt``) is recorded as the
        device's transport once the frame is accepted. ``source`` is the peer's address
        (empty when the transport has none, as MQTT): new registrations are capped per source.
        ``waited_s``: how long the frame waited for a worker before this call (the edge's
        queue, which an inference's reply counts as edge time and the planner per request).
        """
        self.frames += 1
        if len(data) > self.max_frame_bytes:
            return self.refuse_oversized(len(data))
        try:
            signed = strip_auth(data)
            msg = decode(signed.frame, max_frame_bytes=self.max_frame_bytes)
        except FrameTooLargeError as exc:
            return self._refuse(ErrorCode.FRAME_TOO_LARGE, str(exc))
        except RemoteProtocolError as exc:
            return self._refuse(ErrorCode.MALFORMED, f"malformed frame: {exc}")
        if self.auth is not None:
            problem = self.auth.check(msg.device_id, isinstance(msg, Register), signed, now_s)
            if problem:
                # Counted against no device: the frame does not speak for the id it names.
                return self._refuse(ErrorCode.UNAUTHORIZED, problem, msg, count_device=False)
        reply = self._route(msg, data, now_s, transport, source, max(0.0, waited_s))
        if reply.status == 200 and (transport or self.versions.superseded):
            record = self.registry.get(msg.device_id)
            if record is not None:
                if transport:
                    record.transport = transport
                if record.model.model_id in self.versions.superseded:
                    # Served by the version it named; the notice asks it to move on.
                    reply = Reply(
                        status=200, frame=mark_newer_model(reply.frame), delay_s=reply.delay_s
                    )
        return reply

    # ---------------------------------------------------------------- model versions

    def publish_model(self, model: ServedModel) -> None:
        """Serve a prepared new version (see :mod:`sciot.edge._versions`): new registrations
        for its label get it, devices on older versions are told at their next reply."""
        self.served.publish(model)

    def _models_in_use(self) -> set[str]:
        return {r.model.model_id for r in list(self.registry.devices.values())}

    def _route(
        self,
        msg: Message,
        data: bytes,
        now_s: float,
        transport: str = "",
        source: str = "",
        waited_s: float = 0.0,
    ) -> Reply:
        """The reply to a decoded (and, with tokens on, authenticated) frame that came over
        ``transport`` (the planner keeps one link estimate per transport)."""
        try:
            if isinstance(msg, InferRequest):
                return self._infer(msg, len(data), now_s, transport, waited_s)
            if isinstance(msg, Register):
                return self._register(msg, now_s, transport, source)
            if isinstance(msg, DeviceOnlyReport):
                return self._device_only(msg, len(data), now_s, transport)
            if isinstance(msg, OfflineReport):
                return self._offline(msg, now_s, transport)
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
        self, code: ErrorCode, reason: str, msg: object | None = None, *, count_device: bool = True
    ) -> Reply:
        device_id = getattr(msg, "device_id", "")
        self.registry.count_refusal(code.name.lower(), device_id if count_device else "")
        seq = getattr(msg, "seq", 0)
        frame = encode(ErrorFrame(code=code, reason=reason, device_id=device_id, seq=seq))
        return Reply(status=int(code), frame=frame)

    # ---------------------------------------------------------------- messages

    def _register(
        self, msg: Register, now_s: float, transport: str = "", source: str = ""
    ) -> Reply:
        with self.served.lock:  # a version is not retired between lookup and registration
            reply = self._register_locked(msg, now_s, transport, source)
            self.served.retire_unused()
        return reply

    def _register_locked(
        self, msg: Register, now_s: float, transport: str, source: str = ""
    ) -> Reply:
        model = self.models.get(msg.model_id)
        if model is None:
            served = ", ".join(f"{m.label} ({m.model_id})" for m in self.models.values())
            return self._refuse(
                ErrorCode.UNKNOWN_MODEL,
                f"this edge does not serve model {msg.model_id}; it serves: {served}",
                msg,
            )
        if self.registry.source_full(msg.device_id, source):
            return self._refuse(
                ErrorCode.OVERLOADED,
                f"source {source} already holds {self.registry.max_per_source} "
                "registered devices (limits.max_devices_per_source); reuse a device id or "
                "retry later",
                msg,
                count_device=False,
            )
        room, evicted = self.registry.has_room(msg.device_id, now_s)
        self._forget(evicted)
        if not room:
            return self._refuse(
                ErrorCode.OVERLOADED,
                f"this edge holds its limit of {self.registry.max_devices} active devices "
                "(limits.max_devices); retry later",
                msg,
            )
        cut, probe = self.mailbox.first_decision(
            msg.device_id, model, msg.profile.op_seconds, now_s, transport=transport
        )
        self.registry.register(
            msg.device_id,
            model,
            kind=msg.profile.kind,
            cut=cut,
            now_s=now_s,
            source=source,
            probe=probe,
        )
        ack = RegisterAck(
            device_id=msg.device_id,
            model_id=model.model_id,
            seq=msg.seq,
            num_ops=model.num_ops,
            cut=cut,
            max_frame_bytes=self.max_frame_bytes,
            sent_at_s=now_s,
            probe=probe,
        )
        return Reply(status=200, frame=encode(ack))

    def _lookup(self, msg: InferRequest | OfflineReport | DeviceOnlyReport) -> DeviceRecord | Reply:
        record = self.registry.get(msg.device_id)
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
        return record

    def _infer(
        self,
        msg: InferRequest,
        uplink_bytes: int,
        now_s: float,
        transport: str = "",
        waited_s: float = 0.0,
    ) -> Reply:
        record = self._lookup(msg)
        if isinstance(record, Reply):
            return record
        over_rate = self.report_gate.check_frame(msg.device_id, now_s)
        if over_rate is not None:
            return self._refuse(over_rate.code, over_rate.reason, msg)
        model, cut = record.model, msg.cut
        if cut > model.num_ops:
            return self._refuse(
                ErrorCode.BAD_CUT,
                f"cut {cut} is beyond this model's {model.num_ops} ops (valid: 0..{model.num_ops})",
                msg,
            )
        if cut < model.num_ops and model.tails[cut] is None:
            reason = model.graph.cut(cut).blocked_reason or "it has no tail"
            return self._refuse(
                ErrorCode.BAD_CUT, f"the model cannot be split at cut {cut}: {reason}", msg
            )
        problem = self.tails.check(model, cut, msg.tensors)
        if problem is not None:
            return self._refuse(ErrorCode.BAD_TENSORS, problem, msg)
        results: tuple[Tensor, ...] = ()
        edge_s = 0.0
        if cut < model.num_ops:
            results, edge_s = self.tails.run(model, cut, msg.tensors)
            self._executor[model.model_id] = (cut, edge_s, waited_s, now_s)
        transfer = msg.last_transfer
        transfer_s = transfer.seconds if transfer is not None else None
        # The device counts the reply's edge seconds out of its network time: the wait for
        # a worker is the edge's, so it is in them (and fed apart from the tail's run time).
        at_edge_s = edge_s + waited_s if cut < model.num_ops else 0.0
        e2e_s = msg.device_seconds + at_edge_s + (transfer_s or 0.0)
        ran_probe = self.registry.runs_probe(record, cut)
        # The planner learns a request's latency when its network time is known: with the
        # next message (this one carries the previous exchange's), as the simulator does.
        latencies = _paired(record, transfer)
        if cut < model.num_ops:
            record.unpaired = (cut, msg.device_seconds + at_edge_s)
        else:
            latencies.append((cut, msg.device_seconds))
        # A probe alongside a whole-model inference: the head's op times come with that
        # inference's record in the device's next report, so they are not fed twice.
        head_known = msg.device_op_seconds or msg.alongside
        self.mailbox.post(
            msg.device_id,
            model,
            now_s,
            device_op_seconds=() if msg.alongside else (msg.device_op_seconds,),
            head=None if head_known else (cut, msg.device_seconds),
            edge_ops=model.edge_op_seconds(cut, edge_s) if cut < model.num_ops else None,
            edge_wait_s=waited_s if cut < model.num_ops else None,
            transfer=transfer,
            latencies=latencies,
            inferences=1,
            transport=transport,
            transfer_transport=record.transport or transport,
        )
        # The request ran the published probe: its reply carries a decision made with its
        # measurements, not the probe again (see sciot.planner.ran_probe).
        planned = self.mailbox.plan_now(msg.device_id) if ran_probe else None
        next_cut = record.next_cut if planned is None else planned
        frame = encode(
            InferResponse(
                device_id=msg.device_id,
                model_id=model.model_id,
                seq=msg.seq,
                cut=cut,
                next_cut=next_cut,
                tensors=results,
                edge_seconds=at_edge_s,
                sent_at_s=now_s,
                next_probe=self.registry.runs_probe(record, next_cut),
            )
        )
        if msg.alongside:  # no inference: the device reports it as the device-only one
            self.registry.count_probe(
                record, uplink_bytes=uplink_bytes, downlink_bytes=len(frame), now_s=now_s
            )
            return Reply(status=200, frame=frame, delay_s=self.delays.network_s())
        self.registry.count_inference(
            record,
            cut=cut,
            device_s=msg.device_seconds,
            edge_s=edge_s,
            end_to_end_s=e2e_s,
            uplink_bytes=uplink_bytes,
            downlink_bytes=len(frame),
            now_s=now_s,
        )
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
                    downlink_bytes=len(frame),
                    transfer_s=transfer_s,
                    edge_s=edge_s,
                    end_to_end_s=e2e_s,
                    policy=self.policy,
                    outcome=outcome_of(cut, model.num_ops),
                )
            )
        return Reply(status=200, frame=frame, delay_s=self.delays.network_s())

    def _device_only(
        self, msg: DeviceOnlyReport, uplink_bytes: int, now_s: float, transport: str = ""
    ) -> Reply:
        """Inferences the device ran alone by decision: recorded one row each like any other
        inference, their timings and the report's transfer sample fed to the planner, and the
        ack carries the next cut so exploration can move the device back to splitting."""
        record = self._admit(msg, now_s)
        if isinstance(record, Reply):
            return record
        num_ops, model_id = record.model.num_ops, record.model.model_id
        next_cut = self.registry.count_local(
            record,
            msg.records,
            offline=False,
            uplink_bytes=uplink_bytes,
            now_s=now_s,
            offline_backlog=msg.offline_backlog,
        )
        executor_ops, executor_wait_s = self._executor_now(record.model, now_s)
        self.mailbox.post(
            msg.device_id,
            record.model,
            now_s,
            edge_ops=executor_ops,
            edge_wait_s=executor_wait_s,
            device_op_seconds=[r.device_op_seconds for r in msg.records],
            head=(num_ops, msg.records[-1].device_seconds) if msg.records else None,
            transfer=msg.last_transfer,
            latencies=[
                *_paired(record, msg.last_transfer),
                *((num_ops, r.device_seconds) for r in msg.records),
            ],
            inferences=len(msg.records),
            transport=transport,
            transfer_transport=record.transport or transport,
        )
        # The ack carries the cut planned with this batch: it is the device's only way off
        # device-only, and one round per report is cheap (a report covers many inferences).
        planned = self.mailbox.plan_now(msg.device_id)
        if planned is not None:
            next_cut = planned
        # Device-only inferences cost the edge nothing: no bytes, no edge time.
        write_local_rows(
            self.telemetry,
            msg,
            model_id=model_id,
            policy=self.policy,
            next_cut=next_cut,
            bytes_sent=0,
            edge_s=0.0,
            outcome="device_only",
        )
        next_probe = self.registry.runs_probe(record, next_cut)
        frame = report_ack(msg, model_id, next_cut, now_s, next_probe=next_probe)
        self.registry.count_downlink(record, len(frame))
        return Reply(status=200, frame=frame, delay_s=self.delays.network_s())

    def _executor_now(
        self, model: ServedModel, now_s: float
    ) -> tuple[dict[int, float] | None, float | None]:
        """The edge's own newest timing of its executor for ``model`` (any device's tail in
        the last :data:`EXECUTOR_FRESH_S`): as a whole-model tail spread by the profile, and
        that tail's wait for a worker.

        A device-only report carries it to the device's planner, which otherwise hears of
        the edge only by offloading: an overload's end would wait for a stale estimate.
        """
        newest = self._executor.get(model.model_id)
        if newest is None or now_s - newest[3] > EXECUTOR_FRESH_S:
            return None, None
        cut, edge_s, waited_s, _at = newest
        profile = model.edge_op_s
        tail = float(profile[cut:].sum())
        if not tail > 0:
            return None, None
        return model.edge_op_seconds(0, edge_s * float(profile.sum()) / tail), waited_s

    def _offline(self, msg: OfflineReport, now_s: float, transport: str = "") -> Reply:
        record = self._admit(msg, now_s)
        if isinstance(record, Reply):
            return record
        next_cut = self.registry.count_local(
            record,
            msg.records,
            offline=True,
            uplink_bytes=0,
            now_s=now_s,
            offline_backlog=msg.offline_backlog,
        )
        if msg.records:
            record.unpaired = None  # that exchange failed: it has no latency
            self.mailbox.post(msg.device_id, record.model, now_s, outage=True, transport=transport)
        # Offline inferences never reached the edge: what it did not see is unknown (NULL).
        model_id = record.model.model_id
        write_local_rows(
            self.telemetry,
            msg,
            model_id=model_id,
            policy=self.policy,
            next_cut=None,
            bytes_sent=None,
            edge_s=None,
            outcome="offline",
        )
        next_probe = self.registry.runs_probe(record, next_cut)
        return Reply(
            status=200, frame=report_ack(msg, model_id, next_cut, now_s, next_probe=next_probe)
        )

    def _admit(self, msg: LocalReport, now_s: float) -> DeviceRecord | Reply:
        """The device's record, or the refusal of a report it cannot send (see
        :mod:`sciot.edge._reports`); the device keeps refused records and sends them again."""
        record = self._lookup(msg)
        if isinstance(record, Reply):
            return record
        misplaced = misplaced_cut(msg, record.model.num_ops)
        if misplaced is not None:
            return self._refuse(ErrorCode.BAD_CUT, misplaced, msg)
        refusal = admission_refusal(self.report_gate, self.telemetry, msg, now_s)
        if refusal is not None:
            return self._refuse(refusal.code, refusal.reason, msg)
        return record

    def _forget(self, device_ids: list[str]) -> None:
        """Devices the registry evicted: their planner state and rate buckets go too."""
        if device_ids:
            self.mailbox.forget(device_ids)
            for device_id in device_ids:
                self.report_gate.forget(device_id)


def _paired(record: DeviceRecord, transfer: TransferSample | None) -> list[tuple[int, float]]:
    """The latency of ``record``'s last split request, now that ``transfer`` (its network
    time, carried by the device's next message) came; nothing when none is waiting."""
    unpaired, record.unpaired = record.unpaired, None
    if unpaired is None or transfer is None:
        return []
    cut, seconds = unpaired
    return [(cut, seconds + transfer.seconds)]


__all__ = ["DeviceStats", "EdgeCore", "PlannerWorker", "Reply"]
