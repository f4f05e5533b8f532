"""Ground truth that departs from the planner's cost model, one named effect at a time.

The planner models a request as device op times + edge op times + round trip + bytes over
bandwidth. The world it is evaluated in adds what that model leaves out, each effect named and
set per scenario (:class:`Effects`):

- ``request_overhead``: a fixed cost per offloaded request (serialisation, HTTP framing and
  the server's request handling) plus a per-byte serialisation cost, paid on top of the link.
- ``edge_load``: other devices' requests arriving (Poisson) at the edge's shared tail executor,
  each holding it for an exponentially distributed time; ours wait their turn (FIFO), and the
  edge's measured tail time includes the wait, as the edge's own timing does.
- ``device_jitter``: extra lognormal op-time noise on the device (on top of the run's base
  noise) -- a device with other work to do.
- ``thermal``: the device heats while it computes and cools while idle (first-order model,
  time constant ``thermal_tau_s``); above ``thermal_onset`` of its full heat it slows down,
  up to ``thermal_max_slowdown`` at full heat. A policy that keeps the device busy throttles
  it; the best cut so depends on the policy's own past.
- ``cross_traffic``: a share of the link's capacity taken by other traffic: on a fixed link a
  random share (mean ``cross_traffic``) per request, on a trace link that share of the
  delivery opportunities.

:class:`EdgeQueue` and :class:`Thermal` hold the state these effects need during one run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sciot.errors import ConfigError

EFFECT_NAMES = ("request_overhead", "edge_load", "device_jitter", "thermal", "cross_traffic")


@dataclass(frozen=True, slots=True, kw_only=True)
class Effects:
    """Which departures from the cost model a scenario's world has (all off by default)."""

    request_overhead_s: float = 0.0
    serialise_s_per_mb: float = 0.0
    edge_load_per_s: float = 0.0
    edge_load_service_s: float = 0.002
    device_jitter_cv: float = 0.0
    thermal_tau_s: float = 0.0
    thermal_onset: float = 0.5
    thermal_max_slowdown: float = 2.0
    cross_traffic: float = 0.0

    def __post_init__(self) -> None:
        checks = {
            "request_overhead_s": self.request_overhead_s >= 0,
            "serialise_s_per_mb": self.serialise_s_per_mb >= 0,
            "edge_load_per_s": self.edge_load_per_s >= 0,
            "edge_load_service_s": self.edge_load_service_s > 0,
            "device_jitter_cv": self.device_jitter_cv >= 0,
            "thermal_tau_s": self.thermal_tau_s >= 0,
            "thermal_onset": 0 <= self.thermal_onset < 1,
            "thermal_max_slowdown": self.thermal_max_slowdown >= 1,
            "cross_traffic": 0 <= self.cross_traffic < 1,
        }
        for name, ok in checks.items():
            value = getattr(self, name)
            if not (ok and math.isfinite(value)):
                raise ConfigError(f"effect {name} = {value} is out of range")

    @property
    def active(self) -> tuple[str, ...]:
        """The names of the effects switched on."""
        on = {
            "request_overhead": self.request_overhead_s > 0 or self.serialise_s_per_mb > 0,
            "edge_load": self.edge_load_per_s > 0,
            "device_jitter": self.device_jitter_cv > 0,
            "thermal": self.thermal_tau_s > 0,
            "cross_traffic": self.cross_traffic > 0,
        }
        return tuple(name for name in EFFECT_NAMES if on[name])

    def overhead_s(self, payload_bytes: int) -> float:
        return self.request_overhead_s + self.serialise_s_per_mb * payload_bytes / 1e6


class EdgeQueue:
    """The edge's shared tail executor: other devices' jobs and ours, first come first served.

    The other devices' arrivals are drawn once per run from ``seed`` (the same for every
    policy), lazily as time advances.
    """

    def __init__(self, *, rate_per_s: float, service_s: float, seed: int) -> None:
        self.rate_per_s = rate_per_s
        self.service_s = service_s
        self._rng = np.random.default_rng([seed, 97])
        self._arrivals = np.zeros(0)
        self._services = np.zeros(0)
        self._next = 0
        self._horizon_s = 0.0
        self.free_s = 0.0

    def _extend(self, until_s: float) -> None:
        while self.rate_per_s > 0 and self._horizon_s <= until_s:
            count = max(64, int(self.rate_per_s * 10))
            gaps = self._rng.exponential(1.0 / self.rate_per_s, count)
            arrivals = self._horizon_s + np.cumsum(gaps)
            self._arrivals = np.concatenate((self._arrivals[self._next :], arrivals))
            self._services = np.concatenate(
                (self._services[self._next :], self._rng.exponential(self.service_s, count))
            )
            self._next = 0
            self._horizon_s = float(arrivals[-1])

    def _free_at(self, arrival_s: float, *, commit: bool) -> float:
        """When the executor is free for a job arriving at ``arrival_s``."""
        self._extend(arrival_s)
        free_s, i = self.free_s, self._next
        while i < len(self._arrivals) and self._arrivals[i] < arrival_s:
            free_s = max(free_s, float(self._arrivals[i])) + float(self._services[i])
            i += 1
        if commit:
            self.free_s, self._next = free_s, i
        return free_s

    def advance(self, now_s: float) -> None:
        """Serve the other devices' jobs that arrived before ``now_s`` (requests start in time
        order, so none of ours can arrive before it any more)."""
        self._free_at(now_s, commit=True)

    def backlog_s(self, now_s: float, arrival_s: float) -> float:
        """How long a job arriving at ``arrival_s`` would wait behind the jobs already here at
        ``now_s`` alone (the ones still to arrive unknown; state unchanged)."""
        return max(0.0, self._free_at(now_s, commit=False) - arrival_s)

    def wait_s(self, arrival_s: float) -> float:
        """How long a job arriving now would wait (state unchanged)."""
        return max(0.0, self._free_at(arrival_s, commit=False) - arrival_s)

    def serve(self, arrival_s: float, tail_s: float) -> float:
        """Queue one of our jobs; returns its wait."""
        free_s = self._free_at(arrival_s, commit=True)
        wait = max(0.0, free_s - arrival_s)
        self.free_s = arrival_s + wait + tail_s
        return wait


class Thermal:
    """The device's heat in [0, 1] and the slow-down it causes (see the module docstring)."""

    def __init__(self, effects: Effects) -> None:
        self.tau_s = effects.thermal_tau_s
        self.onset = effects.thermal_onset
        self.max_slowdown = effects.thermal_max_slowdown
        self.heat = 0.0
        self._last_s = 0.0

    def factor(self, now_s: float) -> float:
        """The slow-down of a computation starting at ``now_s``."""
        if self.tau_s <= 0:
            return 1.0
        heat = self.heat * math.exp(-max(0.0, now_s - self._last_s) / self.tau_s)
        over = max(0.0, heat - self.onset) / (1.0 - self.onset)
        return 1.0 + (self.max_slowdown - 1.0) * over

    def run(self, start_s: float, busy_s: float) -> None:
        """The device computed for ``busy_s`` from ``start_s`` (after cooling since last)."""
        if self.tau_s <= 0:
            return
        heat = self.heat * math.exp(-max(0.0, start_s - self._last_s) / self.tau_s)
        self.heat = 1.0 + (heat - 1.0) * math.exp(-busy_s / self.tau_s)
        self._last_s = start_s + busy_s


__all__ = ["EFFECT_NAMES", "EdgeQueue", "Effects", "Thermal"]
