"""The scenario runner: every policy on every scenario, one row per inference.

For each scenario a fresh environment is built from the real model's measured per-op times
(scaled to the device profile) and the scenario's delays and events; every policy then runs
it from fresh planner state with the same seed, on a virtual clock, so a full evaluation of
thirteen scenarios takes seconds to minutes rather than hours of wall time. Several clients
share one edge through a FIFO queue: a request waits while the edge serves another, and the
wait shows up, as it would in reality, in the device's measured round trip. The ``oracle``
row is the best fixed cut in hindsight (the cuts with the lowest true expected latency over the
run are each simulated and the best kept); ``regret`` is a policy's
mean latency divided by the oracle's. Outputs: ``<scenario>.csv`` (one row per inference),
``summary.csv``, ``op_times.csv`` and ``run.json`` (configuration, emulation used, profiles).
With ``RunConfig(emulation="live")`` the same scenarios run through a real edge and real device
clients instead (``_live``), writing the same files.
"""

from __future__ import annotations

import csv
import json
import math
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from sciot.errors import ConfigError
from sciot.planner import OraclePolicy, Planner, Policy, make_policy
from sciot.sim._run_types import (
    EXTRA_POLICIES,
    ROW_FIELDS,
    RUN_POLICIES,
    InferenceRow,
    ProgressFn,
    RunConfig,
    rounded_row,
)
from sciot.sim.environment import ComputeModel, Environment, LinkModel, Outcome
from sciot.sim.netem import (
    EMULATION_LABELS,
    IN_PROCESS,
    detect_kernel_netem,
    netem_fallback_note,
)
from sciot.sim.profiles import DeviceProfile, ModelProfile, device_profile, profile_model
from sciot.sim.scenarios import BASE_BYTES_PER_S, BASE_RTT_S, SCENARIOS, Scenario, scenario

SUMMARY_FIELDS = (
    "scenario",
    "policy",
    "clients",
    "inferences",
    "mean_ms",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "inferences_per_s",
    "bytes_per_inference",
    "energy_mj_per_inference",
    "regret",
    "probes",
    "failed",
    "main_cut",
    "emulation",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    out_dir: Path
    summary: list[dict[str, object]]
    wall_s: float
    files: tuple[Path, ...] = field(default=())
    emulation: str = IN_PROCESS
    notes: tuple[str, ...] = ()


def build_environment(
    model: ModelProfile, device: DeviceProfile, chosen: Scenario, config: RunConfig
) -> Environment:
    """A fresh environment for one scenario (nothing is shared between scenarios)."""
    d = config.duration_s
    device_model = ComputeModel(
        op_s=model.device_op_s(device),
        noise_cv=config.noise_cv,
        straggler_prob=config.straggler_prob,
        slowdowns=chosen.device_slowdowns(d),
        extra_delay=chosen.computation_delay,
    )
    edge_model = ComputeModel(
        op_s=model.op_s,
        noise_cv=config.noise_cv,
        straggler_prob=config.straggler_prob,
        slowdowns=chosen.edge_slowdowns(d),
    )
    link = LinkModel(
        rtt_s=BASE_RTT_S,
        bytes_per_s=BASE_BYTES_PER_S,
        jitter=chosen.network_delay,
        steps=chosen.link_steps(d),
        outages=chosen.outages(d),
    )
    return Environment(
        space=model.space(),
        device=device_model,
        edge=edge_model,
        link=link,
        # A device-only request still reports its result (the model output), as SCIoT's does.
        report_bytes=model.output_bytes,
        timeout_s=config.timeout_s,
    )


def _seed(config: RunConfig, scenario_name: str) -> list[int]:
    return [config.seed, zlib.crc32(scenario_name.encode())]


class _Loop:
    """Clients sharing one edge on a virtual clock, driven by one decide function."""

    def __init__(
        self, env: Environment, chosen: Scenario, config: RunConfig, device: DeviceProfile
    ) -> None:
        self.env = env
        self.scenario = chosen
        self.config = config
        self.energy = device.energy

    def run(
        self,
        policy_name: str,
        decide: Callable[[str, float], tuple[int, bool, float, str]],
        planner: Planner | None,
        progress: ProgressFn | None,
    ) -> list[InferenceRow]:
        env, config = self.env, self.config
        rng = np.random.default_rng(_seed(config, self.scenario.name))
        clients = [f"client-{i}" for i in range(self.scenario.clients)]
        next_start = {c: i * 1e-3 for i, c in enumerate(clients)}
        done = dict.fromkeys(clients, 0)
        edge_free_s = 0.0
        rows: list[InferenceRow] = []
        wall_start = time.perf_counter()
        while True:
            active = [
                c
                for c in clients
                if done[c] < config.requests and next_start[c] < config.duration_s
            ]
            if not active or time.perf_counter() - wall_start > config.max_wall_s:
                break
            client = min(active, key=next_start.__getitem__)
            now_s = next_start[client]
            cut, probe, predicted_s, reason = decide(client, now_s)
            outcome = env.run(cut, now_s, rng)
            outcome, wait_s, edge_free_s = _queue(env, outcome, edge_free_s)
            if planner is not None:
                env.feed(planner, client, outcome)
            row = self._row(policy_name, client, done[client], outcome, wait_s)
            rows.append(
                rounded_row(
                    replace(row, probe=probe, predicted_ms=predicted_s * 1e3, reason=reason)
                )
            )
            done[client] += 1
            next_start[client] = now_s + outcome.latency_s + config.think_s
            if progress is not None and done[client] % 100 == 0:
                progress(100, f"{self.scenario.name} / {policy_name}")
        return rows

    def _row(
        self, policy: str, client: str, index: int, outcome: Outcome, wait_s: float
    ) -> InferenceRow:
        rtt_s, rate = self.env.link.at(outcome.started_s)
        device_s, edge_s = outcome.device_s, outcome.edge_s
        wire_bytes = outcome.uplink_bytes + outcome.downlink_bytes + outcome.report_bytes
        energy_j = (
            self.energy.compute_w * device_s
            + self.energy.idle_w * (outcome.latency_s - device_s)
            + self.energy.radio_j_per_byte * wire_bytes
        )
        return InferenceRow(
            scenario=self.scenario.name,
            policy=policy,
            client=client,
            index=index,
            start_s=outcome.started_s,
            cut=outcome.cut,
            probe=False,
            failed=outcome.failed and outcome.cut < self.env.space.num_ops,
            latency_ms=outcome.latency_s * 1e3,
            device_ms=device_s * 1e3,
            edge_ms=edge_s * 1e3,
            network_ms=outcome.network_s * 1e3,
            queue_ms=wait_s * 1e3,
            predicted_ms=math.nan,
            uplink_bytes=outcome.uplink_bytes,
            downlink_bytes=outcome.downlink_bytes,
            energy_mj=energy_j * 1e3,
            true_bytes_per_s=rate,
            true_rtt_ms=rtt_s * 1e3,
            reason="",
        )


def _queue(env: Environment, outcome: Outcome, edge_free_s: float) -> tuple[Outcome, float, float]:
    """FIFO wait at the shared edge; the wait is part of the round trip the device sees."""
    if outcome.cut == env.space.num_ops or outcome.failed:
        return outcome, 0.0, edge_free_s
    arrival_s = outcome.started_s + outcome.device_s + outcome.network_s / 2
    wait_s = max(0.0, edge_free_s - arrival_s)
    edge_free_s = arrival_s + wait_s + outcome.edge_s
    if wait_s > 0:
        outcome = replace(
            outcome,
            latency_s=outcome.latency_s + wait_s,
            network_s=outcome.network_s + wait_s,
        )
    return outcome, wait_s, edge_free_s


def _planner_decide(planner: Planner) -> Callable[[str, float], tuple[int, bool, float, str]]:
    def decide(client: str, now_s: float) -> tuple[int, bool, float, str]:
        d = planner.decide(client, now_s)
        return d.cut, d.probe, d.predicted_s, d.reason

    return decide


def _fixed_decide(cut: int) -> Callable[[str, float], tuple[int, bool, float, str]]:
    def decide(client: str, now_s: float) -> tuple[int, bool, float, str]:
        return cut, False, math.nan, "best fixed cut in hindsight"

    return decide


def run_policy(
    env: Environment,
    chosen: Scenario,
    config: RunConfig,
    device: DeviceProfile,
    policy: str,
    progress: ProgressFn | None = None,
) -> list[InferenceRow]:
    """Rows of one policy on one scenario, from fresh state."""
    loop = _Loop(env, chosen, config, device)
    if policy == "oracle":
        return _best_fixed(loop, progress)
    planner_policy: Policy | str
    if policy == "oracle-dynamic":
        planner_policy = OraclePolicy(env.expected_latency_s)
    else:
        planner_policy = make_policy(policy, seed=config.seed)
    planner = Planner(env.space, planner_policy, seed=config.seed)
    return loop.run(policy, _planner_decide(planner), planner, progress)


def _best_fixed(
    loop: _Loop, progress: ProgressFn | None, candidates: int = 4
) -> list[InferenceRow]:
    """Simulate the few cuts whose true expected latency over the run is lowest; keep the best.

    The expectation ignores queueing at a shared edge, so the few best by expectation are all
    simulated and the best simulated mean wins.
    """
    env, duration_s = loop.env, loop.config.duration_s
    times_s = np.linspace(0.0, duration_s, 200, endpoint=False)
    expected = [
        float(np.mean([env.expected_latency_s(cut, t) for t in times_s]))
        for cut in range(env.space.num_cuts)
    ]
    best: list[InferenceRow] | None = None
    best_mean = math.inf
    for cut in np.argsort(expected)[:candidates].tolist():
        rows = loop.run("oracle", _fixed_decide(int(cut)), None, None)
        mean = float(np.mean([r.latency_ms for r in rows]))
        if mean < best_mean:
            best, best_mean = rows, mean
    assert best is not None
    if progress is not None:
        progress(len(best), f"{loop.scenario.name} / oracle")
    return best


def summarize(
    rows: Sequence[InferenceRow], *, emulation: str = IN_PROCESS
) -> list[dict[str, object]]:
    """One summary row per (scenario, policy); regret against the scenario's ``oracle``."""
    groups: dict[tuple[str, str], list[InferenceRow]] = {}
    for row in rows:
        groups.setdefault((row.scenario, row.policy), []).append(row)
    oracle_mean = {
        s: float(np.mean([r.latency_ms for r in g]))
        for (s, p), g in groups.items()
        if p == "oracle"
    }
    summary: list[dict[str, object]] = []
    for (scenario_name, policy), group in groups.items():
        latency = np.array([r.latency_ms for r in group])
        first_s = min(r.start_s for r in group)
        last_end_s = max(r.start_s + r.latency_ms / 1e3 for r in group)
        span_s = max(last_end_s - first_s, 1e-9)
        wire = [r.uplink_bytes + r.downlink_bytes for r in group]
        reference = oracle_mean.get(scenario_name)
        summary.append(
            {
                "scenario": scenario_name,
                "policy": policy,
                "clients": len({r.client for r in group}),
                "inferences": len(group),
                "mean_ms": float(latency.mean()),
                "p50_ms": float(np.percentile(latency, 50)),
                "p95_ms": float(np.percentile(latency, 95)),
                "p99_ms": float(np.percentile(latency, 99)),
                "inferences_per_s": len(group) / span_s,
                "bytes_per_inference": float(np.mean(wire)),
                "energy_mj_per_inference": float(np.mean([r.energy_mj for r in group])),
                "regret": float(latency.mean()) / reference if reference else math.nan,
                "probes": sum(r.probe for r in group),
                "failed": sum(r.failed for r in group),
                "main_cut": Counter(r.cut for r in group).most_common(1)[0][0],
                "emulation": emulation,
            }
        )
    return summary


def write_rows(path: Path, rows: Sequence[InferenceRow]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(ROW_FIELDS)
        for row in rows:
            writer.writerow(_csv_value(getattr(row, name)) for name in ROW_FIELDS)


def write_summary(path: Path, summary: Sequence[dict[str, object]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=SUMMARY_FIELDS)
        writer.writeheader()
        for row in summary:
            writer.writerow({k: _csv_value(row[k]) for k in SUMMARY_FIELDS})


def _csv_value(value: object) -> object:
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(round(value, 6))
    return value


def run_simulation(
    config: RunConfig,
    out_dir: str | Path,
    *,
    progress: ProgressFn | None = None,
    model: ModelProfile | None = None,
) -> RunResult:
    """Run every configured scenario with every configured policy; write the outputs.

    ``config.emulation`` picks the clock and the network: ``virtual`` (this module's loop),
    ``live`` (a real edge and real device clients over an emulated link, see ``_live``) or
    ``netem`` (kernel emulation: not implemented, so it falls back to ``live`` with a note in
    the result and in ``run.json``).
    """
    requested = config.emulation
    notes: list[str] = []
    if config.emulation == "netem":
        notes.append(netem_fallback_note(detect_kernel_netem()))
        config = replace(config, emulation="live")
    started = time.perf_counter()
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output directory {out}: {exc}") from exc
    device = device_profile(config.device)
    model_path = _model_path(config.model)
    run_one = _policy_runner(config, model_path, device)
    model = model or profile_model(model_path, name=config.model)
    all_rows: list[InferenceRow] = []
    files: list[Path] = []
    for name in config.scenarios:
        chosen = scenario(name)
        rows: list[InferenceRow] = []
        for policy in config.policies:
            env = build_environment(model, device, chosen, config)
            rows += run_one(env, chosen, policy, progress)
        path = out / f"{name}.csv"
        write_rows(path, rows)
        files.append(path)
        all_rows += rows
    summary = summarize(all_rows, emulation=EMULATION_LABELS[config.emulation])
    write_summary(out / "summary.csv", summary)
    _write_op_times(out / "op_times.csv", model, device)
    wall_s = time.perf_counter() - started
    _write_metadata(out / "run.json", config, model, device, wall_s, requested, notes)
    files += [out / "summary.csv", out / "op_times.csv", out / "run.json"]
    return RunResult(
        out_dir=out,
        summary=summary,
        wall_s=wall_s,
        files=tuple(files),
        emulation=EMULATION_LABELS[config.emulation],
        notes=tuple(notes),
    )


PolicyRunner = Callable[[Environment, Scenario, str, ProgressFn | None], list[InferenceRow]]


def _policy_runner(config: RunConfig, model_path: Path, device: DeviceProfile) -> PolicyRunner:
    """The virtual loop, or a live runner (imported only then: it brings the edge server)."""
    if config.emulation == "live":
        from sciot.sim._live import LiveRunner, check_live

        check_live(config, [scenario(name) for name in config.scenarios])
        return LiveRunner(config, model_path, device).run_policy

    def run_virtual(
        env: Environment, chosen: Scenario, policy: str, progress: ProgressFn | None
    ) -> list[InferenceRow]:
        return run_policy(env, chosen, config, device, policy, progress)

    return run_virtual


def total_units(config: RunConfig) -> int:
    """Upper bound of progress units (inferences) a run reports."""
    clients = sum(scenario(s).clients for s in config.scenarios)
    return clients * config.requests * len(config.policies)


def _model_path(model: str) -> Path:
    from sciot.model import demo_model_names, demo_model_path

    if model in demo_model_names():
        return demo_model_path(model)
    path = Path(model)
    if not path.is_file():
        raise ConfigError(f"model {model!r} is neither a demo model nor a .tflite file")
    return path


def _write_op_times(path: Path, model: ModelProfile, device: DeviceProfile) -> None:
    device_op_s = model.device_op_s(device)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["op", "measured_us", "device_us", "edge_us", "crossing_bytes_after"])
        for op, (measured, dev) in enumerate(zip(model.op_s, device_op_s, strict=True)):
            after = model.crossing_bytes[op + 1]
            writer.writerow(
                [op, round(measured * 1e6, 3), round(dev * 1e6, 3), round(measured * 1e6, 3), after]
            )


def _write_metadata(
    path: Path,
    config: RunConfig,
    model: ModelProfile,
    device: DeviceProfile,
    wall_s: float,
    requested: str,
    notes: Sequence[str],
) -> None:
    netem = detect_kernel_netem()
    meta: dict[str, object] = {
        "config": asdict(config),
        "emulation": EMULATION_LABELS[config.emulation],
        "emulation_requested": requested,
        "notes": list(notes),
        "kernel_netem": {"available": netem.available, "reason": netem.reason, "used": False},
        "device_profile": {
            "name": device.name,
            "source": device.source,
            "scale": device.scale(model_macs=model.macs, measured_total_s=model.total_s),
            "energy": asdict(device.energy),
        },
        "edge": "this machine (measured per-op times, unscaled)",
        "model": {
            "name": model.name,
            "ops": model.num_ops,
            "macs": model.macs,
            "measured_total_us": model.total_s * 1e6,
            "crossing_bytes": list(model.crossing_bytes),
        },
        "link": {"rtt_ms": BASE_RTT_S * 1e3, "bytes_per_s": BASE_BYTES_PER_S},
        "scenarios": {name: SCENARIOS[name].description for name in config.scenarios},
        "wall_s": wall_s,
    }
    if config.emulation == "live":
        from sciot.sim._live import live_metadata

        meta["live"] = live_metadata(config)
    path.write_text(json.dumps(meta, indent=2))


__all__ = [
    "EXTRA_POLICIES",
    "ROW_FIELDS",
    "RUN_POLICIES",
    "SUMMARY_FIELDS",
    "InferenceRow",
    "RunConfig",
    "RunResult",
    "build_environment",
    "run_policy",
    "run_simulation",
    "summarize",
    "total_units",
    "write_rows",
    "write_summary",
]
