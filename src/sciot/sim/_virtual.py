"""The virtual loop: the clients of one scenario, one policy and one seed, on a virtual clock.

Clients take turns by start time. Each request is drawn from the run's :class:`World` (true
costs plus the scenario's effects and their state); what the planner then learns goes through
the production :class:`~sciot.planner.ObservationChannel` -- sampled per-op profiles, one
tail time spread by the startup profile, transfers carried by the next message, batched
device-only reports, decisions one exchange late -- the same rules as a deployed edge. The
bounds skip the channel: ``oracle-dynamic`` picks, per request, the cut with the lowest cost
given the realised world now; ``oracle`` holds the best fixed cut in hindsight. The opt-in
``oracle-now`` is no bound but a question: the best cut per request given only the world as
it stands when the request is decided (this request's cross traffic by its mean, the edge's
queue without the jobs still to arrive) -- how far knowing the present takes a policy.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sciot.planner import (
    Decision,
    LinUcbPolicy,
    ObservationChannel,
    Planner,
    Policy,
    Transfer,
    make_policy,
)
from sciot.sim._run_types import InferenceRow, ProgressFn, RunConfig, rounded_row
from sciot.sim.profiles import DeviceProfile
from sciot.sim.scenarios import Scenario
from sciot.sim.world import Realised, SentProbe, World

Decide = Callable[[str, float], tuple[int, bool, float, str]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Coverage:
    """Rows of one policy run and the virtual time they cover without a gap."""

    rows: list[InferenceRow]
    covered_s: float


def make_planner_policy(name: str, seed: int, op_weights: tuple[float, ...]) -> Policy:
    if name == "linucb":
        return LinUcbPolicy(op_weights)
    return make_policy(name, seed=seed)


class VirtualLoop:
    """Clients sharing one edge and one link in one :class:`World`."""

    def __init__(
        self,
        world: World,
        chosen: Scenario,
        config: RunConfig,
        device: DeviceProfile,
        *,
        span_s: float,
        tail_profile_s: tuple[float, ...],
    ) -> None:
        self.world = world
        self.env = world.env
        self.scenario = chosen
        self.config = config
        self.energy = device.energy
        self.span_s = span_s
        self.tail_profile_s = tail_profile_s

    def run_policy(self, policy: str, progress: ProgressFn | None) -> Coverage:
        if policy == "oracle":
            return self._best_fixed(progress)
        if policy == "oracle-dynamic":
            return self.run(policy, self._dynamic_decide, None, progress)
        if policy == "oracle-now":
            return self.run(policy, self._now_decide, None, progress)
        planner = Planner(
            self.env.space,
            make_planner_policy(policy, self.config.seed, self.tail_profile_s),
            seed=self.config.seed,
        )
        return self.run(policy, None, planner, progress)

    def _dynamic_decide(self, client: str, now_s: float) -> tuple[int, bool, float, str]:
        costs = self.world.expected_latencies_s(now_s)
        cut = int(np.argmin(costs))
        return cut, False, float(costs[cut]), "oracle: best cut for this request"

    def _now_decide(self, client: str, now_s: float) -> tuple[int, bool, float, str]:
        costs = self.world.expected_latencies_s(now_s, now_only=True)
        cut = int(np.argmin(costs))
        return cut, False, float(costs[cut]), "oracle: best cut knowable now"

    def run(
        self,
        policy: str,
        decide: Decide | None,
        planner: Planner | None,
        progress: ProgressFn | None,
    ) -> Coverage:
        config, world = self.config, self.world
        world.reset()
        stream = [config.seed, zlib.crc32(self.scenario.name.encode())]
        clients = [f"client-{i}" for i in range(self.scenario.clients)]
        client_index = {c: i for i, c in enumerate(clients)}
        next_start = {c: i * 1e-3 for i, c in enumerate(clients)}
        done = dict.fromkeys(clients, 0)
        channels: dict[str, ObservationChannel] = {}
        if planner is not None:
            for i, c in enumerate(clients):
                channels[c] = ObservationChannel(
                    planner,
                    c,
                    tail_profile_s=self.tail_profile_s,
                    rng=np.random.default_rng([config.seed, 5, i]),
                )
                channels[c].register(next_start[c])
        sent: dict[str, tuple[SentProbe, float]] = {}  # a probe alongside, its head's time
        rows: list[InferenceRow] = []
        wall_start = time.perf_counter()
        capped_s = math.inf
        while True:
            active = [c for c in clients if next_start[c] < self.span_s]
            if not active or time.perf_counter() - wall_start > config.max_wall_s:
                capped_s = min(capped_s, min(next_start.values()))
                break
            client = min(active, key=next_start.__getitem__)
            if done[client] >= config.requests:
                capped_s = min(capped_s, next_start[client])
                break
            now_s = next_start[client]
            alongside: int | None = None
            if decide is not None:
                cut, probe, predicted_s, reason = decide(client, now_s)
            else:
                channel = channels[client]
                if client in sent and sent[client][0].done_s <= now_s:
                    self._replied(channel, *sent.pop(client))
                decision = _decision_of(channel)
                cut, probe = decision.cut, decision.probe
                predicted_s, reason = decision.predicted_s, decision.reason
                alongside = channel.take_alongside(cut)
            # Common random numbers: request i of a client meets the same draws under every
            # policy. One generator for the whole run would hand a request the draws its
            # predecessors left, so one probe more or less (a device-only request draws
            # noise for every op, a split one for its head's) would shift every later draw
            # and make two policies' runs differ by luck as much as by choice.
            rng = np.random.default_rng([*stream, client_index[client], done[client]])
            realised = world.run(cut, now_s, rng)
            along: SentProbe | None = None
            if client in channels:
                channel = channels[client]
                self._observe(channel, realised, rng, profiled=alongside is not None)
                if alongside is not None and not realised.outcome.failed:
                    outcome = realised.outcome
                    along = world.probe_alongside(alongside, now_s + outcome.latency_s)
                    channel.sent_alongside()
                    sent[client] = (along, float(outcome.device_op_s[:alongside].sum()))
                    probe, reason = True, f"probe alongside device-only: cut {alongside}"
            rows.append(
                rounded_row(
                    self._row(
                        policy,
                        client,
                        done[client],
                        realised,
                        probe,
                        predicted_s * 1e3,
                        reason,
                        alongside=along,
                    )
                )
            )
            done[client] += 1
            next_start[client] = now_s + realised.outcome.latency_s + config.think_s
            if progress is not None and done[client] % 100 == 0:
                progress(100, f"{self.scenario.name} / {policy}")
        return Coverage(rows=rows, covered_s=min(capped_s, self.span_s))

    def _replied(self, channel: ObservationChannel, probe: SentProbe, head_s: float) -> None:
        """The reply to a probe sent alongside a device-only inference came (or timed out)."""
        if probe.failed:
            censored = Transfer(probe.uplink_bytes, 0, self.env.timeout_s)
            channel.failed(now_s=probe.done_s, censored=censored)
            return
        channel.offloaded(
            cut=probe.cut,
            done_s=probe.done_s,
            device_op_s=(),
            tail_s=probe.tail_s,
            wait_s=probe.wait_s,
            transfer=Transfer(probe.uplink_bytes, probe.downlink_bytes, probe.network_s),
            device_s=head_s,
            alongside=True,
        )

    def _observe(
        self,
        channel: ObservationChannel,
        realised: Realised,
        rng: np.random.Generator,
        *,
        profiled: bool = False,
    ) -> None:
        outcome = realised.outcome
        done_s = outcome.started_s + outcome.latency_s
        if outcome.failed:
            sent = Transfer(outcome.uplink_bytes, 0, self.env.timeout_s)
            channel.failed(now_s=done_s, censored=sent)
        elif outcome.cut == self.env.space.num_ops:
            if channel.device_only(
                started_s=outcome.started_s, device_op_s=outcome.device_op_s, profiled=profiled
            ):
                self._report(channel, done_s, rng)
        else:
            channel.offloaded(
                cut=outcome.cut,
                done_s=done_s,
                device_op_s=outcome.device_op_s,
                tail_s=outcome.edge_s,
                wait_s=realised.queue_s,
                transfer=Transfer(outcome.uplink_bytes, outcome.downlink_bytes, outcome.network_s),
                device_s=outcome.device_s,
            )

    def _report(self, channel: ObservationChannel, now_s: float, rng: np.random.Generator) -> None:
        """Send the device-only batch, unless the link is down (it stays queued then)."""
        if self.env.link.is_down(now_s):
            return
        report_bytes = self.env.report_bytes * channel.batched
        seconds = self.world.report_s(report_bytes, now_s, rng)
        tail_s, wait_s = self.world.edge_tail_s(now_s + seconds)
        channel.report(
            now_s=now_s,
            transfer=Transfer(report_bytes, 0, max(seconds, 1e-6)),
            edge_tail_s=tail_s,
            edge_wait_s=wait_s,
        )

    def _row(
        self,
        policy: str,
        client: str,
        index: int,
        realised: Realised,
        probe: bool,
        predicted_ms: float,
        reason: str,
        *,
        alongside: SentProbe | None = None,
    ) -> InferenceRow:
        """One request's row; a probe sent ``alongside`` it counts in its bytes and their
        radio energy, not in its time."""
        outcome = realised.outcome
        rtt_s, rate = self.env.link.at(outcome.started_s)
        device_s, edge_s = outcome.device_s, outcome.edge_s
        uplink, downlink = outcome.uplink_bytes, outcome.downlink_bytes
        if alongside is not None:
            uplink += alongside.uplink_bytes
            downlink += alongside.downlink_bytes
        wire_bytes = uplink + downlink + outcome.report_bytes
        energy_j = (
            self.energy.compute_w * device_s
            + self.energy.idle_w * (outcome.latency_s - device_s)
            + self.energy.radio_j_per_byte * wire_bytes
        )
        return InferenceRow(
            scenario=self.scenario.name,
            policy=policy,
            client=client,
            index=index,
            start_s=outcome.started_s,
            cut=outcome.cut,
            probe=probe,
            failed=outcome.failed and outcome.cut < self.env.space.num_ops,
            latency_ms=outcome.latency_s * 1e3,
            device_ms=device_s * 1e3,
            edge_ms=edge_s * 1e3,
            network_ms=outcome.network_s * 1e3,
            queue_ms=realised.queue_s * 1e3,
            predicted_ms=predicted_ms,
            uplink_bytes=uplink,
            downlink_bytes=downlink,
            energy_mj=energy_j * 1e3,
            true_bytes_per_s=rate,
            true_rtt_ms=rtt_s * 1e3,
            reason=reason,
            seed=self.config.seed,
        )

    def _best_fixed(self, progress: ProgressFn | None, candidates: int = 4) -> Coverage:
        """Simulate the few cuts whose true expected latency over the span is lowest, and
        device-only and edge-only; keep the best. The expectation leaves out queues and the
        scenario's effects (cross traffic can make every offload slower than it predicts), so
        the few best by expectation all run, and the extremes always do: the bound is never
        beaten by a fixed baseline."""
        env = self.env
        env.link.reset()
        times_s = np.linspace(0.0, self.span_s, 200, endpoint=False)
        allowed = [cut for cut in range(env.space.num_cuts) if env.space.is_allowed(cut)]
        expected = [
            float(np.mean([env.expected_latency_s(cut, t) for t in times_s])) for cut in allowed
        ]
        ranked = [allowed[i] for i in np.argsort(expected)[:candidates]]
        extremes = [cut for cut in (env.space.num_ops, 0) if cut in allowed and cut not in ranked]
        best: Coverage | None = None
        best_mean = math.inf
        for cut in ranked + extremes:
            run = self.run("oracle", _fixed(cut), None, None)
            mean = float(np.mean([r.latency_ms for r in run.rows])) if run.rows else math.inf
            if best is None or mean < best_mean:
                best, best_mean = run, mean
        assert best is not None
        if progress is not None:
            progress(len(best.rows), f"{self.scenario.name} / oracle")
        return best


def _fixed(cut: int) -> Decide:
    def decide(client: str, now_s: float) -> tuple[int, bool, float, str]:
        return cut, False, math.nan, "best fixed cut in hindsight"

    return decide


def _decision_of(channel: ObservationChannel) -> Decision:
    decision = channel.decision
    assert decision is not None, "registered above"
    return decision


__all__ = ["Coverage", "VirtualLoop", "make_planner_policy"]
