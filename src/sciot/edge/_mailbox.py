"""The planner mailbox: measurements wait here until the planner has time for them.

A full observe-and-decide costs about a millisecond, several times a whole split inference, so
the request path does not call the planner (a device-only report, rare by construction, is the
one exception: :meth:`PlannerMailbox.plan_now`). It posts what it measured (device and edge op
times, transfer samples, outages) to the device's mailbox entry and returns;
:meth:`PlannerMailbox.plan_pending`, run by :class:`PlannerWorker` in its own thread within a
CPU budget, turns every waiting entry into one :class:`~sciot.planner.Round` and hands it to
:func:`~sciot.planner.feed_round`, the same path the simulator's observation channel takes, so
a live edge and a virtual run teach the planner the same things in the same order; then it
publishes the next cut.
Under light load every inference is planned; under heavy load measurements of one device are
merged, so planning cost stays bounded while serving scales. Any transport (HTTP, WebSocket,
MQTT, TCP, UDP) shares one mailbox through the frame router.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sciot.edge._models import ServedModel
from sciot.errors import ConfigError, PlannerError
from sciot.planner import Planner, Round, SplitSpace, Transfer, batch_op_seconds, feed_round
from sciot.wire import TransferSample

log = logging.getLogger("sciot.edge")

# Transfer samples kept per device between planner rounds: the newest ones. Each costs the
# planner a link refit (~10 us); at 32 busy devices 16 per round made the planner thread the
# edge's largest CPU user after the request path, for samples of near-identical frames.
MAX_PENDING_TRANSFERS = 4
# End-to-end latencies kept per device between rounds (the newest), for the same reason.
MAX_PENDING_LATENCIES = 64

PublishCut = Callable[[str, int, bool], None]
"""Called with a device id, the cut its planner chose and whether that cut is a probe (from
the planner thread)."""


@dataclass(slots=True)
class PendingObservations:
    """Measurements of one device waiting for the planner worker (merged when it lags)."""

    model: ServedModel
    device_ops: dict[int, float] = field(default_factory=dict)
    head: tuple[int, float] | None = None
    """(cut, total head seconds) of the newest request that carried no per-op times."""
    edge_ops: dict[int, float] = field(default_factory=dict)
    edge_waits: list[float] = field(default_factory=list)
    """Each request's wait for the edge's executor, oldest first (the newest kept)."""
    transfers: list[tuple[TransferSample, str]] = field(default_factory=list)
    """Each with the transport it went over (the device's previous frame's)."""
    latencies: list[tuple[int, float]] = field(default_factory=list)
    """(cut, end-to-end seconds) of each inference, oldest first."""
    inferences: int = 0
    """How many inferences the entry covers (merged requests, or a device-only batch)."""
    transport: str = ""
    """The transport of the device's newest frame: the planner decides with its link."""
    outages: int = 0
    """Offline reports received: the device's split attempts failed since the last round."""
    now_s: float = 0.0

    def as_round(self) -> Round:
        """The planner round these measurements make (see :func:`~sciot.planner.feed_round`)."""
        return Round(
            device_ops=self.device_ops,
            head=None if self.device_ops else self.head,
            edge_ops=self.edge_ops,
            edge_waits=self.edge_waits,
            transfers=[
                Transfer(t.uplink_bytes, t.downlink_bytes, t.seconds, went_over)
                for t, went_over in self.transfers
            ],
            latencies=self.latencies,
            outage=self.outages > 0,
            inferences=max(self.inferences, 1),
            transport=self.transport,
        )


def check_fixed_cut(policy: str, models: Sequence[ServedModel]) -> None:
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
        reason = model.graph.cut(cut).blocked_reason if cut < model.num_ops else None
        if reason is not None:
            raise ConfigError(
                f"key 'planner.policy': {policy!r} names cut {cut}, which model {model.label} "
                f"cannot be split at ({reason}); `sciot model inspect` lists the others"
            )


class PlannerMailbox:
    """One planner per served model, the devices' pending measurements, and the rounds."""

    def __init__(
        self, models: Sequence[ServedModel], policy: str, *, seed: int, publish: PublishCut
    ) -> None:
        check_fixed_cut(policy, models)
        self._policy = policy
        self._seed = seed
        self.planners = {m.model_id: self._planner_for(m) for m in models}
        self.planner_lock = threading.Lock()  # the planners are not thread-safe
        self.wakeup = threading.Event()
        self._publish = publish
        self._lock = threading.Lock()  # the pending entries
        self._pending: dict[str, PendingObservations] = {}

    def _planner_for(self, m: ServedModel) -> Planner:
        # Candidates are exactly the cuts both sides can run; device-only needs no split.
        allowed = (*(cut.splittable for cut in m.graph.cuts[: m.num_ops]), True)
        space = SplitSpace(
            num_ops=m.num_ops,
            crossing_bytes=(*m.crossing_bytes[:-1], 0),
            result_bytes=m.result_bytes,
            allowed=allowed,
        )
        return Planner(space, self._policy, seed=self._seed)

    def add_model(self, model: ServedModel) -> None:
        """A planner for a model deployed while serving (its devices start from no history:
        every cut of the new version is profiled afresh)."""
        check_fixed_cut(self._policy, [model])
        planner = self._planner_for(model)
        with self.planner_lock:
            self.planners[model.model_id] = planner

    def drop_model(self, model_id: str) -> None:
        """The planner of a retired version."""
        with self.planner_lock:
            self.planners.pop(model_id, None)

    def first_decision(
        self,
        device_id: str,
        model: ServedModel,
        op_seconds: Sequence[float],
        now_s: float,
        *,
        transport: str = "",
    ) -> tuple[int, bool]:
        """A registering device's cut and whether it is a probe, decided at once from the
        profile it sent (with the link estimates of the ``transport`` it registered over)."""
        planner = self.planners[model.model_id]
        observed = Round(device_ops=dict(enumerate(op_seconds[: model.num_ops])))
        observed.transport = transport
        with self.planner_lock:
            return self._feed(planner, device_id, model, now_s, observed)

    def post(
        self,
        device_id: str,
        model: ServedModel,
        now_s: float,
        *,
        device_op_seconds: Iterable[Sequence[float]] = (),
        head: tuple[int, float] | None = None,
        edge_ops: dict[int, float] | None = None,
        edge_wait_s: float | None = None,
        transfer: TransferSample | None = None,
        latencies: Iterable[tuple[int, float]] = (),
        inferences: int = 0,
        outage: bool = False,
        transport: str = "",
        transfer_transport: str | None = None,
    ) -> None:
        """Leave measurements for the next planner round. ``device_op_seconds`` lists the
        per-op timings of one message's records; each op gets their median
        (:func:`~sciot.planner.batch_op_seconds`), and a later message's timing of an op
        replaces it; ``head`` is a head's total time when no per-op timing came (the newest
        wins); only the newest
        :data:`MAX_PENDING_TRANSFERS` transfer samples and :data:`MAX_PENDING_LATENCIES`
        latencies are kept (and as many waits). ``inferences`` is how many inferences the
        measurements cover; ``edge_wait_s`` is how long the request waited for the executor.

        ``transport`` is the one the measurements came over; ``transfer_transport`` the one
        the ``transfer`` sample measured (the device's previous exchange; default: the same).
        """
        with self._lock:
            pending = self._pending.get(device_id)
            if pending is None or pending.model is not model:
                pending = self._pending[device_id] = PendingObservations(model=model)
            timed = [s[: model.num_ops] for s in device_op_seconds]
            pending.device_ops.update(batch_op_seconds(timed))
            if head is not None:
                pending.head = head
            if edge_ops:
                pending.edge_ops = edge_ops
            if edge_wait_s is not None:
                pending.edge_waits.append(edge_wait_s)
                del pending.edge_waits[:-MAX_PENDING_LATENCIES]
            if transfer is not None:
                if len(pending.transfers) >= MAX_PENDING_TRANSFERS:
                    del pending.transfers[0]
                went_over = transport if transfer_transport is None else transfer_transport
                pending.transfers.append((transfer, went_over))
            pending.latencies.extend(latencies)
            del pending.latencies[:-MAX_PENDING_LATENCIES]
            pending.inferences += inferences
            if outage:
                pending.outages += 1
            pending.transport = transport
            pending.now_s = now_s
        self.wakeup.set()

    def plan_pending(self) -> int:
        """Feed every device's pending measurements to its planner and publish the next cut;
        returns how many devices were planned."""
        with self._lock:
            work, self._pending = self._pending, {}
        for device_id, pending in work.items():
            # The work is already swapped out: one device's failure must not lose the others'.
            self._plan_one(device_id, pending)
        return len(work)

    def plan_now(self, device_id: str) -> int | None:
        """Run ``device_id``'s pending round at once and publish its cut (None: nothing was
        pending, or the round failed).

        For a device-only report, whose acknowledgement is the only message that can move
        the device off device-only: acking with the cut the round *before* chose would keep
        it local one more report interval (~0.5 s) after the planner decided to leave. One
        round per report interval per such device keeps this off the hot path's budget.
        """
        with self._lock:
            pending = self._pending.pop(device_id, None)
        return None if pending is None else self._plan_one(device_id, pending)

    def _plan_one(self, device_id: str, pending: PendingObservations) -> int | None:
        """Feed one device's round and publish its cut; None when that fails (a bug for this
        device only: it is logged, and the others' rounds and the device's ack go on)."""
        try:
            planner = self.planners[pending.model.model_id]
            observed = pending.as_round()
            with self.planner_lock:
                cut, probe = self._feed(planner, device_id, pending.model, pending.now_s, observed)
            self._publish(device_id, cut, probe)
        except Exception:
            log.exception("planner round failed for %s; its measurements are skipped", device_id)
            return None
        return cut

    def forget(self, device_ids: Iterable[str]) -> None:
        """Drop evicted devices' pending measurements and planner state."""
        ids = list(device_ids)
        if not ids:
            return
        with self._lock:
            for device_id in ids:
                self._pending.pop(device_id, None)
        with self.planner_lock:
            for planner in self.planners.values():
                for device_id in ids:
                    planner.forget(device_id)

    @staticmethod
    def _feed(
        planner: Planner, device_id: str, model: ServedModel, now_s: float, observed: Round
    ) -> tuple[int, bool]:
        """The planner's cut after ``observed`` and whether it is a probe: measurements it
        refuses are logged and skipped (it still decides), and a planner that cannot decide
        keeps the device edge-only."""
        try:
            decision = feed_round(planner, device_id, now_s, observed)
        except PlannerError as exc:
            log.warning("planner refused measurements of %s: %s", device_id, exc)
            try:
                decision = planner.decide(device_id, now_s)
            except PlannerError as again:
                log.warning("planner failed for %s, keeping edge-only: %s", device_id, again)
                return 0, False
        return min(max(decision.cut, 0), model.num_ops), decision.probe


class Plannable(Protocol):
    """What :class:`PlannerWorker` drives: a wake-up event and a planning round."""

    @property
    def wakeup(self) -> threading.Event: ...

    def plan_pending(self) -> int: ...


class PlannerWorker:
    """Runs :meth:`PlannerMailbox.plan_pending` in a thread, using at most ``busy_fraction``
    of it.

    After each round that took ``t`` seconds it rests ``t * (1 / busy_fraction - 1)``, and at
    least until ``min_round_s`` has passed since the round began, so the planner never takes
    more than its share of the CPU from the request path; measurements arriving meanwhile are
    merged into the next round. ``source`` is anything with a mailbox's ``wakeup`` and
    ``plan_pending`` (the mailbox itself, or the :class:`~sciot.edge.EdgeCore` holding it).
    """

    def __init__(
        self, source: Plannable, *, busy_fraction: float = 0.2, min_round_s: float = 0.05
    ) -> None:
        self._source = source
        self._rest_factor = 1.0 / busy_fraction - 1.0
        self._min_round_s = min_round_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sciot-planner", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        source = self._source
        while not self._stop.is_set():
            source.wakeup.wait(0.2)
            source.wakeup.clear()
            started = time.perf_counter()
            try:
                planned = source.plan_pending()
            except Exception:  # keep planning for the others; a bug is logged, not fatal
                log.exception("planner round failed")
                planned = 0
            if planned:
                took = time.perf_counter() - started
                self._stop.wait(max(took * self._rest_factor, self._min_round_s - took))

    def stop(self) -> None:
        self._stop.set()
        self._source.wakeup.set()
        if self._thread.is_alive():
            self._thread.join(5.0)


__all__ = [
    "MAX_PENDING_LATENCIES",
    "MAX_PENDING_TRANSFERS",
    "PendingObservations",
    "Plannable",
    "PlannerMailbox",
    "PlannerWorker",
]
