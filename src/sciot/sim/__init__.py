"""Delay injection, device and network emulation, and the scenario runner.

Scenarios run on a virtual clock (fast, reproducible) or live: a real edge and real device
clients on loopback with the link emulated inside the transport
(``RunConfig(emulation="live")``); :mod:`sciot.sim.netem` names the emulations and detects
whether kernel ``netns`` + ``netem`` is usable. Links are a fixed-rate model or a real link
trace replayed through a FIFO bottleneck (:mod:`sciot.sim.traces`); the world's departures
from the planner's cost model are named in :mod:`sciot.sim.effects`.
"""

from sciot.sim._drive import Step, drive
from sciot.sim.effects import EFFECT_NAMES, Effects
from sciot.sim.environment import (
    ComputeModel,
    Environment,
    Link,
    LinkModel,
    LinkStep,
    NetworkEmulator,
    Outcome,
    Window,
)
from sciot.sim.netem import IN_PROCESS, NetemSupport, detect_kernel_netem
from sciot.sim.profiles import (
    DEVICE_PROFILES,
    DeviceProfile,
    ModelProfile,
    device_profile,
    load_or_profile,
    load_profile,
    profile_model,
    save_profile,
)
from sciot.sim.runner import (
    EXTRA_POLICIES,
    ROW_FIELDS,
    RUN_POLICIES,
    SUMMARY_FIELDS,
    InferenceRow,
    RunConfig,
    RunResult,
    build_environment,
    run_policy,
    run_simulation,
    summarize,
    total_units,
    write_rows,
    write_summary,
)
from sciot.sim.scenarios import (
    DEPARTURE_SCENARIOS,
    DYNAMIC_SCENARIOS,
    SCENARIOS,
    STEADY_SCENARIOS,
    TRACE_SCENARIOS,
    Scenario,
    scenario,
)
from sciot.sim.synthetic import synthetic_device_op_s, synthetic_environment, synthetic_space
from sciot.sim.traces import PACKET_BYTES, Trace, TraceLink, read_trace, trace_link
from sciot.sim.world import Realised, World

__all__ = [
    "DEPARTURE_SCENARIOS",
    "DEVICE_PROFILES",
    "DYNAMIC_SCENARIOS",
    "EFFECT_NAMES",
    "EXTRA_POLICIES",
    "IN_PROCESS",
    "PACKET_BYTES",
    "ROW_FIELDS",
    "RUN_POLICIES",
    "SCENARIOS",
    "STEADY_SCENARIOS",
    "SUMMARY_FIELDS",
    "TRACE_SCENARIOS",
    "ComputeModel",
    "DeviceProfile",
    "Effects",
    "Environment",
    "InferenceRow",
    "Link",
    "LinkModel",
    "LinkStep",
    "ModelProfile",
    "NetemSupport",
    "NetworkEmulator",
    "Outcome",
    "Realised",
    "RunConfig",
    "RunResult",
    "Scenario",
    "Step",
    "Trace",
    "TraceLink",
    "Window",
    "World",
    "build_environment",
    "detect_kernel_netem",
    "device_profile",
    "drive",
    "load_or_profile",
    "load_profile",
    "profile_model",
    "read_trace",
    "run_policy",
    "run_simulation",
    "save_profile",
    "scenario",
    "summarize",
    "synthetic_device_op_s",
    "synthetic_environment",
    "synthetic_space",
    "total_units",
    "trace_link",
    "write_rows",
    "write_summary",
]
