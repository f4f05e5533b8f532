"""The device client: the driver loop around the sans-I/O session.

:class:`DeviceClient` owns the prepared cut artefacts, a head runner (``_head``), an exchange
with the edge (``_exchange``, where bytes hit the wire), a report uploader (``_uploader``) and
a clock. For each
inference it asks the :class:`~sciot.device.Session` what to do, then either makes one round
trip (head output, per-op timings and the last transfer measurement out; the result and the
next cut back) or runs the whole model locally. At the device-only cut no round trip is made:
the inference's record joins a :class:`~sciot.device.DeviceOnlyBatch`, reported in one
``DeviceOnlyReport`` every ``report_every`` inferences or ``report_interval_s``, whose ack
carries the next cut. Every failure -- timeout, unreachable edge, malformed reply, refusal --
ends in a local inference whose record waits in the bounded offline queue until the edge is
back, so no inference is lost and nothing raises mid-run except a bug.
Status changes are one-line ``logging`` messages on the ``sciot.device`` logger.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

import numpy as np

from sciot.device._alongside import ProbeAlongside
from sciot.device._artefacts import CutArtefacts, HeadRun
from sciot.device._config import DeviceConfig
from sciot.device._exchange import CallFailed, Exchange, RoundTrip, describe
from sciot.device._head import HeadRunner, head_runner_for
from sciot.device._model_update import ModelUpdateFailed, fetch_successor, model_base_url
from sciot.device._outcome import DeviceStats, InferenceMode, InferenceOutcome, StatsRecorder
from sciot.device._registration import (
    RegistrationRefused,
    StatusLog,
    accepted_registration,
    initial_cut,
    registration,
)
from sciot.device._session import Action, Backoff, Session, SessionEvent, SessionState
from sciot.device._uploader import ReportUploader
from sciot.errors import SciotError, WireError
from sciot.planner import runs_alongside, went_local
from sciot.transport import ClientTransport
from sciot.wire import (
    InferRequest,
    InferResponse,
    OfflineRecord,
    Tensor,
    TensorEncoding,
)

LOGGER = logging.getLogger("sciot.device")
UPDATE_RETRY_S = 1.0
"""How soon a failed move to a newer model version is tried again."""
UPDATE_TIMEOUT_S = 30.0

Clock = Callable[[], float]


class DeviceClient:
    """Runs inferences for one device, split with the edge whenever the edge is reachable.

    ``clock`` (monotonic seconds) times everything and drives backoff; ``wall_clock`` stamps
    messages; ``sleep`` realises the slowdown the settings ask for (``speed_factor``,
    ``computation_delay``). All three are injectable so tests and simulations control time.
    ``head`` replaces how heads run (default: :func:`~sciot.device._head.head_runner_for`);
    ``artefacts`` replaces the prepared model (an emulated device's paced heads). A client is
    not thread-safe (LiteRT interpreters are not): give each device thread its own.
    """

    def __init__(
        self,
        config: DeviceConfig,
        transport: ClientTransport,
        *,
        artefacts: CutArtefacts | None = None,
        head: HeadRunner | None = None,
        clock: Clock = time.perf_counter,
        wall_clock: Clock = time.time,
        sleep: Callable[[float], None] = time.sleep,
        logger: logging.Logger = LOGGER,
    ) -> None:
        self.config = config
        self._clock = clock
        self._sleep = sleep
        # A newer model version can be adopted only when the client built its own heads.
        self._follows_updates = artefacts is None and head is None
        self._update_retry_s = 0.0
        self.model_updates = 0
        """How many times this client moved to a newer version of its model."""
        self._wall_clock = wall_clock
        self._log = logger
        self._status = StatusLog(config.device_id, logger)
        self.artefacts = (
            artefacts if artefacts is not None else CutArtefacts.from_source(config.model)
        )
        self._rng = np.random.default_rng(config.seed)
        backoff = Backoff(**config.backoff.model_dump())
        self._session = Session(backoff=backoff, rng=np.random.default_rng([config.seed, 1]))
        self._head = (
            head
            if head is not None
            else head_runner_for(config, self.artefacts, rng=self._rng, sleep=sleep)
        )
        self._cut = initial_cut(config, self.artefacts)
        self._probing = False
        """Whether the edge sent ``_cut`` as a probe: its inferences then run op by op."""
        self._profiled_cuts: set[int] = set()
        self._op_profile: tuple[float, ...] | None = None
        self._stats = StatsRecorder()
        self._seq = 0
        self._exchange = Exchange(
            transport, timeout_s=config.timeout_s, clock=clock, token=config.token_bytes
        )
        self._uploads = ReportUploader(
            config,
            self._exchange,
            model_id=self.artefacts.model_id,
            stats=self._stats,
            seq=lambda: self._seq,
            wall_clock=wall_clock,
            on_ok=self._call_ok,
            on_failed=self._call_failed,
            adopt_cut=self._adopt_cut,
            logger=logger,
        )
        self._queue = self._uploads.queue
        self._batch = self._uploads.batch
        self._offline_since_s: float | None = None
        self._started = False
        self._alongside: int | None = None
        """A probe to send alongside the next inference, if it runs device-only."""
        self._probe: ProbeAlongside | None = None
        """The probe alongside in flight (one at a time)."""

    # ------------------------------------------------------------------------ public surface

    @property
    def state(self) -> SessionState:
        return self._session.state

    @property
    def cut(self) -> int:
        """The cut the next split inference will use."""
        return self._cut

    @property
    def num_ops(self) -> int:
        return self.artefacts.num_ops

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def unreported(self) -> int:
        """Device-only inferences waiting for their periodic report."""
        return len(self._batch)

    def start(self) -> bool:
        """Register with the edge; returns whether it is reachable.

        An unreachable edge is not an error (the device works locally and retries with
        backoff); a refusal is, since retrying cannot fix a wrong model or device id.
        """
        reachable = self._register(self._clock(), raise_refusal=True)
        self._started = True
        return reachable

    def infer(self, data: np.ndarray | Mapping[str, np.ndarray]) -> InferenceOutcome:
        """Run one inference: split with the edge if possible, else wholly on the device."""
        self._collect_probe()
        if self._exchange.newer_model:
            self._update_model()
        array = self.artefacts.prepare_input(data)
        started_s = self._clock()
        self._seq += 1
        seq = self._seq
        # A probe goes out with this inference if it runs device-only; a move to a split cut
        # since the probe was asked for makes it moot.
        alongside, self._alongside = self._alongside, None
        action = self._session.next_action(started_s)
        if action is Action.REGISTER and self._register(started_s, raise_refusal=False):
            action = Action.CALL
        if action is Action.CALL and len(self._queue) > 0:
            action = Action.CALL if self._uploads.upload_offline() else Action.LOCAL
        num_ops = self.artefacts.num_ops
        # Left device-only (a re-registration moved the cut): report what is left first.
        leftover = action is Action.CALL and len(self._batch) > 0 and self._cut != num_ops
        if leftover and isinstance(self._uploads.report_device_only(), str):
            action = Action.LOCAL
        if action is not Action.CALL:
            wait_s = self._session.seconds_until_retry(self._clock())
            reason = f"edge unavailable (next retry in {wait_s:.2f} s)"
            return self._finish(self._run_local(seq, array, started_s, reason))
        forced_local = self._forced_local()
        if forced_local or self._cut == num_ops:
            return self._finish(
                self._run_device_only(seq, array, started_s, forced_local, alongside)
            )
        try:
            outcome = self._run_split(seq, array, started_s)
        except CallFailed as exc:
            self._call_failed(exc)
            outcome = self._run_local(seq, array, started_s, str(exc))
        else:
            self._session.handle(SessionEvent.CALL_OK, self._clock())
        return self._finish(outcome)

    def flush(self, *, force: bool = False) -> int:
        """Upload every queued offline record and report every device-only one now, if the
        edge is reachable; returns how many records the edge accepted. Stops at the first
        failure (the rest stay queued). ``force`` makes one attempt even during a backoff
        wait."""
        before = self._stats.uploaded + self._stats.reported
        self._collect_probe(wait=True)
        if force and (len(self._queue) > 0 or len(self._batch) > 0):
            self._session.retry_now(self._clock())
        while len(self._queue) > 0 or len(self._batch) > 0:
            action = self._session.next_action(self._clock())
            if action is Action.REGISTER and not self._register(self._clock(), raise_refusal=False):
                break
            if action is Action.LOCAL:
                break
            if len(self._queue) > 0:
                if not self._uploads.upload_offline():
                    break
            elif isinstance(self._uploads.report_device_only(), str):
                break
        return self._stats.uploaded + self._stats.reported - before

    def stats(self) -> DeviceStats:
        return self._stats.snapshot(
            device_id=self.config.device_id,
            state=str(self._session.state),
            lost=self._uploads.lost,
            queued=len(self._queue),
        )

    def close(self) -> None:
        """Try once to upload what is queued, then close the transport."""
        try:
            if self._started:
                self.flush(force=True)
        finally:
            self._exchange.close()

    def __enter__(self) -> DeviceClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------------ registration

    def _register(self, now_s: float, *, raise_refusal: bool) -> bool:
        message = registration(
            self.config,
            self.artefacts,
            seq=self._seq,
            op_seconds=self._op_profile_s(),
            sent_at_s=self._wall_clock(),
        )
        try:
            reply = self._exchange.round_trip(message, TensorEncoding.RAW).reply
            ack = accepted_registration(reply, self.config, self.artefacts)
        except RegistrationRefused as exc:
            if raise_refusal:
                raise
            self._call_failed(CallFailed(str(exc)))
            return False
        except CallFailed as exc:
            self._call_failed(exc)
            return False
        self._exchange.max_frame_bytes = ack.max_frame_bytes
        self._session.handle(SessionEvent.REGISTERED, self._clock())
        self._stats.registrations += 1
        # A configured initial cut wins over the edge's first suggestion, once; after that
        # (and after every re-registration) the edge decides.
        if self.config.initial_cut is None or self._stats.registrations > 1:
            self._adopt_cut(ack.cut, ack.probe)
        if self._offline_since_s is None:
            self._status.registered(
                self.config.edge_url, self.artefacts.model_id, self.artefacts.num_ops, self._cut
            )
        else:
            offline_s = self._clock() - self._offline_since_s
            self._status.back(offline_s, self._cut, len(self._queue))
            self._offline_since_s = None
        return True

    def _update_model(self) -> None:
        """Move to the edge's newer version of the model, between two inferences.

        What the old version ran is reported first (the edge still serves it), then the new
        file is fetched and verified, every head prepared and the device registers again
        with the new model id and a fresh op profile, so the edge plans its cuts anew. Any
        failure keeps the old version, which the edge keeps serving, and is retried later.
        """
        now_s = self._clock()
        base = model_base_url(self.config.edge_url)
        if not self._follows_updates or base is None or now_s < self._update_retry_s:
            return
        self._update_retry_s = now_s + UPDATE_RETRY_S
        self.flush()
        if len(self._queue) > 0 or len(self._batch) > 0:
            return  # old-version records still to report: try again at a later decision
        old_id = self.artefacts.model_id
        try:
            graph = fetch_successor(
                base, old_id, ca_file=self.config.ca_file, timeout_s=UPDATE_TIMEOUT_S
            )
            artefacts = CutArtefacts(graph)
        except (ModelUpdateFailed, SciotError) as exc:
            self._log.warning("%s: staying on model %s: %s", self.config.device_id, old_id, exc)
            return
        self._exchange.newer_model = False
        if graph.model_id == old_id:
            return
        self.artefacts = artefacts
        self._head = head_runner_for(self.config, artefacts, rng=self._rng, sleep=self._sleep)
        self._uploads.use_model(artefacts.model_id)
        self._profiled_cuts.clear()
        self._op_profile = None
        self._cut = artefacts.num_ops  # device-only until the edge plans the new version
        self._probing = False
        self._alongside = None  # a probe of the old version's cut
        self.model_updates += 1
        self._log.info(
            "%s: model %s -> %s (%d ops)",
            self.config.device_id,
            old_id,
            artefacts.model_id,
            artefacts.num_ops,
        )
        # Registering again is the session's usual path: this very decision makes it.
        if self._session.state is SessionState.REGISTERED:
            self._session.handle(SessionEvent.FORGOTTEN, self._clock())

    def _op_profile_s(self) -> tuple[float, ...]:
        """Per-op seconds of the whole model on this device, measured once: the planner's
        first prior (see :meth:`HeadRunner.op_profile`)."""
        if self._op_profile is None:
            self._op_profile = self._head.op_profile(self._clock)
        return self._op_profile

    # ------------------------------------------------------------------------ inference paths

    def _run_split(self, seq: int, array: np.ndarray, started_s: float) -> InferenceOutcome:
        cut = self._cut
        head = self._run_head(cut, array, profile=self._should_profile(cut))
        try:
            request = self._infer_request(
                seq, cut, head.tensors, head.device_s, op_seconds=head.op_seconds or ()
            )
        except WireError as exc:
            raise CallFailed(f"cannot send cut {cut}: {exc}") from exc
        trip = self._exchange.round_trip(
            request, self.config.crossing.encoding(cut, self.artefacts.num_ops)
        )
        reply = trip.reply
        if not isinstance(reply, InferResponse) or reply.seq != seq or reply.cut != cut:
            raise CallFailed(f"unexpected reply to inference {seq}: {describe(reply)}")
        outputs = {t.name: t.array for t in reply.tensors}
        if set(outputs) != set(self.artefacts.output_names):
            expected = list(self.artefacts.output_names)
            raise CallFailed(f"edge returned tensors {sorted(outputs)}, expected {expected}")
        network_s = max(0.0, trip.elapsed_s - reply.edge_seconds)
        self._exchange.last_transfer = trip.transfer(reply.edge_seconds)
        self._adopt_cut(reply.next_cut, reply.next_probe)
        if went_local(cut, self._cut, self.artefacts.num_ops):
            self._batch.hurry()  # a one-shot probe of device-only is heard of at once
        return InferenceOutcome(
            outputs=outputs,
            cut=cut,
            mode=InferenceMode.SPLIT,
            device_s=head.device_s,
            network_s=network_s,
            edge_s=reply.edge_seconds,
            total_s=self._clock() - started_s,
            payload_bytes=trip.payload_bytes,
            seq=seq,
        )

    def _run_device_only(
        self,
        seq: int,
        array: np.ndarray,
        started_s: float,
        forced_local: bool,
        alongside: int | None = None,
    ) -> InferenceOutcome:
        """The whole model on the device by decision: no round trip on this inference's path.

        Its record joins the batch; only the inference that makes the batch due pays for the
        report's round trip, whose ack may move the device back to a split cut. With a probe
        ``alongside``, the run is op by op and the probe's tensors go out after it, on their
        own thread.
        """
        num_ops = self.artefacts.num_ops
        started_at_s = self._wall_clock()
        profile = alongside is not None or forced_local or self._should_profile(num_ops)
        head = self._run_head(num_ops, array, profile=profile, keep=alongside)
        record = self._local_record(
            seq, head, started_at_s, "device-only", with_result=self.config.report_results
        )
        self._batch.add(record, self._clock())
        due = self._batch.due(self._clock())
        report = self._uploads.report_device_only() if due else None
        # A failed report queued this inference's record for upload: a local fallback.
        failed = isinstance(report, str)
        if alongside is not None and not failed:
            self._send_probe(alongside, head, seq)
        trip = report if isinstance(report, RoundTrip) else None
        return InferenceOutcome(
            outputs=head.tensors,
            cut=num_ops,
            mode=InferenceMode.LOCAL if failed else InferenceMode.DEVICE_ONLY,
            device_s=head.device_s,
            network_s=0.0 if trip is None else trip.elapsed_s,
            edge_s=0.0,
            total_s=self._clock() - started_s,
            payload_bytes=0 if trip is None else trip.payload_bytes,
            seq=seq,
            reason=report if isinstance(report, str) else "",
        )

    def _run_local(
        self, seq: int, array: np.ndarray, started_s: float, reason: str
    ) -> InferenceOutcome:
        """The whole model on the device; its record waits for the edge in the queue."""
        num_ops = self.artefacts.num_ops
        started_at_s = self._wall_clock()
        head = self._run_head(num_ops, array, profile=False)
        self._uploads.keep_offline(self._local_record(seq, head, started_at_s, "offline"))
        return InferenceOutcome(
            outputs=head.tensors,
            cut=num_ops,
            mode=InferenceMode.LOCAL,
            device_s=head.device_s,
            network_s=0.0,
            edge_s=0.0,
            total_s=self._clock() - started_s,
            payload_bytes=0,
            seq=seq,
            reason=reason,
        )

    def _local_record(
        self, seq: int, head: HeadRun, started_at_s: float, kind: str, *, with_result: bool = True
    ) -> OfflineRecord:
        """The record of a whole-model inference, its result kept when it can travel (the
        timings are kept whatever happens to the result)."""
        num_ops = self.artefacts.num_ops
        tensors: tuple[Tensor, ...] = ()
        if with_result:
            try:
                tensors = self.artefacts.wire_tensors(num_ops, head.tensors)
            except WireError as exc:
                self._status.result_not_kept(kind, exc)
        return OfflineRecord(
            seq=seq,
            cut=num_ops,
            started_at_s=started_at_s,
            device_seconds=head.device_s,
            device_op_seconds=head.op_seconds or (),
            tensors=tensors,
        )

    # ------------------------------------------------------------------------ plumbing

    def _call_ok(self) -> None:
        self._session.handle(SessionEvent.CALL_OK, self._clock())

    def _send_probe(self, cut: int, head: HeadRun, seq: int) -> None:
        """Send cut ``cut``'s tensors, kept by the whole-model run ``head`` of inference
        ``seq``, as a probe alongside it, under that inference's sequence number (the
        reply is collected by :meth:`_collect_probe`). Inference sequence numbers stay
        gap-free; a report of the same inference shares the number, as a registration and a
        report can, and transports that match replies by it check the reply's type too."""
        if head.kept is None or head.op_seconds is None:
            return
        try:
            request = self._infer_request(
                seq, cut, head.kept, float(sum(head.op_seconds[:cut])), alongside=True
            )
        except WireError as exc:
            self._log.warning("%s: no probe at cut %d: %s", self.config.device_id, cut, exc)
            return
        self._exchange.last_transfer = None  # this request carries it
        encoding = self.config.crossing.encoding(cut, self.artefacts.num_ops)
        self._probe = ProbeAlongside(self._exchange, request, encoding)
        self._stats.probes_alongside += 1

    def _infer_request(
        self,
        seq: int,
        cut: int,
        arrays: Mapping[str, np.ndarray],
        device_s: float,
        *,
        op_seconds: tuple[float, ...] = (),
        alongside: bool = False,
    ) -> InferRequest:
        """The request of inference ``seq`` at ``cut``, carrying the last transfer sample
        (a ``WireError`` when the tensors cannot travel)."""
        return InferRequest(
            device_id=self.config.device_id,
            model_id=self.artefacts.model_id,
            seq=seq,
            cut=cut,
            tensors=self.artefacts.wire_tensors(cut, arrays),
            device_seconds=device_s,
            device_op_seconds=op_seconds,
            last_transfer=self._exchange.last_transfer,
            sent_at_s=self._wall_clock(),
            alongside=alongside,
        )

    def _collect_probe(self, *, wait: bool = False) -> None:
        """Take in the reply to the probe alongside, if it came (``wait``: up to the timeout):
        its network time for the next message to carry and the next cut it brings; a failed
        probe is a failed call, as it would be in place of an inference."""
        probe = self._probe
        if probe is None:
            return
        # Its round trip is bounded by the timeout; the second is slack for the thread.
        if not (probe.done or (wait and probe.wait(self.config.timeout_s + 1.0))):
            return
        self._probe = None
        outcome = probe.outcome()
        if isinstance(outcome, CallFailed):
            self._call_failed(outcome)
            return
        trip, reply = outcome
        self._exchange.last_transfer = trip.transfer(reply.edge_seconds)
        self._adopt_cut(reply.next_cut, reply.next_probe)
        if went_local(reply.cut, self._cut, self.artefacts.num_ops):
            self._batch.hurry()  # that decision lacked this round trip: report it at once

    def _run_head(
        self, cut: int, array: np.ndarray, *, profile: bool, keep: int | None = None
    ) -> HeadRun:
        head = self._head.run(cut, array, profile=profile, clock=self._clock, keep=keep)
        if profile:
            self._profiled_cuts.add(cut)
        return head

    def _call_failed(self, exc: CallFailed) -> None:
        now_s = self._clock()
        self._stats.failures += 1
        if exc.forgotten and self._session.state is SessionState.REGISTERED:
            self._session.handle(SessionEvent.FORGOTTEN, now_s)
            self._status.forgotten(exc)
            return
        was_backing_off = self._session.failures > 0
        self._session.handle(SessionEvent.CALL_FAILED, now_s)
        retry_s = self._session.seconds_until_retry(now_s)
        if was_backing_off:
            self._status.still_offline(exc, retry_s)
            return
        if self._offline_since_s is None:
            self._offline_since_s = now_s
        self._status.went_offline(exc, retry_s)

    def _adopt_cut(self, cut: int, probe: bool = False) -> None:
        """Use ``cut`` from the next inference on; a probe told to a device-only device is
        sent alongside its next inference instead (:func:`~sciot.planner.runs_alongside`)."""
        along = runs_alongside(self._cut, cut, probe, self.artefacts.num_ops)
        if along and self.artefacts.usable(cut):
            if self._probe is None:
                self._alongside = cut
            return
        if cut == self._cut:
            self._probing = probe
            return
        if not self.artefacts.usable(cut):
            self._status.unusable_cut(cut, self._cut)
            return
        self._log.debug("%s: cut %d -> %d", self.config.device_id, self._cut, cut)
        self._cut, self._probing = cut, probe

    def _forced_local(self) -> bool:
        settings = self.config.local_inference
        return settings.enabled and bool(self._rng.random() < settings.probability)

    def _should_profile(self, cut: int) -> bool:
        """Profile op by op the first time a cut is used, while it runs as a probe (a probe
        is there to measure its ops), and on a sampled fraction after."""
        if cut == 0:
            return False
        if self._probing or cut not in self._profiled_cuts:
            return True
        return bool(self._rng.random() < self.config.profile_fraction)

    def _finish(self, outcome: InferenceOutcome) -> InferenceOutcome:
        self._stats.record(outcome)
        return outcome


__all__ = ["DeviceClient", "RegistrationRefused"]
