"""A simulated device-edge system with known true costs, on a virtual clock.

The environment is what the planner cannot see: the true mean time of every op on the device
and on the edge (with noise, stragglers, device slow-downs and edge load over time) and the
true link (round trip, bandwidth with steps, jitter, outages). For a request at a cut it draws
what a real device and edge would report (per-op times, the network time of the transfer) and
the request's true latency; :meth:`Environment.expected_latency_s` gives the noise-free
expectation, which the planner's oracle uses. Everything is a pure function of the time and a
seeded ``numpy.random.Generator``, so a run is reproducible and takes microseconds per request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from sciot.delays import DelaySpec
from sciot.errors import ConfigError
from sciot.planner import Planner, SplitSpace

FloatArray = npt.NDArray[np.float64]


@runtime_checkable
class NetworkEmulator(Protocol):
    """The seam between a network model and whoever moves bytes (a simulator or a transport).

    ``delay_s`` is the network time of one request carrying ``payload_bytes`` (both ways) sent
    at ``now_s``; ``is_down`` says whether the link is in an outage then.
    """

    def delay_s(self, payload_bytes: int, now_s: float, rng: np.random.Generator) -> float: ...

    def is_down(self, now_s: float) -> bool: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """A time interval ``[start_s, end_s)`` during which something is multiplied by ``factor``."""

    start_s: float
    end_s: float
    factor: float = 1.0

    def __post_init__(self) -> None:
        if not self.end_s > self.start_s:
            raise ConfigError(f"a window needs end_s > start_s, got {self.start_s}..{self.end_s}")
        if not self.factor > 0:
            raise ConfigError(f"a window's factor must be > 0, got {self.factor}")

    def active(self, now_s: float) -> bool:
        return self.start_s <= now_s < self.end_s


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkStep:
    """From ``at_s`` on, the link has this RTT and/or bandwidth (None keeps the previous)."""

    at_s: float
    rtt_s: float | None = None
    bytes_per_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkModel:
    """In-process network emulation: ``rtt_s + jitter + payload_bytes / bytes_per_s``.

    Bandwidth is a rate, so a big tensor costs more than a small one; steps change the RTT or
    the bandwidth at given times; outages are windows in which nothing gets through.
    """

    rtt_s: float
    bytes_per_s: float
    jitter: DelaySpec = field(default_factory=DelaySpec.zero)
    steps: tuple[LinkStep, ...] = ()
    outages: tuple[Window, ...] = ()

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rtt_s) and self.rtt_s >= 0):
            raise ConfigError(f"rtt_s must be a finite number >= 0, got {self.rtt_s}")
        rates = [self.bytes_per_s] + [s.bytes_per_s for s in self.steps if s.bytes_per_s]
        if any(not r > 0 for r in rates):
            raise ConfigError(f"bandwidth must be > 0 bytes/s, got {rates}")
        object.__setattr__(self, "steps", tuple(sorted(self.steps, key=lambda s: s.at_s)))

    def at(self, now_s: float) -> tuple[float, float]:
        """(rtt_s, bytes_per_s) in force at ``now_s``."""
        rtt_s, rate = self.rtt_s, self.bytes_per_s
        for step in self.steps:
            if step.at_s > now_s:
                break
            rtt_s = step.rtt_s if step.rtt_s is not None else rtt_s
            rate = step.bytes_per_s if step.bytes_per_s is not None else rate
        return rtt_s, rate

    def expected_s(self, payload_bytes: int, now_s: float) -> float:
        rtt_s, rate = self.at(now_s)
        return rtt_s + self.jitter.expected_s + payload_bytes / rate

    def delay_s(self, payload_bytes: int, now_s: float, rng: np.random.Generator) -> float:
        rtt_s, rate = self.at(now_s)
        return rtt_s + self.jitter.sample(rng) + payload_bytes / rate

    def is_down(self, now_s: float) -> bool:
        return any(w.active(now_s) for w in self.outages)

    def exchange_s(
        self,
        uplink_bytes: int,
        downlink_bytes: int,
        now_s: float,
        edge_s: float,
        rng: np.random.Generator,
    ) -> float:
        """Network time of a request and its reply (a fixed-rate link ignores ``edge_s``)."""
        del edge_s
        return self.delay_s(uplink_bytes + downlink_bytes, now_s, rng)

    def expected_exchange_s(
        self, uplink_bytes: int, downlink_bytes: int, now_s: float, edge_s: float
    ) -> float:
        del edge_s
        return self.expected_s(uplink_bytes + downlink_bytes, now_s)

    def reset(self) -> None:
        """Nothing to empty: a fixed-rate link holds no queue."""


@runtime_checkable
class Link(Protocol):
    """What an environment needs of its link: a fixed-rate :class:`LinkModel` or a
    :class:`~sciot.sim.TraceLink` (whose FIFO queue :meth:`reset` empties)."""

    def exchange_s(
        self,
        uplink_bytes: int,
        downlink_bytes: int,
        now_s: float,
        edge_s: float,
        rng: np.random.Generator,
    ) -> float: ...

    def expected_exchange_s(
        self, uplink_bytes: int, downlink_bytes: int, now_s: float, edge_s: float
    ) -> float: ...

    def delay_s(self, payload_bytes: int, now_s: float, rng: np.random.Generator) -> float: ...

    def is_down(self, now_s: float) -> bool: ...

    def at(self, now_s: float) -> tuple[float, float]: ...

    def reset(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ComputeModel:
    """True per-op times of one side (device or edge) and how they vary.

    Each op's time is its mean times a lognormal noise of mean 1 (``noise_cv``), times
    ``straggler_factor`` with probability ``straggler_prob``, times every active slow-down
    window's factor. ``extra_delay`` is SCIoT's computation delay: one draw per request for
    the whole model, charged to the ops run in proportion to their share of the model's time.
    """

    op_s: tuple[float, ...]
    noise_cv: float = 0.0
    straggler_prob: float = 0.0
    straggler_factor: float = 5.0
    slowdowns: tuple[Window, ...] = ()
    extra_delay: DelaySpec = field(default_factory=DelaySpec.zero)

    def __post_init__(self) -> None:
        ops = tuple(float(x) for x in self.op_s)
        object.__setattr__(self, "op_s", ops)
        if not ops or any(not (math.isfinite(x) and x >= 0) for x in ops):
            raise ConfigError("op_s needs one finite time >= 0 per op")
        if self.noise_cv < 0 or not 0 <= self.straggler_prob <= 1 or self.straggler_factor < 1:
            raise ConfigError(
                "noise_cv must be >= 0, straggler_prob in [0, 1], straggler_factor >= 1"
            )

    def factor(self, now_s: float) -> float:
        f = 1.0
        for window in self.slowdowns:
            if window.active(now_s):
                f *= window.factor
        return f

    def expected_op_s(self, now_s: float) -> FloatArray:
        base = np.asarray(self.op_s) * self.factor(now_s)
        base *= 1 + self.straggler_prob * (self.straggler_factor - 1)
        total = float(np.sum(self.op_s))
        if total > 0 and self.extra_delay.expected_s > 0:
            base += self.extra_delay.expected_s * np.asarray(self.op_s) / total
        return base

    def sample_op_s(
        self, start: int, stop: int, now_s: float, rng: np.random.Generator
    ) -> FloatArray:
        """Draw the times of ops ``[start, stop)`` for one request."""
        count = stop - start
        mean = np.asarray(self.op_s[start:stop]) * self.factor(now_s)
        if count == 0:
            return mean
        if self.noise_cv > 0:
            sigma = math.sqrt(math.log1p(self.noise_cv**2))
            mean = mean * rng.lognormal(-sigma * sigma / 2, sigma, size=count)
        if self.straggler_prob > 0:
            hit = rng.random(count) < self.straggler_prob
            mean = np.where(hit, mean * self.straggler_factor, mean)
        if self.extra_delay.kind != "static" or self.extra_delay.mean_s > 0:
            total = float(np.sum(self.op_s))
            extra = self.extra_delay.sample(rng)
            if total > 0:
                mean = mean + extra * np.asarray(self.op_s[start:stop]) / total
        return mean


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """One simulated request: what was observed and how long it truly took."""

    cut: int
    started_s: float
    latency_s: float
    device_op_s: FloatArray
    edge_op_s: FloatArray
    network_s: float
    uplink_bytes: int
    downlink_bytes: int
    failed: bool
    report_bytes: int
    report_s: float

    @property
    def device_s(self) -> float:
        return float(self.device_op_s.sum())

    @property
    def edge_s(self) -> float:
        return float(self.edge_op_s.sum())


@dataclass(frozen=True, slots=True, kw_only=True)
class Environment:
    """A device, an edge and the link between them, with true costs known to the simulator.

    A device-only request sends a ``report_bytes`` report off the request path (its time is
    observed but not part of the latency). During an outage, or when the reply would take
    ``timeout_s`` or longer, an offloading request waits ``timeout_s`` and then runs the rest
    of the model on the device.
    """

    space: SplitSpace
    device: ComputeModel
    edge: ComputeModel
    link: Link
    report_bytes: int = 256
    timeout_s: float = 0.5

    def __post_init__(self) -> None:
        n = self.space.num_ops
        if len(self.device.op_s) != n or len(self.edge.op_s) != n:
            raise ConfigError(
                f"device and edge need one time per op ({n}), got "
                f"{len(self.device.op_s)} and {len(self.edge.op_s)}"
            )

    def expected_latency_s(self, cut: int, now_s: float, *, device_factor: float = 1.0) -> float:
        """The true mean latency of a request at ``cut`` sent at ``now_s`` (no noise).

        On a trace link the transfer is computed against the link's current queue.
        """
        n = self.space.num_ops
        device = self.device.expected_op_s(now_s) * device_factor
        if cut == n:
            return float(device.sum())
        if self.link.is_down(now_s):
            return float(device.sum()) + self.timeout_s
        edge = self.edge.expected_op_s(now_s)
        head_s, tail_s = float(device[:cut].sum()), float(edge[cut:].sum())
        up = int(self.space.crossing_bytes[cut])
        network = self.link.expected_exchange_s(up, self.space.result_bytes, now_s + head_s, tail_s)
        if network + tail_s >= self.timeout_s:  # the device gives up and finishes alone
            return float(device.sum()) + self.timeout_s
        return head_s + tail_s + network

    def run(
        self,
        cut: int,
        now_s: float,
        rng: np.random.Generator,
        *,
        device_factor: float = 1.0,
        report: bool = True,
    ) -> Outcome:
        """Simulate one request at ``cut`` starting at ``now_s``; ``device_factor`` slows the
        device (thermal throttling known only to the world, not to the planner). With
        ``report=False`` a device-only request sends no report (its caller batches them)."""
        n = self.space.num_ops
        cut = self.space.check_cut(cut)
        device_ops = self.device.sample_op_s(0, cut, now_s, rng) * device_factor
        empty = np.zeros(0)
        if cut == n:
            report_s = self.link.delay_s(self.report_bytes, now_s, rng) if report else 0.0
            return Outcome(
                cut=cut,
                started_s=now_s,
                latency_s=float(device_ops.sum()),
                device_op_s=device_ops,
                edge_op_s=empty,
                network_s=0.0,
                uplink_bytes=0,
                downlink_bytes=0,
                failed=self.link.is_down(now_s),
                report_bytes=self.report_bytes if report else 0,
                report_s=report_s,
            )
        up = int(self.space.crossing_bytes[cut])
        down = self.space.result_bytes
        send_s = now_s + float(device_ops.sum())
        if self.link.is_down(send_s):
            rest = self.device.sample_op_s(cut, n, send_s, rng) * device_factor
            all_ops = np.concatenate((device_ops, rest))
            return Outcome(
                cut=cut,
                started_s=now_s,
                latency_s=float(all_ops.sum()) + self.timeout_s,
                device_op_s=all_ops,
                edge_op_s=empty,
                network_s=0.0,
                uplink_bytes=up,
                downlink_bytes=0,
                failed=True,
                report_bytes=0,
                report_s=0.0,
            )
        edge_ops = self.edge.sample_op_s(cut, n, send_s, rng)
        network_s = self.link.exchange_s(up, down, send_s, float(edge_ops.sum()), rng)
        if network_s + float(edge_ops.sum()) >= self.timeout_s:
            # No reply within the device's timeout (a stall in a traced link, a huge tensor
            # over a slow one): it gives up after timeout_s and runs the rest itself.
            rest = self.device.sample_op_s(cut, n, send_s, rng) * device_factor
            all_ops = np.concatenate((device_ops, rest))
            return Outcome(
                cut=cut,
                started_s=now_s,
                latency_s=float(all_ops.sum()) + self.timeout_s,
                device_op_s=all_ops,
                edge_op_s=empty,
                network_s=0.0,
                uplink_bytes=up,
                downlink_bytes=0,
                failed=True,
                report_bytes=0,
                report_s=0.0,
            )
        return Outcome(
            cut=cut,
            started_s=now_s,
            latency_s=float(device_ops.sum() + edge_ops.sum()) + network_s,
            device_op_s=device_ops,
            edge_op_s=edge_ops,
            network_s=network_s,
            uplink_bytes=up,
            downlink_bytes=down,
            failed=False,
            report_bytes=0,
            report_s=0.0,
        )

    def feed(self, planner: Planner, device_id: str, outcome: Outcome) -> None:
        """Report an outcome to the planner as a real device and edge would, when it ends."""
        done_s = outcome.started_s + outcome.latency_s
        if len(outcome.device_op_s):
            planner.observe_device_ops(device_id, _op_map(0, outcome.device_op_s), done_s)
        if outcome.failed:
            if outcome.uplink_bytes > 0:  # sent, no reply in time: a transfer at least this long
                planner.observe_transfer(
                    device_id,
                    uplink_bytes=outcome.uplink_bytes,
                    downlink_bytes=0,
                    seconds=self.timeout_s,
                    now_s=done_s,
                )
            planner.observe_failure(device_id, done_s)
            return
        if len(outcome.edge_op_s):
            planner.observe_edge_ops(device_id, _op_map(outcome.cut, outcome.edge_op_s), done_s)
        if outcome.cut < self.space.num_ops:
            planner.observe_transfer(
                device_id,
                uplink_bytes=outcome.uplink_bytes,
                downlink_bytes=outcome.downlink_bytes,
                seconds=outcome.network_s,
                now_s=done_s,
            )
        elif outcome.report_s > 0:
            planner.observe_transfer(
                device_id,
                uplink_bytes=outcome.report_bytes,
                downlink_bytes=0,
                seconds=outcome.report_s,
                now_s=done_s,
            )


def _op_map(first: int, seconds: FloatArray) -> dict[int, float]:
    return {first + i: float(s) for i, s in enumerate(seconds)}


__all__ = [
    "ComputeModel",
    "Environment",
    "Link",
    "LinkModel",
    "LinkStep",
    "NetworkEmulator",
    "Outcome",
    "Window",
]
