"""The realised world of one run: an environment plus its ground-truth effects and their state.

:class:`~sciot.sim.Environment` draws one request from fixed true costs. A run's world also
has state that requests leave behind -- the shared edge executor's queue (other devices and
the other clients of the scenario), the device's heat, the link's FIFO queue -- and the
effects of :mod:`sciot.sim.effects` that the planner's cost model does not contain. One
:class:`World` is built per policy run (:meth:`World.reset` empties it), so every policy meets
the same world from the same start; :meth:`World.expected_latency_s` is what a request at a
cut would cost now given that state (no noise), which the per-request dynamic oracle uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from sciot.sim.effects import EdgeQueue, Effects, Thermal
from sciot.sim.environment import Environment, LinkModel, Outcome

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class Realised:
    """One request as it happened: the outcome (waits included) and its parts."""

    outcome: Outcome
    queue_s: float
    overhead_s: float
    device_factor: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SentProbe:
    """A probe sent alongside a device-only inference: when its reply came (or the device
    stopped waiting) and what the edge and the link did with it."""

    cut: int
    done_s: float
    tail_s: float
    wait_s: float
    network_s: float
    uplink_bytes: int
    downlink_bytes: int
    failed: bool


class World:
    """Requests of every client of one policy run, in the order they start."""

    def __init__(self, env: Environment, effects: Effects, *, seed: int) -> None:
        self.env = env
        self.effects = effects
        self.seed = seed
        self.reset()

    def reset(self) -> None:
        self.env.link.reset()
        self.edge = EdgeQueue(
            rate_per_s=self.effects.edge_load_per_s,
            service_s=self.effects.edge_load_service_s,
            seed=self.seed,
        )
        self.thermal = Thermal(self.effects)
        self._cross_rng = np.random.default_rng([self.seed, 53])
        self._edge_rng = np.random.default_rng([self.seed, 71])
        self._probe_rng = np.random.default_rng([self.seed, 89])
        self._pending_share: float | None = None

    def _taken(self) -> float:
        """The share of a fixed-rate link other traffic takes during the next request: drawn
        once per request, before it is decided, so the dynamic oracle sees the realised one."""
        if self._pending_share is None:
            self._pending_share = self._draw_share(self._cross_rng)
        return self._pending_share

    def _draw_share(self, rng: np.random.Generator) -> float:
        """The share of the link other traffic takes: uniform in ``[0, 2 * cross_traffic]``,
        capped at 0.95 (what :func:`_mean_cross_factor` averages over)."""
        return min(0.95, float(rng.uniform(0, 2 * self.effects.cross_traffic)))

    def _cross_s(
        self, payload_bytes: int, now_s: float, *, mean: bool = False, share: float | None = None
    ) -> float:
        """Extra time other traffic costs a transfer on a fixed-rate link: this request's
        draw, (``mean``) its expectation over draws, or the given ``share`` of the link."""
        if self.effects.cross_traffic <= 0 or not isinstance(self.env.link, LinkModel):
            return 0.0  # a trace link thins its opportunities instead
        _rtt, rate = self.env.link.at(now_s)
        if mean:
            factor = _mean_cross_factor(self.effects.cross_traffic)
        else:
            factor = 1 / (1 - (self._taken() if share is None else share))
        return payload_bytes / rate * (factor - 1)

    def run(self, cut: int, now_s: float, rng: np.random.Generator) -> Realised:
        env, effects = self.env, self.effects
        self.edge.advance(now_s)
        factor = self.thermal.factor(now_s)
        outcome = env.run(cut, now_s, rng, device_factor=factor, report=False)
        self.thermal.run(now_s, outcome.device_s)
        cross_s = self._cross_s(outcome.uplink_bytes + outcome.downlink_bytes, now_s)
        self._pending_share = None  # the next request meets new traffic
        if outcome.cut == env.space.num_ops or outcome.failed:
            return Realised(outcome=outcome, queue_s=0.0, overhead_s=0.0, device_factor=factor)
        payload = outcome.uplink_bytes + outcome.downlink_bytes
        extra_s = effects.overhead_s(payload) + cross_s
        arrival_s = outcome.started_s + outcome.device_s + outcome.network_s / 2
        wait_s = self.edge.serve(arrival_s, outcome.edge_s)
        outcome = replace(
            outcome,
            latency_s=outcome.latency_s + wait_s + extra_s,
            network_s=outcome.network_s + extra_s,
        )
        return Realised(outcome=outcome, queue_s=wait_s, overhead_s=extra_s, device_factor=factor)

    def probe_alongside(self, cut: int, sent_s: float) -> SentProbe:
        """The crossing tensors of ``cut`` sent at ``sent_s`` for their tail, while the
        device goes on alone: they join the link's queue and the edge's executor like any
        request's, and nothing waits for the reply but the planner. Its draws (the tail's,
        the link's, other traffic's share) come from a generator of its own, so the
        requests' draws stay those every policy meets."""
        rng = self._probe_rng
        env, n = self.env, self.env.space.num_ops
        up, down = int(env.space.crossing_bytes[cut]), env.space.result_bytes
        tail_s = network_s = math.inf
        if not env.link.is_down(sent_s):
            self.edge.advance(sent_s)
            tail_s = float(env.edge.sample_op_s(cut, n, sent_s, rng).sum())
            network_s = env.link.exchange_s(up, down, sent_s, tail_s, rng)
        if network_s + tail_s >= env.timeout_s:  # as a request's: waits come on top
            return SentProbe(
                cut=cut,
                done_s=sent_s + env.timeout_s,
                tail_s=0.0,
                wait_s=0.0,
                network_s=env.timeout_s,
                uplink_bytes=up,
                downlink_bytes=0,
                failed=True,
            )
        share = self._draw_share(rng)
        network_s += self.effects.overhead_s(up + down) + self._cross_s(
            up + down, sent_s, share=share
        )
        wait_s = self.edge.serve(sent_s + network_s / 2, tail_s)
        return SentProbe(
            cut=cut,
            done_s=sent_s + network_s + tail_s + wait_s,
            tail_s=tail_s,
            wait_s=wait_s,
            network_s=network_s,
            uplink_bytes=up,
            downlink_bytes=down,
            failed=False,
        )

    def edge_tail_s(self, now_s: float) -> tuple[float, float]:
        """The edge's own timing of its whole tail (cut 0) now: its executor's run time and
        its queue's wait, as it measures them on the tails it runs for any device.

        The edge needs no device to know this, so the planner hears it even while every
        device avoids the edge (an overload seen only through an offload would be seen
        again only when an estimate turns stale). A generator of its own keeps the
        requests' draws, and so the world every policy meets, unchanged.
        """
        n = self.env.space.num_ops
        self.edge.advance(now_s)
        tail_s = float(self.env.edge.sample_op_s(0, n, now_s, self._edge_rng).sum())
        return tail_s, self.edge.wait_s(now_s)

    def report_s(self, report_bytes: int, now_s: float, rng: np.random.Generator) -> float:
        """Network time of a batched device-only report sent at ``now_s``."""
        extra_s = self.effects.overhead_s(report_bytes) + self._cross_s(report_bytes, now_s)
        return self.env.link.exchange_s(report_bytes, 0, now_s, 0.0, rng) + extra_s

    def expected_latencies_s(self, now_s: float, *, now_only: bool = False) -> FloatArray:
        """What a request at each cut sent now would cost given the world's state, noise aside.

        The link's and the edge's queues are read, not joined: each cut is costed as if it
        were the only request to be sent now. ``now_only`` leaves out what nobody can know when
        the request is decided: this request's draw of other traffic (its mean instead) and
        the other devices' jobs that reach the edge while the request is on its way (the
        queue as it stands now instead).
        """
        env = self.env
        n = env.space.num_ops
        factor = self.thermal.factor(now_s)
        head = np.concatenate(([0.0], np.cumsum(env.device.expected_op_s(now_s) * factor)))
        costs = np.full(n + 1, head[n])
        if env.link.is_down(now_s):
            costs[:n] += env.timeout_s
            return costs
        edge = env.edge.expected_op_s(now_s)
        tail = np.concatenate((np.cumsum(edge[::-1])[::-1], [0.0]))
        down = env.space.result_bytes
        for cut in range(n):
            up = int(env.space.crossing_bytes[cut])
            send_s = now_s + float(head[cut])
            network_s = env.link.expected_exchange_s(up, down, send_s, float(tail[cut]))
            if network_s + float(tail[cut]) >= env.timeout_s:  # timed out: finished alone
                costs[cut] = head[n] + env.timeout_s
                continue
            extra_s = self.effects.overhead_s(up + down) + self._cross_s(
                up + down, now_s, mean=now_only
            )
            arrival_s = send_s + network_s / 2
            wait_s = (
                self.edge.backlog_s(now_s, arrival_s) if now_only else self.edge.wait_s(arrival_s)
            )
            costs[cut] = head[cut] + tail[cut] + network_s + extra_s + wait_s
        return costs

    def expected_latency_s(self, cut: int, now_s: float) -> float:
        return float(self.expected_latencies_s(now_s)[cut])


def _mean_cross_factor(share: float) -> float:
    """The mean of ``1 / (1 - U)`` for the share U other traffic takes, drawn uniform in
    ``[0, 2 * share]`` and capped at 0.95 (as :meth:`World._taken` draws it)."""
    top, cap = 2 * share, 0.95
    if top <= cap:
        return -math.log1p(-top) / top
    return (-math.log1p(-cap) + (top - cap) / (1 - cap)) / top


__all__ = ["Realised", "SentProbe", "World"]
