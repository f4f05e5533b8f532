"""Planner decision time for a 100-op (101-cut) model.

Run: .venv/bin/python bench/bench_planner.py

Each policy is warmed up on a synthetic environment (every op and the link observed), then
``decide`` is timed over many calls on a clock that advances like a real request stream.
The last row times a whole request's
bookkeeping: feeding every op's time and the transfer, then deciding. Baseline, measured in
the same run: SCIoT's cost rule written as plain Python loops over
layers (how the rule is usually implemented), which is what ``sciot``'s numpy version and our
adaptive policy replace. Target: adaptive < 100 us per decision. Bounded to a few seconds.
"""

from __future__ import annotations

import time

import numpy as np

from sciot.planner import Planner, make_policy
from sciot.sim import drive, synthetic_environment

NUM_OPS = 100
CALLS = 3_000
WARM_UP_REQUESTS = 300


def _loop_baseline(device: list[float], edge: list[float], sizes: list[int], speed: float) -> int:
    best, best_cost = 1, float("inf")
    for layer in range(len(device)):
        cost = sum(device[: layer + 1]) + sizes[layer + 1] / speed + sum(edge[layer + 1 :])
        if cost < best_cost:
            best, best_cost = layer + 1, cost
    return best


def _time_loop_baseline() -> float:
    env = synthetic_environment(NUM_OPS)
    device = list(env.device.op_s)
    edge = list(env.edge.op_s)
    sizes = list(env.space.crossing_bytes)
    start = time.perf_counter()
    for _ in range(CALLS // 10):
        _loop_baseline(device, edge, sizes, 1e6)
    return (time.perf_counter() - start) / (CALLS // 10)


def _time_policy(name: str) -> float:
    env = synthetic_environment(NUM_OPS, noise_cv=0.1, straggler_prob=0.01)
    planner = Planner(env.space, make_policy(name), seed=1)
    steps = drive(env, planner, requests=WARM_UP_REQUESTS, seed=1)
    now_s = steps[-1].outcome.started_s + 1.0
    samples = np.empty(CALLS)
    for i in range(CALLS):
        t0 = time.perf_counter()
        planner.decide("device-0", now_s + i * 0.05)
        samples[i] = time.perf_counter() - t0
    return float(np.median(samples))


def _time_full_request() -> float:
    """Observations of one request (every op, one transfer) plus the next decision."""
    env = synthetic_environment(NUM_OPS, noise_cv=0.1, straggler_prob=0.01)
    planner = Planner(env.space, "adaptive", seed=1)
    steps = drive(env, planner, requests=WARM_UP_REQUESTS, seed=1)
    rng = np.random.default_rng(2)
    now_s = steps[-1].outcome.started_s + 1.0
    samples = np.empty(CALLS // 3)
    for i in range(len(samples)):
        cut = int(rng.integers(1, NUM_OPS))
        outcome = env.run(cut, now_s, rng)
        t0 = time.perf_counter()
        env.feed(planner, "device-0", outcome)
        planner.decide("device-0", now_s)
        samples[i] = time.perf_counter() - t0
        now_s += 0.1
    return float(np.median(samples))


def main() -> None:
    baseline_s = _time_loop_baseline()
    rows = [("SCIoT rule, Python loops (baseline)", baseline_s)]
    for name in ("adaptive", "sciot", "device-only"):
        rows.append((f"{name} decide (median)", _time_policy(name)))
    rows.append(("adaptive observe 100 ops + decide (median)", _time_full_request()))
    print(f"decision time, {NUM_OPS} ops / {NUM_OPS + 1} cuts, {CALLS} calls per policy")
    print(f"{'policy':40s} {'us/decision':>12s} {'vs baseline':>12s} {'vs 100 us':>10s}")
    for label, seconds in rows:
        print(
            f"{label:40s} {seconds * 1e6:12.1f} {baseline_s / seconds:11.1f}x "
            f"{seconds * 1e6 / 100:9.2f}"
        )


if __name__ == "__main__":
    main()
