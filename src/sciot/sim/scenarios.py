"""Named evaluation scenarios: SCIoT's nine and four dynamic ones.

A :class:`Scenario` says what differs from the base setting (a Wi-Fi-class link with a few
milliseconds of round trip): added network and computation delays (SCIoT's gaussians, in
milliseconds mean and standard deviation), the number of clients, and, for dynamic
scenarios, events placed at fractions of the run's duration so they scale with it. Building
the :class:`~sciot.sim.Environment` is left to the runner, which owns the model profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sciot.delays import DelaySpec
from sciot.errors import ConfigError
from sciot.sim.environment import LinkStep, Window

BASE_RTT_S = 0.003
BASE_BYTES_PER_S = 2.5e6  # 20 Mbit/s: a good 2.4 GHz Wi-Fi link for an MCU-class device


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

    def __post_init__(self) -> None:
        if self.clients < 1:
            raise ConfigError(f"scenario {self.name}: clients must be >= 1")

    @property
    def dynamic(self) -> bool:
        return bool(
            self.bandwidth_steps_at or self.edge_load_at or self.outage_at or self.throttle_at
        )

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

STEADY_SCENARIOS = tuple(name for name, s in SCENARIOS.items() if not s.dynamic)
DYNAMIC_SCENARIOS = tuple(name for name, s in SCENARIOS.items() if s.dynamic)


def scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(SCENARIOS)
        raise ConfigError(f"unknown scenario {name!r}; choose from {known}") from None


__all__ = [
    "BASE_BYTES_PER_S",
    "BASE_RTT_S",
    "DYNAMIC_SCENARIOS",
    "SCENARIOS",
    "STEADY_SCENARIOS",
    "Scenario",
    "scenario",
]
