"""Named evaluation scenarios: SCIoT's nine, four dynamic ones, five departures, and traces.

A :class:`Scenario` says what differs from the base setting (a Wi-Fi-class link with a few
milliseconds of round trip): added network and computation delays (SCIoT's gaussians, in
milliseconds mean and standard deviation), the number of clients, for dynamic scenarios events
placed at fractions of the run's duration so they scale with it, and the ground-truth
:class:`~sciot.sim.Effects` its world has beyond the planner's cost model (one per departure
scenario). The trace family (:data:`TRACE_SCENARIOS`) runs over a real link trace the user
names (``RunConfig.uplink_trace`` / ``downlink_trace``); it is not part of the default set,
since the project ships no trace. Building the :class:`~sciot.sim.Environment` is left to
the runner, which owns the model profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sciot.delays import DelaySpec
from sciot.errors import ConfigError
from sciot.sim.effects import Effects
from sciot.sim.environment import LinkStep, Window

BASE_RTT_S = 0.003
BASE_BYTES_PER_S = 2.5e6  # 20 Mbit/s: a good 2.4 GHz Wi-Fi link for an MCU-class device
# One-way delay behind a cellular trace: an edge at the base station (multi-access edge).
TRACE_ONE_WAY_S = 0.005

OVERHEAD = Effects(request_overhead_s=0.002, serialise_s_per_mb=5e-3)
SHARED_EDGE = Effects(edge_load_per_s=150.0, edge_load_service_s=0.005)
THERMAL = Effects(thermal_tau_s=8.0, thermal_onset=0.4, thermal_max_slowdown=2.5)
CROSS_TRAFFIC = Effects(cross_traffic=0.5)
JITTER = Effects(device_jitter_cv=0.3)


def _ms(mean_ms: float, std_ms: float) -> DelaySpec:
    return DelaySpec.gaussian(mean_ms / 1e3, std_ms / 1e3)


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """One scenario; the ``*_at`` fields are fractions of the run's duration."""

    name: str
    description: str
    clients: int = 1
    network_delay: DelaySpec = field(default_factory=DelaySpec.zero)
    computation_delay: DelaySpec = field(default_factory=DelaySpec.zero)
    bandwidth_steps_at: tuple[tuple[float, float], ...] = ()  # (fraction, bytes/s factor)
    edge_load_at: tuple[float, float, float] | None = None  # (start, end, edge slow-down)
    outage_at: tuple[float, float] | None = None
    throttle_at: tuple[float, float, float] | None = None  # (start, end, device slow-down)
    effects: Effects = field(default_factory=Effects)
    trace: bool = False  # runs over the configured link trace

    def __post_init__(self) -> None:
        if self.clients < 1:
            raise ConfigError(f"scenario {self.name}: clients must be >= 1")

    @property
    def dynamic(self) -> bool:
        return bool(
            self.bandwidth_steps_at or self.edge_load_at or self.outage_at or self.throttle_at
        )

    def event_times(self, duration_s: float) -> tuple[float, ...]:
        """When the scenario's events happen in a run of ``duration_s`` (sorted)."""
        times = [at * duration_s for at, _factor in self.bandwidth_steps_at]
        for spec in (self.edge_load_at, self.throttle_at):
            if spec is not None:
                times += [spec[0] * duration_s, spec[1] * duration_s]
        if self.outage_at is not None:
            times += [t * duration_s for t in self.outage_at]
        return tuple(sorted(times))

    def link_steps(self, duration_s: float) -> tuple[LinkStep, ...]:
        return tuple(
            LinkStep(at_s=at * duration_s, bytes_per_s=BASE_BYTES_PER_S * factor)
            for at, factor in self.bandwidth_steps_at
        )

    def outages(self, duration_s: float) -> tuple[Window, ...]:
        if self.outage_at is None:
            return ()
        start, end = self.outage_at
        return (Window(start_s=start * duration_s, end_s=end * duration_s),)

    def edge_slowdowns(self, duration_s: float) -> tuple[Window, ...]:
        return _window(self.edge_load_at, duration_s)

    def device_slowdowns(self, duration_s: float) -> tuple[Window, ...]:
        return _window(self.throttle_at, duration_s)


def _window(spec: tuple[float, float, float] | None, duration_s: float) -> tuple[Window, ...]:
    if spec is None:
        return ()
    start, end, factor = spec
    return (Window(start_s=start * duration_s, end_s=end * duration_s, factor=factor),)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(name="baseline", description="no added delay"),
        Scenario(
            name="network_delay_20ms",
            description="network delay N(20, 5) ms",
            network_delay=_ms(20, 5),
        ),
        Scenario(
            name="network_delay_50ms",
            description="network delay N(50, 10) ms",
            network_delay=_ms(50, 10),
        ),
        Scenario(
            name="computation_delay_2ms",
            description="device computation delay N(2, 0.5) ms",
            computation_delay=_ms(2, 0.5),
        ),
        Scenario(
            name="computation_delay_5ms",
            description="device computation delay N(5, 1) ms",
            computation_delay=_ms(5, 1),
        ),
        Scenario(
            name="mobile_realistic",
            description="computation N(3, 1) ms + network N(30, 10) ms",
            computation_delay=_ms(3, 1),
            network_delay=_ms(30, 10),
        ),
        Scenario(
            name="unstable_network",
            description="network delay N(40, 20) ms",
            network_delay=_ms(40, 20),
        ),
        Scenario(
            name="multi_client_baseline",
            description="3 clients sharing the edge",
            clients=3,
        ),
        Scenario(
            name="multi_client_network",
            description="3 clients + network delay N(25, 8) ms",
            clients=3,
            network_delay=_ms(25, 8),
        ),
        Scenario(
            name="bandwidth_drop",
            description="bandwidth drops 10x at 1/3 of the run, recovers at 2/3",
            bandwidth_steps_at=((1 / 3, 0.1), (2 / 3, 1.0)),
        ),
        Scenario(
            name="edge_overload",
            description="edge 150x slower (other clients) from 1/3 to 2/3 of the run",
            edge_load_at=(1 / 3, 2 / 3, 150.0),
        ),
        Scenario(
            name="edge_outage",
            description="edge unreachable from 1/3 to 1/2 of the run, then back",
            outage_at=(1 / 3, 1 / 2),
        ),
        Scenario(
            name="device_throttled",
            description="device 3x slower (thermal throttling) from 1/3 to 2/3 of the run",
            throttle_at=(1 / 3, 2 / 3, 3.0),
        ),
    )
}

_DEPARTURES = (
    Scenario(
        name="request_overhead",
        description="2 ms per request + 5 ms/MB serialisation on top of the link",
        effects=OVERHEAD,
    ),
    Scenario(
        name="shared_edge",
        description="other devices load the edge's tail executor (150 req/s x 5 ms, FIFO)",
        effects=SHARED_EDGE,
    ),
    Scenario(
        name="thermal",
        description="the device heats while computing and slows up to 2.5x (tau 8 s)",
        effects=THERMAL,
    ),
    Scenario(
        name="cross_traffic",
        description="other traffic takes a random share (mean 50%) of the link per request",
        effects=CROSS_TRAFFIC,
    ),
    Scenario(
        name="device_jitter",
        description="device op times jitter with a 30% coefficient of variation",
        effects=JITTER,
    ),
)
SCENARIOS.update({s.name: s for s in _DEPARTURES})

STEADY_SCENARIOS = tuple(
    name for name, s in SCENARIOS.items() if not s.dynamic and s.effects == Effects()
)
DYNAMIC_SCENARIOS = tuple(name for name, s in SCENARIOS.items() if s.dynamic)
DEPARTURE_SCENARIOS = tuple(s.name for s in _DEPARTURES)

TRACE_SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(name="trace", description="the link trace alone", trace=True),
        Scenario(
            name="trace_overhead",
            description="link trace + per-request overhead",
            trace=True,
            effects=OVERHEAD,
        ),
        Scenario(
            name="trace_shared_edge",
            description="link trace + other devices on the edge",
            trace=True,
            effects=SHARED_EDGE,
        ),
        Scenario(
            name="trace_thermal",
            description="link trace + device thermal slow-down",
            trace=True,
            effects=THERMAL,
        ),
        Scenario(
            name="trace_cross_traffic",
            description="link trace, half its delivery opportunities taken by other traffic",
            trace=True,
            effects=CROSS_TRAFFIC,
        ),
        Scenario(
            name="trace_multi_client",
            description="3 clients sharing the traced link's FIFO queue and the edge",
            trace=True,
            clients=3,
        ),
    )
}


def scenario(name: str) -> Scenario:
    found = SCENARIOS.get(name) or TRACE_SCENARIOS.get(name)
    if found is None:
        known = ", ".join((*SCENARIOS, *TRACE_SCENARIOS))
        raise ConfigError(f"unknown scenario {name!r}; choose from {known}") from None
    return found


__all__ = [
    "BASE_BYTES_PER_S",
    "BASE_RTT_S",
    "DEPARTURE_SCENARIOS",
    "DYNAMIC_SCENARIOS",
    "SCENARIOS",
    "STEADY_SCENARIOS",
    "TRACE_ONE_WAY_S",
    "TRACE_SCENARIOS",
    "Scenario",
    "scenario",
]
