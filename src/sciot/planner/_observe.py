"""What the edge's planner learns from a device, and when: the production observation channel.

A deployed planner does not see every op of every request. It learns, per device:

- per-op device times only when the device profiled the head: the first time it uses a cut,
  whenever it runs a cut as a probe, then on a sampled ``profile_fraction`` of requests
  (profiling op by op costs time); on the other requests the head's total time, which every
  request carries, spread over the head's ops by the planner's own per-op estimates
  (:func:`spread_head_s`), so a device that slows down as a whole is seen on every request;
- one measured tail time per offloaded request, spread over the tail's ops by the edge's
  startup profile (:func:`spread_tail_s`); a wait for the executor is inside that time;
- the network time of an exchange only with the device's *next* message, which carries it;
- device-only inferences in batches (every ``report_every`` inferences or ``report_interval_s``
  after the oldest), whose acknowledgement carries the cut planned with the batch (the edge
  runs that device's round before it acks);
- and it decides once per planner round, after the round's observations; an inference reply
  carries the cut published by the round before, so a decision reaches an offloading device
  one exchange late, except the reply to the request that ran the published probe, for which
  the edge runs the round first (:func:`ran_probe`); a device told device-only in a reply
  reports its first device-only inference at once (:func:`went_local`);
- a probe told to a device-only device goes alongside its next inference, which it runs
  whole and op by op (:func:`runs_alongside`): the probe's reply is planned with at once,
  the head's op times come with the inference's own record.

:func:`feed_round` is the one code path that hands a round's observations to a
:class:`~sciot.planner.Planner` and takes its decision; the edge's planner worker and the
simulator's :class:`ObservationChannel` both go through it, so live and virtual runs teach the
planner the same things in the same order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from sciot.errors import PlannerError
from sciot.planner._decision import Decision
from sciot.planner._planner import Planner

REPORT_EVERY = 64
REPORT_INTERVAL_S = 0.5
PROFILE_FRACTION = 0.05
MOVED_RATIO = 3.0
MOVED_MIN_S = 0.005


def round_trip_moved(before_s: float | None, now_s: float) -> bool:
    """Whether a device-only report's round trip sped up enough that the edge should hear of
    it now, not one report interval later: at least ``MOVED_RATIO`` times faster than the
    report before, and by at least ``MOVED_MIN_S`` (small round trips jitter by more than a
    factor on their own). A report's network time reaches the edge only with the next report,
    so a link that recovered while the device ran alone is seen that much sooner; a slower
    link can wait, the device is local already. The device client and the simulated channel
    both send their next report at once then."""
    if before_s is None or not (before_s > 0 and now_s > 0):
        return False
    return before_s >= MOVED_RATIO * now_s and before_s - now_s >= MOVED_MIN_S


def went_local(before_cut: int, cut: int, num_ops: int) -> bool:
    """Whether a device that ran ``before_cut`` and is told ``cut`` in the reply should
    report its first device-only inference at once: it was split and is now device-only.

    A device-only device hears the planner only in report acks. Waiting a report interval
    (0.5 s, ~12 requests of a 43 ms model) makes a one-shot probe of device-only (a stale
    device estimate re-measured while offloading) cost a dozen device-only inferences
    instead of one; a real move to device-only costs one extra small report. The device
    client and the simulated channel both apply this."""
    return cut == num_ops and before_cut != num_ops


def ran_probe(published_cut: int, published_probe: bool, cut: int) -> bool:
    """Whether a request at ``cut`` ran the probe last published (so the reply to it should
    carry a decision made with its measurements).

    A decision stays published until the next planner round, and an inference reply
    carries the one published by the round before. A device-only device hears a decision
    only in a report's ack, so a probe it heard there would reach it a second time in its
    probe's reply, at a probe's price (a 110 kB input over a cellular uplink, ~150 ms). The
    edge runs the device's round before replying instead, as it does for a report: the
    reply then carries a decision fed with the probe's head and tail times (its network
    time comes with the next message, as always). The edge and the simulated channel
    both decide by this."""
    return published_probe and cut == published_cut


def runs_alongside(running_cut: int, cut: int, probe: bool, num_ops: int) -> bool:
    """Whether a device running ``running_cut``, told ``cut``, should run it as a probe
    *alongside* its own inference instead of in its place: a probe of a split cut told to a
    device-only device.

    Such a device computes the whole model anyway. It runs its next inference op by op, as a
    profiled one, keeps its own result, and sends the crossing tensors of ``cut`` (which the
    op-by-op run leaves in hand) to the edge for their tail as a measurement only. The edge
    learns the cut's head, transfer and tail times as from any probe, and the inference costs
    what device-only costs: where device-only is the best cut (a cellular uplink), the probes
    that keep watch on the link were the whole of the adaptive policy's loss to device-only
    (up to 0.4 ms a request on the shared traces). The reply carries the next cut as usual.
    The device client and the simulated channel both decide by this."""
    return probe and running_cut == num_ops and 0 <= cut < num_ops


def spread_tail_s(profile_s: Sequence[float], cut: int, tail_s: float) -> dict[int, float]:
    """One measured tail time spread over ops ``[cut, N)`` by their profiled shares."""
    n = len(profile_s)
    profiled = float(sum(profile_s[cut:]))
    if cut >= n or profiled <= 0.0:
        return {}
    scale = tail_s / profiled
    return {op: float(profile_s[op]) * scale for op in range(cut, n)}


def batch_op_seconds(records: Iterable[Sequence[float]]) -> dict[int, float]:
    """One per-op timing from a batch of inferences timed op by op: each op's median over
    the records that timed it (an empty record timed none). A batch feeds one planner round;
    its newest record alone would be one draw, and a cold start's first report would set
    every op from it (a run slowed by stragglers put device-only at 63 ms instead of 42,
    and the device held a worse cut for 20 s before that op was re-measured)."""
    timed: dict[int, list[float]] = {}
    for record in records:
        for op, seconds in enumerate(record):
            timed.setdefault(op, []).append(float(seconds))
    return {op: float(np.median(values)) for op, values in timed.items()}


def spread_head_s(shares_s: Iterable[float], cut: int, head_s: float) -> dict[int, float]:
    """A head's total time spread over ops ``[0, cut)`` by the current per-op estimates
    (``shares_s``); nothing when an op of the head has no estimate yet."""
    shares = [float(s) for s, _op in zip(shares_s, range(cut), strict=False)]
    total = sum(shares)
    if cut <= 0 or len(shares) < cut or not total > 0 or min(shares) <= 0:
        return {}
    scale = head_s / total
    return {op: s * scale for op, s in enumerate(shares)}


@dataclass(frozen=True, slots=True)
class Transfer:
    """One exchange's bytes and network time, as the device reports it (``transport``: the
    link it went over, when the device uses more than one; ``None``: the current one)."""

    uplink_bytes: int
    downlink_bytes: int
    seconds: float
    transport: str | None = None


@dataclass(slots=True)
class Round:
    """The observations one planner round feeds, in the order it feeds them."""

    device_ops: dict[int, float] = field(default_factory=dict)
    head: tuple[int, float] | None = None  # (cut, total head seconds) when not profiled
    edge_ops: dict[int, float] = field(default_factory=dict)
    edge_waits: list[float] = field(default_factory=list)  # per request, for the executor
    transfers: list[Transfer] = field(default_factory=list)
    latencies: list[tuple[int, float]] = field(default_factory=list)
    outage: bool = False
    inferences: int = 1  # how many inferences the round's observations cover
    transport: str | None = None  # the one the round's message came over, when told


def feed_round(planner: Planner, device_id: str, now_s: float, observed: Round) -> Decision:
    """Feed one round's observations to ``planner`` and return its decision for the device."""
    if observed.device_ops:
        planner.observe_device_ops(device_id, observed.device_ops, now_s)
    elif observed.head is not None:
        cut, head_s = observed.head
        spread = spread_head_s(planner.state(device_id).device.mean_s, cut, head_s)
        if spread:
            planner.observe_device_ops(device_id, spread, now_s)
    if observed.edge_ops:
        planner.observe_edge_ops(device_id, observed.edge_ops, now_s)
    for wait_s in observed.edge_waits:
        planner.observe_edge_wait(device_id, wait_s)
    for t in observed.transfers:
        planner.observe_transfer(
            device_id,
            uplink_bytes=t.uplink_bytes,
            downlink_bytes=t.downlink_bytes,
            seconds=t.seconds,
            now_s=now_s,
            transport=t.transport,
        )
    if observed.transport is not None:  # the decision goes out over this one
        planner.use_transport(device_id, observed.transport)
    for cut, seconds in observed.latencies:
        planner.observe_latency(device_id, cut, seconds, now_s)
    if observed.outage:
        # After the transfers: the outage is the newest news about the link.
        planner.observe_failure(device_id, now_s)
    else:
        # The round's message got through: an outage's backoff is over now, not when the
        # next message brings this one's transfer time (a device-only device would stay
        # local one report interval more, ~15 requests, after the edge came back).
        planner.observe_reachable(device_id)
    if observed.inferences > 1:  # a batch: probing gaps count inferences, not rounds
        planner.count_inferences(device_id, observed.inferences - 1)
    return planner.decide(device_id, now_s)


class ObservationChannel:
    """One device and the edge, as the planner sees them: what it learns, and when.

    The caller (a simulator) tells the channel what really happened; the channel decides what
    reaches the planner and which decision the device acts on next (:attr:`decision`).
    """

    def __init__(
        self,
        planner: Planner,
        device_id: str,
        *,
        tail_profile_s: Sequence[float],
        rng: np.random.Generator,
        profile_fraction: float = PROFILE_FRACTION,
        report_every: int = REPORT_EVERY,
        report_interval_s: float = REPORT_INTERVAL_S,
    ) -> None:
        if len(tail_profile_s) != planner.space.num_ops:
            raise PlannerError(
                f"the startup profile has {len(tail_profile_s)} ops, the model "
                f"{planner.space.num_ops}"
            )
        if not 0 <= profile_fraction <= 1 or report_every < 1 or not report_interval_s > 0:
            raise PlannerError("profile_fraction in [0, 1], report_every >= 1, interval > 0")
        self.planner = planner
        self.device_id = device_id
        self.profile_s = tuple(float(s) for s in tail_profile_s)
        self.rng = rng
        self.profile_fraction = profile_fraction
        self.report_every = report_every
        self.report_interval_s = report_interval_s
        self.num_ops = planner.space.num_ops
        self._profiled: set[int] = set()
        self._last_transfer: Transfer | None = None
        self._last_latency: tuple[int, float] | None = None
        self._batch = Round()
        self._batch_timed: list[list[float]] = []  # the batch's records timed op by op
        self._batch_count = 0
        self._batch_first_s = 0.0
        self._last_report_s: float | None = None
        self._hurry = False
        self.published: Decision | None = None
        self.decision: Decision | None = None
        self.alongside: int | None = None
        """A probe to run alongside the next device-only inference (:func:`runs_alongside`)."""
        self._alongside_out = False
        self.rounds = 0

    @property
    def cut(self) -> int:
        """The cut the device uses for its next inference."""
        if self.decision is None:
            raise PlannerError(f"device {self.device_id} has not registered")
        return self.decision.cut

    def register(self, now_s: float) -> Decision:
        """The device registers: the planner's first decision is its first cut."""
        self.published = self.decision = decision = self.planner.decide(self.device_id, now_s)
        self.rounds += 1
        # The device starts at device-only: a probe goes with its first inference.
        self._hold_probe(replace(decision, cut=self.num_ops, probe=False))
        return self.decision

    def _profiles(self, cut: int, running: Decision | None) -> bool:
        """Whether the device ran the head at ``cut`` op by op: the first time it uses the
        cut, whenever it runs the cut as a probe, and on a sampled fraction of the rest. A
        probe is there to measure: an unprofiled head's total, spread over its ops by the
        planner's own estimates, keeps their shares as they were, so an op over-estimated by
        a noisy sample would be re-measured at the same value for good."""
        if cut == 0:
            return False
        if running is not None and running.probe and running.cut == cut:
            return True
        if cut not in self._profiled:
            self._profiled.add(cut)
            return True
        return bool(self.rng.random() < self.profile_fraction)

    def _carried(self, observed: Round) -> None:
        """What the device's message carries about its previous exchange."""
        if self._last_transfer is not None:
            observed.transfers.append(self._last_transfer)
            self._last_transfer = None
        if self._last_latency is not None:
            observed.latencies.append(self._last_latency)
            self._last_latency = None

    def _round(self, now_s: float, observed: Round) -> None:
        self.published = feed_round(self.planner, self.device_id, now_s, observed)
        self.rounds += 1

    def offloaded(
        self,
        *,
        cut: int,
        done_s: float,
        device_op_s: Iterable[float],
        tail_s: float,
        transfer: Transfer,
        device_s: float,
        wait_s: float = 0.0,
        alongside: bool = False,
    ) -> None:
        """An offloaded request finished; its reply carried the cut the last round chose.
        ``tail_s`` is the tail's run time, ``wait_s`` its wait for the edge's executor.
        ``alongside``: a probe run alongside a device-only inference, whose op times reach
        the edge with that inference's record in the batch (not twice)."""
        observed, running = Round(), self.decision
        if alongside:
            self._alongside_out = False
        elif self._profiles(cut, running):
            observed.device_ops = {op: float(s) for op, s in enumerate(device_op_s)}
        elif cut > 0:
            observed.head = (cut, device_s)
        observed.edge_ops = spread_tail_s(self.profile_s, cut, tail_s)
        observed.edge_waits.append(wait_s)
        self._carried(observed)
        published = self.published
        if published is not None and ran_probe(published.cut, published.probe, cut):
            self._round(done_s, observed)
            self.decision = self.published
        else:
            self.decision = published
            self._round(done_s, observed)
        if alongside:
            self._hold_probe(running)
        # Told device-only: the next device-only inference reports at once, carrying this
        # exchange's network time, which this reply's decision was made without.
        if self.decision is not None and went_local(cut, self.decision.cut, self.num_ops):
            self._hurry = True
        self._last_transfer = transfer
        self._last_latency = (cut, device_s + tail_s + wait_s + transfer.seconds)

    def take_alongside(self, running_cut: int) -> int | None:
        """The probe to send with the inference the device starts now at ``running_cut``:
        only a device-only one sends it (then :meth:`sent_alongside`); any other drops it,
        as moot."""
        cut, self.alongside = self.alongside, None
        return cut if running_cut == self.num_ops else None

    def sent_alongside(self) -> None:
        """The probe went out: no other until its reply (or its failure) is in."""
        self._alongside_out = True

    def _hold_probe(self, before: Decision | None) -> None:
        """A device-only device told a probe keeps running device-only and sends the probe
        alongside its next inference (one at a time)."""
        decision = self.decision
        if decision is None or before is None:
            return
        if runs_alongside(before.cut, decision.cut, decision.probe, self.num_ops):
            if not self._alongside_out:
                self.alongside = decision.cut
            self.decision = before

    def device_only(
        self, *, started_s: float, device_op_s: Iterable[float], profiled: bool = False
    ) -> bool:
        """A device-only inference finished; True when its batch report is due.
        ``profiled``: it ran op by op (one that sent a probe alongside)."""
        ops = [float(s) for s in device_op_s]
        if self._batch_count == 0:
            self._batch_first_s = started_s
        self._batch_count += 1
        if profiled or self._profiles(self.num_ops, self.decision):
            self._batch_timed.append(ops)
            self._batch.head = None
        elif not self._batch_timed:
            self._batch.head = (self.num_ops, sum(ops))  # the newest record's total
        self._batch.latencies.append((self.num_ops, sum(ops)))
        return self.report_due(started_s + sum(ops))

    @property
    def batched(self) -> int:
        """Device-only inferences waiting for the next report."""
        return self._batch_count

    def report_due(self, now_s: float) -> bool:
        return self._batch_count > 0 and (
            self._hurry
            or self._batch_count >= self.report_every
            or now_s - self._batch_first_s >= self.report_interval_s
        )

    def report(
        self,
        *,
        now_s: float,
        transfer: Transfer,
        edge_tail_s: float | None = None,
        edge_wait_s: float | None = None,
    ) -> None:
        """The batch report was sent at ``now_s`` and acknowledged; the ack carries the cut
        planned *with* the batch (the edge runs the device's round before acking).

        A device-only device hears a decision only in an ack, once per report interval; an
        ack carrying the round before's cut would keep it local one interval more after the
        planner has decided to leave (an edge that recovered would wait ~1 s, ~25 requests).

        ``edge_tail_s``: the edge's own newest timing of its whole tail (from any device's
        request), spread by the startup profile, and ``edge_wait_s`` that request's wait for
        the executor. They keep the edge side fresh while this device avoids the edge, so
        an overload's end is seen at the next report instead of when the estimate turns
        stale.
        """
        observed, self._batch = self._batch, Round()
        observed.inferences, self._batch_count = self._batch_count, 0
        observed.device_ops = batch_op_seconds(self._batch_timed)
        self._batch_timed = []
        self._hurry = round_trip_moved(self._last_report_s, transfer.seconds)
        self._last_report_s = transfer.seconds
        if edge_tail_s is not None:
            observed.edge_ops = spread_tail_s(self.profile_s, 0, edge_tail_s)
        if edge_wait_s is not None:
            observed.edge_waits.append(edge_wait_s)
        self._carried(observed)
        self._round(now_s + transfer.seconds, observed)
        before, self.decision = self.decision, self.published
        self._hold_probe(before)
        self._last_transfer = transfer

    def failed(self, *, now_s: float, censored: Transfer | None = None) -> None:
        """No reply within the timeout: the device runs locally and the planner hears of it.

        ``censored`` is what was sent and the timeout waited: a transfer that took at least
        that long. The planner gets it as a sample at the bound, so a cut whose tensor cannot
        cross the link in time stops looking worth a probe (a timed-out probe that taught
        nothing would be repeated after every backoff).
        """
        self._last_transfer = self._last_latency = None
        self._alongside_out = False
        observed = Round(outage=True)
        if censored is not None and censored.uplink_bytes > 0:
            observed.transfers.append(censored)
        self._round(now_s, observed)
        before, self.decision = self.decision, self.published
        self._hold_probe(before)


__all__ = [
    "MOVED_MIN_S",
    "MOVED_RATIO",
    "PROFILE_FRACTION",
    "REPORT_EVERY",
    "REPORT_INTERVAL_S",
    "ObservationChannel",
    "Round",
    "Transfer",
    "batch_op_seconds",
    "feed_round",
    "ran_probe",
    "round_trip_moved",
    "runs_alongside",
    "spread_head_s",
    "spread_tail_s",
    "went_local",
]
