"""The production observation channel: what the planner learns from a device, and when."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sciot.errors import PlannerError
from sciot.planner import (
    CutCost,
    Decision,
    DeviceState,
    Explanation,
    ObservationChannel,
    Planner,
    Round,
    SplitSpace,
    Transfer,
    batch_op_seconds,
    feed_round,
    ran_probe,
    runs_alongside,
    spread_head_s,
    spread_tail_s,
    went_local,
)

SPACE = SplitSpace(num_ops=4, crossing_bytes=(4000, 3000, 2000, 1000, 0), result_bytes=10)
PROFILE = (1e-3, 2e-3, 3e-3, 4e-3)


def _decision(policy: str, cut: int, *, probe: bool = False, reason: str) -> Decision:
    """A test policy's decision: only the cut, whether it probes, and why."""
    chosen = CutCost(cut=cut, predicted_s=math.nan, cost=math.nan)
    return Decision(
        cut=cut,
        predicted_s=math.nan,
        probe=probe,
        reason=reason,
        explanation=Explanation(policy=policy, chosen=chosen),
    )


class Counting:
    """Cut = how many decisions came before, modulo the cuts: shows when each was made."""

    name = "counting"

    def decide(self, state: DeviceState, now_s: float) -> Decision:
        cut = state.requests % (state.space.num_ops + 1)
        return _decision(self.name, cut, reason="count")


class Holding:
    """Always the same cut; the planner state is what the test reads."""

    name = "holding"

    def __init__(self, cut: int) -> None:
        self.cut = cut

    def decide(self, state: DeviceState, now_s: float) -> Decision:
        return _decision(self.name, self.cut, reason="hold")


class ProbingFirst:
    """Probes ``probe`` on its first decision, then holds ``then_cut``."""

    name = "probing"

    def __init__(self, probe: int, then_cut: int) -> None:
        self.probe, self.then_cut = probe, then_cut

    def decide(self, state: DeviceState, now_s: float) -> Decision:
        first = state.requests == 0
        cut = self.probe if first else self.then_cut
        return _decision(self.name, cut, probe=first, reason="probe" if first else "hold")


def _channel(planner: Planner, fraction: float = 0.0) -> ObservationChannel:
    return ObservationChannel(
        planner,
        "cam",
        tail_profile_s=PROFILE,
        rng=np.random.default_rng(0),
        profile_fraction=fraction,
    )


def _offload(
    channel: ObservationChannel,
    cut: int,
    done_s: float,
    tail_s: float = 0.01,
    *,
    alongside: bool = False,
) -> None:
    """A request at ``cut`` came back (``alongside``: a probe sent beside a device-only
    inference, whose op times travel with that inference's record)."""
    channel.offloaded(
        cut=cut,
        done_s=done_s,
        device_op_s=() if alongside else [0.002] * cut,
        tail_s=tail_s,
        transfer=Transfer(SPACE.crossing_bytes[cut], 10, 0.004 + cut * 1e-3),
        device_s=0.002 * cut,
        alongside=alongside,
    )


def test_tail_time_is_spread_by_the_startup_profile() -> None:
    spread = spread_tail_s(PROFILE, 1, 0.018)
    assert spread == pytest.approx({1: 0.004, 2: 0.006, 3: 0.008})
    assert sum(spread.values()) == pytest.approx(0.018)
    assert spread_tail_s(PROFILE, 4, 0.01) == {}


def test_a_decision_reaches_the_device_one_exchange_late() -> None:
    planner = Planner(SPACE, Counting())
    channel = _channel(planner)
    assert channel.register(0.0).cut == 0
    used = []
    for i in range(4):
        used.append(channel.cut)
        _offload(channel, channel.cut if channel.cut < 4 else 1, done_s=0.1 * (i + 1))
    # The reply to request i carries what the round *before* it decided.
    assert used == [0, 0, 1, 2]
    assert channel.rounds == 5


def test_a_transfer_reaches_the_planner_with_the_next_message() -> None:
    planner = Planner(SPACE, Holding(2))
    channel = _channel(planner)
    channel.register(0.0)
    _offload(channel, 2, done_s=0.1)
    state = planner.state("cam")
    assert state.link.estimate(0.1).samples == 0, "the first exchange's time is not known yet"
    assert state.latency_count == 0
    _offload(channel, 2, done_s=0.2)
    assert state.link.estimate(0.2).samples == 1
    assert state.latencies[-1][0] == 2
    assert state.latencies[-1][1] == pytest.approx(0.004 + 0.01 + 0.006)


def test_edge_times_are_spread_and_device_times_only_when_profiled() -> None:
    planner = Planner(SPACE, Holding(2))
    channel = _channel(planner, fraction=0.0)
    channel.register(0.0)
    state = planner.state("cam")
    _offload(channel, 2, done_s=0.1, tail_s=0.014)
    assert state.device.count[:2].tolist() == [1, 1], "first use of a cut is profiled"
    np.testing.assert_allclose(state.edge.mean_s[2:], [0.006, 0.008])
    for i in range(20):
        _offload(channel, 2, done_s=0.2 + 0.1 * i, tail_s=0.014)
    assert (state.edge.count[2:] > 10).all(), "the tail is measured on every request"
    np.testing.assert_allclose(state.edge.mean_s[2:], [0.006, 0.008])
    # Unprofiled requests still carry the head's total: spread by the current estimates.
    np.testing.assert_allclose(state.device.mean_s[:2], [0.002, 0.002])
    for i in range(30):
        channel.offloaded(
            cut=2,
            done_s=3.0 + 0.1 * i,
            device_op_s=[0.1, 0.1],  # per-op truth the edge never sees unprofiled
            tail_s=0.014,
            transfer=Transfer(2000, 10, 0.006),
            device_s=0.012,  # a device three times slower as a whole
        )
    assert state.device.mean_s[:2] == pytest.approx([0.006, 0.006], rel=0.1)


class ProbingAlways:
    """Every decision is a probe of ``cut``: the channel is what the test reads."""

    name = "probing-always"

    def __init__(self, cut: int) -> None:
        self.cut = cut

    def decide(self, state: DeviceState, now_s: float) -> Decision:
        return _decision(self.name, self.cut, probe=True, reason="probe")


@pytest.mark.parametrize(("policy", "profiled"), [(ProbingAlways(2), True), (Holding(2), False)])
def test_a_head_run_as_a_probe_is_profiled_every_time(policy: object, profiled: bool) -> None:
    # A probe is there to measure: its head's ops reach the planner one by one. Spread by
    # the planner's own estimates, they would keep their shares (0.002 each) for good.
    planner = Planner(SPACE, policy)  # type: ignore[arg-type]
    channel = _channel(planner, fraction=0.0)
    channel.register(0.0)
    state = planner.state("cam")
    _offload(channel, 2, done_s=0.1)  # the first use: profiled either way
    for i in range(40):
        channel.offloaded(
            cut=2,
            done_s=0.2 + 0.1 * i,
            device_op_s=[0.001, 0.003],
            tail_s=0.014,
            transfer=Transfer(2000, 10, 0.006),
            device_s=0.004,
        )
    expected = [0.001, 0.003] if profiled else [0.002, 0.002]
    assert state.device.mean_s[:2] == pytest.approx(expected, rel=0.05)


def test_batch_op_seconds_is_each_ops_median_over_the_timed_records() -> None:
    records = [[1.0, 2.0], [], [9.0, 2.5], [1.5, 2.0, 7.0]]
    assert batch_op_seconds(records) == {0: 1.5, 1: 2.0, 2: 7.0}
    assert batch_op_seconds([]) == {}


def test_a_device_only_batch_reports_each_ops_median() -> None:
    # Every device-only inference of a probe runs op by op; one of them met a straggler in
    # op 0. The report's round feeds the median, so the first estimate is not that draw.
    planner = Planner(SPACE, ProbingAlways(4))
    channel = _channel(planner, fraction=0.0)
    channel.register(0.0)
    for i, op0 in enumerate([0.001, 0.001, 0.009]):
        channel.device_only(started_s=0.01 * i, device_op_s=[op0, 0.002, 0.003, 0.004])
    channel.report(now_s=0.1, transfer=Transfer(300, 10, 0.004))
    assert planner.state("cam").device.mean_s[0] == pytest.approx(0.001)


def test_a_head_is_spread_only_over_known_ops() -> None:
    assert spread_head_s([0.001, 0.003, 0.0], 2, 0.008) == pytest.approx({0: 0.002, 1: 0.006})
    assert spread_head_s([0.001, 0.0], 2, 0.008) == {}, "an op never measured: nothing"
    assert spread_head_s([0.001], 0, 0.008) == {}


def test_device_only_inferences_are_reported_in_batches() -> None:
    planner = Planner(SPACE, Holding(4))
    channel = _channel(planner, fraction=1.0)
    channel.register(0.0)
    state = planner.state("cam")
    due = [channel.device_only(started_s=i * 1e-3, device_op_s=[1e-4] * 4) for i in range(64)]
    assert due == [False] * 63 + [True], "every 64 inferences"
    assert state.latency_count == 0 and not (state.device.count > 0).any()
    channel.report(now_s=0.07, transfer=Transfer(640, 0, 0.003))
    assert state.latency_count == 64 and (state.device.count > 0).all()
    assert state.link.estimate(0.1).samples == 0, "the report's own time comes with the next"
    # A slow trickle is reported after 0.5 s, whatever the count.
    assert not channel.device_only(started_s=1.0, device_op_s=[1e-4] * 4)
    assert channel.device_only(started_s=1.5, device_op_s=[1e-4] * 4)


def test_a_report_ack_carries_the_cut_planned_with_its_batch() -> None:
    """A device-only device hears a decision only in a report's ack: the ack must carry what
    the round fed with that batch decided, not the round before's (one interval later)."""
    planner = Planner(SPACE, Counting())
    channel = _channel(planner)
    assert channel.register(0.0).cut == 0
    for i in range(3):
        channel.device_only(started_s=0.01 * i, device_op_s=[1e-4] * 4)
    channel.report(now_s=0.05, transfer=Transfer(300, 0, 0.002))
    # Register was decision 0 (cut 0); the batch's round is decision 1, plus the two
    # inferences it counted beyond the first: cut (1 + 2) % 5.
    assert channel.rounds == 2
    assert channel.cut == planner.state("cam").requests - 1 == 3


def test_a_probe_runs_once_and_a_move_to_device_only_is_reported_at_once() -> None:
    """A device that heard a probe where no round follows before its reply (a registering
    device, a device-only one hearing decisions in report acks) runs it once: the round
    runs before the probe's reply, which carries its decision, not the probe again; and
    that decision being device-only, the next device-only inference is reported at once,
    not a report interval later. A device starting at device-only sends that probe
    alongside its first inference."""
    n = SPACE.num_ops
    planner = Planner(SPACE, ProbingFirst(2, n))
    channel = _channel(planner)
    start = channel.register(0.0)
    assert start.cut == n and channel.alongside == 2 and channel.published is not None
    assert channel.published.probe
    assert channel.take_alongside(n) == 2
    channel.sent_alongside()
    _offload(channel, 2, done_s=0.1, alongside=True)
    after = channel.decision
    assert after is not None and after.cut == n and not after.probe
    assert planner.state("cam").edge.count[2:].all(), "decided with the probe's tail"
    assert channel.device_only(started_s=0.1, device_op_s=[1e-3] * n), "reported at once"
    channel.report(now_s=0.11, transfer=Transfer(300, 0, 0.002))
    assert not channel.device_only(started_s=0.12, device_op_s=[1e-3] * n), "then batched"
    assert ran_probe(2, True, 2) and not ran_probe(2, True, 3) and not ran_probe(2, False, 2)
    assert went_local(2, 4, 4) and not went_local(4, 4, 4) and not went_local(2, 1, 4)


def test_an_outage_is_heard_and_the_device_runs_locally() -> None:
    planner = Planner(SPACE, "adaptive")
    channel = _channel(planner)
    channel.register(0.0)
    channel.failed(now_s=1.0)
    assert channel.cut == 4
    assert planner.state("cam").down_until_s > 1.0


def test_feed_round_feeds_in_order_and_decides_once() -> None:
    planner = Planner(SPACE, Holding(1))
    observed = Round(
        device_ops={0: 0.001},
        edge_ops={1: 0.002, 2: 0.003, 3: 0.004},
        transfers=[Transfer(3000, 10, 0.005)],
        latencies=[(1, 0.02)],
        outage=True,
    )
    decision = feed_round(planner, "cam", 2.0, observed)
    state = planner.state("cam")
    assert decision.cut == 1 and state.requests == 1
    assert state.link.estimate(2.0).samples == 1 and state.latency_count == 1
    assert state.down_until_s > 2.0, "the outage is the newest news, after the transfer"


def test_channel_refuses_a_profile_of_the_wrong_model() -> None:
    with pytest.raises(PlannerError, match="startup profile"):
        ObservationChannel(
            Planner(SPACE), "cam", tail_profile_s=(1.0,), rng=np.random.default_rng(0)
        )
    with pytest.raises(PlannerError, match="not registered"):
        _ = _channel(Planner(SPACE)).cut


class Scripted:
    """Decisions in order, ``(cut, probe)`` each; the last one repeats."""

    name = "scripted"

    def __init__(self, *plan: tuple[int, bool]) -> None:
        self.plan, self.made = plan, 0

    def decide(self, state: DeviceState, now_s: float) -> Decision:
        cut, probe = self.plan[min(self.made, len(self.plan) - 1)]
        self.made += 1
        return _decision(self.name, cut, probe=probe, reason="scripted")


def test_a_device_only_device_sends_a_probe_alongside_and_stays_local() -> None:
    """A probe heard in a report's ack goes out with the next device-only inference; the
    device keeps running device-only, and the probe's reply is planned with at once, its
    head's op times left to the inference's own record (not fed twice)."""
    n = SPACE.num_ops
    planner = Planner(SPACE, Scripted((n, False), (2, True), (n, False), (1, True)))
    channel = _channel(planner)
    channel.register(0.0)
    channel.device_only(started_s=0.0, device_op_s=[1e-3] * n)
    channel.report(now_s=0.01, transfer=Transfer(300, 0, 0.002))
    assert channel.cut == n and channel.alongside == 2
    assert channel.take_alongside(n) == 2 and channel.alongside is None
    channel.sent_alongside()
    device_samples = planner.state("cam").device.count.copy()
    _offload(channel, 2, done_s=0.05, tail_s=0.004, alongside=True)
    state = planner.state("cam")
    assert channel.cut == n and channel.rounds == 3, "planned with the probe at once"
    assert np.array_equal(state.device.count, device_samples)
    assert state.edge.count[2:].all()
    assert channel.device_only(started_s=0.06, device_op_s=[1e-3] * n), "reported at once"
    channel.report(now_s=0.07, transfer=Transfer(300, 0, 0.002))
    assert channel.alongside == 1
    assert channel.take_alongside(3) is None and channel.alongside is None, "moot off cut N"
    assert runs_alongside(n, 2, True, n) and runs_alongside(n, 0, True, n)
    assert not runs_alongside(n, 2, False, n) and not runs_alongside(3, 2, True, n)
    assert not runs_alongside(n, n, True, n)


def test_one_probe_alongside_at_a_time() -> None:
    n = SPACE.num_ops
    planner = Planner(SPACE, Scripted((n, False), (2, True), (3, True)))
    channel = _channel(planner)
    channel.register(0.0)
    channel.device_only(started_s=0.0, device_op_s=[1e-3] * n)
    channel.report(now_s=0.01, transfer=Transfer(300, 0, 0.002))
    assert channel.take_alongside(n) == 2
    channel.sent_alongside()
    channel.device_only(started_s=0.02, device_op_s=[1e-3] * n)
    channel.report(now_s=0.03, transfer=Transfer(300, 0, 0.002))  # asks for cut 3 meanwhile
    assert channel.cut == n and channel.alongside is None
    channel.failed(now_s=0.3, censored=Transfer(SPACE.crossing_bytes[2], 0, 0.2))
    assert planner.state("cam").down_until_s > 0.3
    assert channel.cut == n and channel.alongside == 3, "the next probe may go out"
