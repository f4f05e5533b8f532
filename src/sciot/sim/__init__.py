"""Delay injection, device and network emulation, and the scenario runner.

Scenarios run on a virtual clock (fast, reproducible) or live: a real edge and real device
clients on loopback with the link emulated inside the transport
(``RunConfig(emulation="live")``); :mod:`sciot.sim.netem` names the emulations and detects
whether kernel ``netns`` + ``netem`` is usable.
"""

from sciot.sim._drive import Step, drive
from sciot.sim.environment import (
    ComputeModel,
    Environment,
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
    profile_model,
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
    DYNAMIC_SCENARIOS,
    SCENARIOS,
    STEADY_SCENARIOS,
    Scenario,
    scenario,
)
from sciot.sim.synthetic import synthetic_device_op_s, synthetic_environment, synthetic_space

__all__ = [
    "DEVICE_PROFILES",
    "DYNAMIC_SCENARIOS",
    "EXTRA_POLICIES",
    "IN_PROCESS",
    "ROW_FIELDS",
    "RUN_POLICIES",
    "SCENARIOS",
    "STEADY_SCENARIOS",
    "SUMMARY_FIELDS",
    "ComputeModel",
    "DeviceProfile",
    "Environment",
    "InferenceRow",
    "LinkModel",
    "LinkStep",
    "ModelProfile",
    "NetemSupport",
    "NetworkEmulator",
    "Outcome",
    "RunConfig",
    "RunResult",
    "Scenario",
    "Step",
    "Window",
    "build_environment",
    "detect_kernel_netem",
    "device_profile",
    "drive",
    "profile_model",
    "run_policy",
    "run_simulation",
    "scenario",
    "summarize",
    "synthetic_device_op_s",
    "synthetic_environment",
    "synthetic_space",
    "total_units",
    "write_rows",
    "write_summary",
]
