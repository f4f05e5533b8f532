"""Real link traces (the mahimahi format) and a FIFO bottleneck link that replays them.

A mahimahi trace lists delivery opportunities: one line per 1500-byte packet the link could
carry, the number being the millisecond (since the trace's start) at which it could; a
repeated number is several packets in that millisecond, and the trace loops at its end. A
cellular trace so records a capacity that varies per millisecond, with stalls of hundreds of
milliseconds, which no mean bandwidth describes.

:class:`TraceLink` sends a request's bytes through the uplink trace and the reply through the
downlink trace. A message of ``B`` bytes needs ``ceil(B / 1500)`` opportunities, taken in
order from the first one at or after it reaches the bottleneck: a big tensor waits behind its
own packets. The queue is FIFO and shared by everyone on the link: a message can use an
opportunity only after the previous message's last packet has left, so a second device's
request (or a report sent meanwhile) waits behind the first, and the round trip grows with
the queue. Cross traffic takes a seeded, fixed share of the opportunities (the same share for
every policy of a run). The one-way propagation delay is added each way.

The queue is the only state (:meth:`TraceLink.reset` empties it, a run does so per policy);
:meth:`TraceLink.expected_s` is the same computation against the current queue without
taking its place in it, which the per-request oracle uses.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from sciot.errors import ConfigError
from sciot.sim.environment import Window

PACKET_BYTES = 1500
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Trace:
    """Delivery opportunities of one direction, in ms, sorted, looping every ``period_ms``."""

    name: str
    opportunities_ms: IntArray
    period_ms: int

    @property
    def mean_bytes_per_s(self) -> float:
        return len(self.opportunities_ms) * PACKET_BYTES / (self.period_ms / 1e3)

    def thinned(self, share: float, seed: int) -> Trace:
        """The opportunities left after cross traffic takes ``share`` of them (seeded)."""
        if not 0.0 <= share < 1.0:
            raise ConfigError(f"cross-traffic share must be in [0, 1), got {share}")
        if share == 0.0:
            return self
        keep = np.random.default_rng([seed, 41]).random(len(self.opportunities_ms)) >= share
        if not keep.any():
            raise ConfigError(f"cross traffic {share} leaves trace {self.name} no capacity")
        return Trace(self.name, self.opportunities_ms[keep], self.period_ms)

    def capacity_bytes_per_s(self, start_s: float, window_s: float = 0.1) -> float:
        """Bytes per second the trace offers over ``[start_s, start_s + window_s)``."""
        first = self.index_at(start_s * 1e3)
        last = self.index_at((start_s + window_s) * 1e3)
        return (last - first) * PACKET_BYTES / window_s

    def index_at(self, time_ms: float) -> int:
        """Global index (counting loops) of the first opportunity at or after ``time_ms``."""
        n = len(self.opportunities_ms)
        loops, offset = divmod(max(0.0, time_ms), self.period_ms)
        # An integer needle: a float one would make numpy cast the whole array on every call.
        i = int(np.searchsorted(self.opportunities_ms, math.ceil(offset), side="left"))
        return int(loops) * n + i

    def time_ms(self, index: int) -> float:
        """When opportunity ``index`` (a global index) occurs."""
        loops, i = divmod(index, len(self.opportunities_ms))
        return float(loops * self.period_ms + int(self.opportunities_ms[i]))


def read_trace(path: str | Path) -> Trace:
    """Read a mahimahi trace file; one clear error naming the file and line if it is not one."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read link trace {p}: {exc.strerror or exc}") from exc
    try:
        values = np.array(text.split(), dtype=np.int64)
    except ValueError:
        values = np.zeros(0, dtype=np.int64)
        _raise_bad_line(p, text)
    if not len(values):
        raise ConfigError(f"link trace {p} holds no delivery opportunities")
    if values[0] < 0 or (np.diff(values) < 0).any():
        _raise_bad_line(p, text)
    return Trace(p.name, values, max(int(values[-1]), 1))


def _raise_bad_line(path: Path, text: str) -> None:
    """Name the first line that is not a delivery time, or that goes back in time."""
    previous = 0
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        try:
            value = int(stripped)
        except ValueError:
            raise ConfigError(
                f"link trace {path} line {number}: {stripped[:40]!r} is not a whole number of "
                "milliseconds (mahimahi format: one delivery time per line)"
            ) from None
        if value < previous or value < 0:
            raise ConfigError(
                f"link trace {path} line {number}: times must be >= 0 and never decrease"
            )
        previous = value
    raise ConfigError(f"link trace {path} is not a mahimahi trace")


class TraceLink:
    """A two-way bottleneck link replaying an uplink and a downlink trace (see module doc).

    Speaks the :class:`~sciot.sim.NetworkEmulator` seam (``delay_s``, ``is_down``) so it also
    drives :class:`~sciot.transport.EmulatedTransport` in live runs, plus ``exchange_s`` for
    a request whose reply leaves the edge ``edge_s`` after the request arrived.
    """

    def __init__(
        self,
        uplink: Trace,
        downlink: Trace,
        *,
        one_way_s: float = 0.02,
        cross_traffic: float = 0.0,
        seed: int = 0,
        outages: tuple[Window, ...] = (),
    ) -> None:
        if not (math.isfinite(one_way_s) and one_way_s >= 0):
            raise ConfigError(f"one_way_s must be a finite number >= 0, got {one_way_s}")
        self.uplink = uplink.thinned(cross_traffic, seed)
        self.downlink = downlink.thinned(cross_traffic, seed + 1)
        self.one_way_s = one_way_s
        self.cross_traffic = cross_traffic
        self.outages = outages
        self._free = [0, 0]  # next usable opportunity index, uplink and downlink
        self._lock = threading.Lock()  # live runs: several device threads share one link

    def __repr__(self) -> str:
        return f"TraceLink({self.uplink.name}, {self.downlink.name}, one_way_s={self.one_way_s})"

    def reset(self) -> None:
        """Empty both queues (a fresh run)."""
        self._free = [0, 0]

    def _deliver(self, direction: int, payload_bytes: int, at_s: float, *, commit: bool) -> float:
        """When the last packet of a message entering the queue at ``at_s`` leaves it."""
        if payload_bytes <= 0:
            return at_s
        trace = self.uplink if direction == 0 else self.downlink
        packets = -(-payload_bytes // PACKET_BYTES)
        first = max(trace.index_at(at_s * 1e3), self._free[direction])
        last = first + packets - 1
        if commit:
            self._free[direction] = last + 1
        # An opportunity in millisecond m carries a packet by the end of that millisecond.
        return max(at_s, (trace.time_ms(last) + 1.0) / 1e3)

    def exchange_s(
        self,
        uplink_bytes: int,
        downlink_bytes: int,
        now_s: float,
        edge_s: float = 0.0,
        rng: np.random.Generator | None = None,
    ) -> float:
        """Network time of a request sent at ``now_s`` and its reply (edge time excluded)."""
        del rng  # the trace is the randomness
        return self._exchange(uplink_bytes, downlink_bytes, now_s, edge_s, commit=True)

    def expected_exchange_s(
        self, uplink_bytes: int, downlink_bytes: int, now_s: float, edge_s: float = 0.0
    ) -> float:
        """What :meth:`exchange_s` would give now, without queueing the message."""
        return self._exchange(uplink_bytes, downlink_bytes, now_s, edge_s, commit=False)

    def _exchange(self, up: int, down: int, now_s: float, edge_s: float, *, commit: bool) -> float:
        arrive_s = self._deliver(0, up, now_s, commit=commit) + self.one_way_s
        back_s = self._deliver(1, down, arrive_s + edge_s, commit=commit) + self.one_way_s
        return back_s - now_s - edge_s

    # -- the NetworkEmulator seam (payload counted on the uplink, the reply assumed tiny) --

    def delay_s(self, payload_bytes: int, now_s: float, rng: np.random.Generator) -> float:
        del rng  # the trace is the randomness
        return self.exchange_s(payload_bytes, 0, now_s)

    def expected_s(self, payload_bytes: int, now_s: float) -> float:
        return self.expected_exchange_s(payload_bytes, 0, now_s)

    def is_down(self, now_s: float) -> bool:
        return any(w.active(now_s) for w in self.outages)

    def at(self, now_s: float) -> tuple[float, float]:
        """(round-trip propagation, uplink capacity over the next 100 ms) at ``now_s``."""
        return 2 * self.one_way_s, self.uplink.capacity_bytes_per_s(now_s)


def trace_link(
    uplink: str | Path,
    downlink: str | Path,
    *,
    one_way_s: float = 0.02,
    cross_traffic: float = 0.0,
    seed: int = 0,
    outages: tuple[Window, ...] = (),
) -> TraceLink:
    """A :class:`TraceLink` from two mahimahi trace files."""
    return TraceLink(
        read_trace(uplink),
        read_trace(downlink),
        one_way_s=one_way_s,
        cross_traffic=cross_traffic,
        seed=seed,
        outages=outages,
    )


__all__ = ["PACKET_BYTES", "Trace", "TraceLink", "read_trace", "trace_link"]
