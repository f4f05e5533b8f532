"""A client transport that puts an emulated network between the device and a real edge.

:class:`EmulatedTransport` wraps any :class:`~sciot.transport.ClientTransport` and makes each
exchange cost what the emulated link says it costs: a round-trip delay with jitter plus the
request's and the reply's bytes divided by the link's bandwidth, so a large tensor costs more
than a small one. The real exchange (on loopback, tens of microseconds) happens first; the
emulated delay is then slept before the reply is handed back, so everything that times the
call -- the device client's clock and, through the transfer it reports, the edge's planner --
sees the emulated network. While the link is down (an outage window) or a request is lost
(``loss_probability``), the call behaves like a dead link: it waits its whole timeout and then
raises :class:`~sciot.errors.TransportError`, exactly as a real transport would when its
packets vanish. A delay longer than the timeout also ends in a timeout after ``timeout_s``.

The network model is typed structurally (:class:`LinkEmulator`) so this layer never imports
the simulator; :class:`sciot.sim.LinkModel` is one such model. A model that also has
``exchange_s(request_bytes, reply_bytes, now_s, edge_s, rng)`` (:class:`sciot.sim.TraceLink`,
a real link trace behind a FIFO bottleneck) is asked for the request and the reply apart, so
each crosses its own direction of the link, and its queue sees every exchange in order.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from sciot.errors import ConfigError, TransportError
from sciot.transport._client import ClientTransport


@runtime_checkable
class LinkEmulator(Protocol):
    """A network model: the time one exchange of ``payload_bytes`` (both ways) takes when it
    starts at ``now_s``, and whether the link is down then."""

    def delay_s(self, payload_bytes: int, now_s: float, rng: np.random.Generator) -> float: ...

    def is_down(self, now_s: float) -> bool: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class EmulatedExchange:
    """What the last call through an :class:`EmulatedTransport` cost on the emulated link."""

    started_s: float
    request_bytes: int
    reply_bytes: int
    emulated_delay_s: float
    dropped: bool


class EmulatedTransport:
    """Delegates to ``inner`` after the emulated link's delay, or fails as a dead link would.

    ``clock`` gives the emulator's time axis (seconds; a scenario passes seconds since its
    start so outage windows line up), ``sleep`` waits; both are injectable so tests can run on
    a fake clock. ``rng`` draws the jitter and the losses, so a run is reproducible. Calls are
    serialised, like the transports it wraps.
    """

    def __init__(
        self,
        inner: ClientTransport,
        emulator: LinkEmulator,
        *,
        rng: np.random.Generator,
        loss_probability: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not (math.isfinite(loss_probability) and 0.0 <= loss_probability <= 1.0):
            raise ConfigError(f"loss_probability must be in [0, 1], got {loss_probability}")
        if not isinstance(emulator, LinkEmulator):
            raise ConfigError(
                f"the emulator {emulator!r} needs delay_s(payload_bytes, now_s, rng) and "
                "is_down(now_s)"
            )
        self._inner = inner
        self._emulator = emulator
        self._rng = rng
        self._loss = loss_probability
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self.last_exchange: EmulatedExchange | None = None

    def __repr__(self) -> str:
        return f"EmulatedTransport({self._inner!r}, {self._emulator!r})"

    def request(self, payload: bytes, *, timeout_s: float) -> bytes:
        if not timeout_s > 0:
            raise ConfigError(f"timeout_s must be > 0, got {timeout_s}")
        with self._lock:
            now_s = self._clock()
            if self._emulator.is_down(now_s) or self._lost():
                self._record(now_s, len(payload), 0, timeout_s, dropped=True)
                self._sleep(timeout_s)
                raise TransportError(
                    f"emulated link down at t={now_s:.3f} s: no reply within {timeout_s} s"
                )
            reply = self._inner.request(payload, timeout_s=timeout_s)
            delay_s = self._delay_s(len(payload), len(reply), now_s)
            if not (math.isfinite(delay_s) and delay_s >= 0):
                raise ConfigError(f"the link emulator returned an invalid delay {delay_s!r} s")
            if delay_s >= timeout_s:
                self._record(now_s, len(payload), len(reply), timeout_s, dropped=True)
                self._sleep(timeout_s)
                raise TransportError(
                    f"emulated link too slow: the reply needs {delay_s:.3f} s, "
                    f"more than the {timeout_s} s timeout"
                )
            self._record(now_s, len(payload), len(reply), delay_s, dropped=False)
            self._sleep(delay_s)
            return reply

    def _delay_s(self, request_bytes: int, reply_bytes: int, now_s: float) -> float:
        exchange = getattr(self._emulator, "exchange_s", None)
        if callable(exchange):
            return float(exchange(request_bytes, reply_bytes, now_s, 0.0, self._rng))
        return float(self._emulator.delay_s(request_bytes + reply_bytes, now_s, self._rng))

    def _lost(self) -> bool:
        return self._loss > 0.0 and bool(self._rng.random() < self._loss)

    def _record(
        self, now_s: float, request_bytes: int, reply_bytes: int, delay_s: float, *, dropped: bool
    ) -> None:
        self.last_exchange = EmulatedExchange(
            started_s=now_s,
            request_bytes=request_bytes,
            reply_bytes=reply_bytes,
            emulated_delay_s=delay_s,
            dropped=dropped,
        )

    def close(self) -> None:
        self._inner.close()


__all__ = ["EmulatedExchange", "EmulatedTransport", "LinkEmulator"]
