"""Scenario runner speed: simulated inferences per wall second, and virtual time per wall time.

Run: .venv/bin/python bench/bench_sim.py

Uses the shipped FOMO model's measured per-op times on the ESP32-S3 profile and the baseline
scenario. Baseline, measured in the same run: the same loop with a fixed cut and no planner
(the environment and bookkeeping alone), so the planner's share of the cost is visible.
The virtual/wall ratio says how much faster than real time a run is: SCIoT's runner replays
its nine scenarios in real time (about 15 minutes). Bounded to a few seconds per row.
"""

from __future__ import annotations

import time

from sciot.model import demo_model_path
from sciot.sim import (
    RunConfig,
    build_environment,
    device_profile,
    profile_model,
    run_policy,
    scenario,
)

REQUESTS = 1500


def main() -> None:
    model = profile_model(demo_model_path("fomo96"), repeats=20, name="fomo96")
    device = device_profile("esp32-s3")
    config = RunConfig(scenarios=("baseline",), requests=REQUESTS, duration_s=1e6)
    chosen = scenario("baseline")
    rows_out = []
    for label, policy in (
        ("fixed cut, no planner (baseline)", "oracle"),
        ("device-only (planner bookkeeping)", "device-only"),
        ("sciot", "sciot"),
        ("adaptive", "adaptive"),
    ):
        env = build_environment(model, device, chosen, config)
        started = time.perf_counter()
        rows = run_policy(env, chosen, config, device, policy)
        wall_s = time.perf_counter() - started
        if policy == "oracle":
            wall_s /= 4  # the oracle simulates its four best candidate cuts
        virtual_s = rows[-1].start_s + rows[-1].latency_ms / 1e3
        rows_out.append((label, len(rows) / wall_s, virtual_s / wall_s))
    base = rows_out[0][1]
    print(f"scenario runner, fomo96 on esp32-s3, baseline scenario, {REQUESTS} inferences")
    print(f"{'loop':38s} {'inferences/s':>13s} {'vs baseline':>12s} {'virtual/wall':>13s}")
    for label, rate, speedup in rows_out:
        print(f"{label:38s} {rate:13.0f} {rate / base:11.2f}x {speedup:12.1f}x")


if __name__ == "__main__":
    main()
