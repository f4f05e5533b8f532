"""The public surface of the planner, sim and analysis packages, as a reviewed contract."""

from __future__ import annotations

import importlib

import pytest

EXPORTS = {
    "sciot.planner": {
        "AdaptiveOptions", "AdaptivePolicy", "CV_THRESHOLD", "CV_WINDOW", "Constraints",
        "CutCost", "Decision", "DeviceState", "EnergyProfile", "Ewma", "EwmaEstimate",
        "ExpectedLatency", "Explanation", "FixedPolicy", "LinkEstimate", "LinkEstimator",
        "Objective", "OpTimes", "OpTimesEstimate", "OraclePolicy", "POLICY_NAMES",
        "PageHinkley", "Planner", "Policy", "Prediction", "SciotPolicy", "SplitSpace",
        "best_fixed_cut", "energy_j", "make_policy", "predict",
    },
    "sciot.sim": {
        "ComputeModel", "DEVICE_PROFILES", "DYNAMIC_SCENARIOS", "DeviceProfile",
        "EXTRA_POLICIES", "Environment", "IN_PROCESS", "InferenceRow", "LinkModel", "LinkStep",
        "ModelProfile", "NetemSupport", "NetworkEmulator", "Outcome", "ROW_FIELDS",
        "RUN_POLICIES", "RunConfig", "RunResult", "SCENARIOS", "STEADY_SCENARIOS",
        "SUMMARY_FIELDS", "Scenario", "Step", "Window", "build_environment",
        "detect_kernel_netem", "device_profile", "drive", "profile_model", "run_policy",
        "run_simulation", "scenario", "summarize", "synthetic_device_op_s",
        "synthetic_environment", "synthetic_space", "total_units", "write_rows",
        "write_summary",
    },
    "sciot.analysis": {
        "Report", "RunData", "analyze_run", "draw_plots", "format_table", "load_run",
        "markdown_table",
    },
}  # fmt: skip


@pytest.mark.parametrize("module_name", sorted(EXPORTS))
def test_exports_match_the_contract(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert set(module.__all__) == EXPORTS[module_name]
    for name in module.__all__:
        assert hasattr(module, name), name


def test_delays_exports() -> None:
    import sciot.delays

    assert set(sciot.delays.__all__) == {"DELAY_KINDS", "DelayKind", "DelaySpec"}
