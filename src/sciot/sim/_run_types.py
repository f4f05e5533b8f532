"""What a scenario run is asked to do and what it records per inference.

:class:`RunConfig` and :class:`InferenceRow` are shared by the virtual runner
(:mod:`sciot.sim.runner`) and the live one (:mod:`sciot.sim._live`); they live apart from both
so neither runner imports the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path

from sciot.errors import ConfigError
from sciot.sim.netem import EMULATIONS
from sciot.sim.scenarios import SCENARIOS, TRACE_ONE_WAY_S, scenario

# Every policy and both bounds run by default: baselines and bounds in one run, same seeds.
RUN_POLICIES = (
    "adaptive",
    "sciot",
    "neurosurgeon",
    "explore-greedy",
    "linucb",
    "device-only",
    "edge-only",
    "oracle",
    "oracle-dynamic",
)
# Accepted but not run by default: the per-request choice given the world as it stands when
# a request is decided, no more (see World.expected_latencies_s).
EXTRA_POLICIES: tuple[str, ...] = ("oracle-now",)
ProgressFn = Callable[[int, str], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunConfig:
    """What to run. ``requests`` is per client and policy; ``duration_s`` is virtual time."""

    scenarios: tuple[str, ...] = tuple(SCENARIOS)
    policies: tuple[str, ...] = RUN_POLICIES
    requests: int = 5000
    duration_s: float = 60.0
    seed: int = 0
    device: str = "esp32-s3"
    model: str = "fomo96"
    think_s: float = 0.001
    timeout_s: float = 0.2
    noise_cv: float = 0.05
    straggler_prob: float = 0.005
    max_wall_s: float = 120.0
    emulation: str = "virtual"
    live_transport: str = "http"
    uplink_trace: str | None = None
    downlink_trace: str | None = None
    trace_one_way_s: float = TRACE_ONE_WAY_S
    profile: str | None = None
    """A stored op-time profile of the model (read if it exists, else written there)."""

    def __post_init__(self) -> None:
        for name in self.scenarios:
            if scenario(name).trace and self.uplink_trace is None:
                raise ConfigError(
                    f"scenario {name!r} runs over a link trace: give --uplink-trace and "
                    "--downlink-trace (mahimahi files)"
                )
        if (self.uplink_trace is None) != (self.downlink_trace is None):
            raise ConfigError("give both --uplink-trace and --downlink-trace, or neither")
        for flag, trace in (
            ("--uplink-trace", self.uplink_trace),
            ("--downlink-trace", self.downlink_trace),
        ):
            if trace is not None and not Path(trace).is_file():
                raise ConfigError(f"{flag}: link trace {trace} is not a readable file")
        if not (self.trace_one_way_s >= 0 and self.trace_one_way_s < 10):
            raise ConfigError(f"trace_one_way_s must be in [0, 10) s, got {self.trace_one_way_s}")
        if self.emulation not in EMULATIONS:
            raise ConfigError(
                f"unknown emulation {self.emulation!r}; choose from {', '.join(EMULATIONS)}"
            )
        if self.live_transport not in ("http", "ws"):
            raise ConfigError(f"live_transport must be http or ws, got {self.live_transport!r}")
        allowed = (*RUN_POLICIES, *EXTRA_POLICIES)
        for policy in self.policies:
            if policy not in allowed and not policy.startswith("fixed:"):
                raise ConfigError(f"unknown policy {policy!r}; choose from {', '.join(allowed)}")
        if self.requests < 1 or not self.duration_s > 0 or self.max_wall_s <= 0:
            raise ConfigError("requests must be >= 1 and duration_s, max_wall_s > 0")
        if not self.scenarios or not self.policies:
            raise ConfigError("choose at least one scenario and one policy")


@dataclass(frozen=True, slots=True, kw_only=True)
class InferenceRow:
    """One inference as the CSV stores it."""

    scenario: str
    policy: str
    client: str
    index: int
    start_s: float
    cut: int
    probe: bool
    failed: bool
    latency_ms: float
    device_ms: float
    edge_ms: float
    network_ms: float
    queue_ms: float
    predicted_ms: float
    uplink_bytes: int
    downlink_bytes: int
    energy_mj: float
    true_bytes_per_s: float
    true_rtt_ms: float
    reason: str
    seed: int = 0


ROW_FIELDS = tuple(f.name for f in fields(InferenceRow))


_FLOAT_FIELDS = tuple(f.name for f in fields(InferenceRow) if f.type == "float")


def rounded_row(row: InferenceRow) -> InferenceRow:
    """Round like the CSV does, so a summary of these rows equals one of the rows read back."""
    return replace(row, **{name: round(getattr(row, name), 6) for name in _FLOAT_FIELDS})


__all__ = [
    "EXTRA_POLICIES",
    "ROW_FIELDS",
    "RUN_POLICIES",
    "InferenceRow",
    "ProgressFn",
    "RunConfig",
    "rounded_row",
]
