"""The scenario runner: every policy on every scenario and seed, one row per inference.

For each scenario a fresh environment is built from the real model's measured per-op times
(scaled to the device profile), the scenario's delays, events and ground-truth effects, and
its link: the base Wi-Fi-class link, or a real link trace (mahimahi format) replayed through a
FIFO bottleneck. Every policy then runs it from fresh planner state with the same seed, on a
virtual clock (:mod:`sciot.sim._virtual`), learning only what a deployed edge would learn
(:class:`~sciot.planner.ObservationChannel`). Policies of a scenario are scored on the same
simulated span (:mod:`sciot.sim._span`). Two bounds run beside them: ``oracle``, the best
fixed cut in hindsight, and ``oracle-dynamic``, the best cut for each request given the
realised world; ``regret`` and ``regret_dynamic`` are a policy's mean latency over theirs.
Outputs: ``<scenario>.csv`` (one row per inference), ``summary.csv``, ``op_times.csv`` and
``run.json``. With ``RunConfig(emulation="live")`` the same scenarios run through a real edge
and real device clients instead (``_live``), writing the same files.
"""

from __future__ import annotations

import functools
import math
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from sciot.errors import ConfigError
from sciot.sim._outputs import (
    SUMMARY_FIELDS,
    write_metadata,
    write_op_times,
    write_rows,
    write_summary,
)
from sciot.sim._run_types import (
    EXTRA_POLICIES,
    ROW_FIELDS,
    RUN_POLICIES,
    InferenceRow,
    ProgressFn,
    RunConfig,
)
from sciot.sim._span import common_span, fastest_expected_s, plan_span
from sciot.sim._virtual import VirtualLoop
from sciot.sim.environment import ComputeModel, Environment, Link, LinkModel
from sciot.sim.netem import EMULATION_LABELS, IN_PROCESS, detect_kernel_netem, netem_fallback_note
from sciot.sim.profiles import DeviceProfile, ModelProfile, device_profile, load_or_profile
from sciot.sim.scenarios import BASE_BYTES_PER_S, BASE_RTT_S, Scenario, scenario
from sciot.sim.traces import Trace, TraceLink, read_trace
from sciot.sim.world import World

LIVE_ONLY_VIRTUAL = ("oracle-dynamic", "oracle-now")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    out_dir: Path
    summary: list[dict[str, object]]
    wall_s: float
    files: tuple[Path, ...] = field(default=())
    emulation: str = IN_PROCESS
    notes: tuple[str, ...] = ()


@functools.lru_cache(maxsize=8)
def _cached_trace(path: str) -> Trace:
    return read_trace(path)


def _link(chosen: Scenario, config: RunConfig, duration_s: float, seed: int) -> Link:
    if config.uplink_trace is not None and config.downlink_trace is not None:
        if chosen.bandwidth_steps_at:
            raise ConfigError(
                f"scenario {chosen.name!r} steps a fixed bandwidth; over a link trace the trace "
                "sets the bandwidth: choose another scenario or drop --uplink-trace"
            )
        jitter_s = chosen.network_delay.expected_s / 2
        return TraceLink(
            _cached_trace(config.uplink_trace),
            _cached_trace(config.downlink_trace),
            one_way_s=config.trace_one_way_s + jitter_s,
            cross_traffic=chosen.effects.cross_traffic,
            seed=seed,
            outages=chosen.outages(duration_s),
        )
    return LinkModel(
        rtt_s=BASE_RTT_S,
        bytes_per_s=BASE_BYTES_PER_S,
        jitter=chosen.network_delay,
        steps=chosen.link_steps(duration_s),
        outages=chosen.outages(duration_s),
    )


def build_environment(
    model: ModelProfile,
    device: DeviceProfile,
    chosen: Scenario,
    config: RunConfig,
    *,
    duration_s: float | None = None,
) -> Environment:
    """A fresh environment for one scenario (nothing is shared between scenarios)."""
    d = config.duration_s if duration_s is None else duration_s
    jitter = chosen.effects.device_jitter_cv
    device_model = ComputeModel(
        op_s=model.device_op_s(device),
        noise_cv=math.hypot(config.noise_cv, jitter),
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
    return Environment(
        space=model.space(),
        device=device_model,
        edge=edge_model,
        link=_link(chosen, config, d, config.seed),
        # A device-only request still reports its result (the model output), as SCIoT's does.
        report_bytes=model.output_bytes,
        timeout_s=config.timeout_s,
    )


def _loop(
    env: Environment,
    chosen: Scenario,
    config: RunConfig,
    device: DeviceProfile,
    span_s: float,
    tail_profile_s: tuple[float, ...] | None = None,
) -> VirtualLoop:
    world = World(env, chosen.effects, seed=zlib.crc32(f"{config.seed}/{chosen.name}".encode()))
    profile = tail_profile_s or tuple(float(s) for s in env.edge.op_s)
    return VirtualLoop(world, chosen, config, device, span_s=span_s, tail_profile_s=profile)


def run_policy(
    env: Environment,
    chosen: Scenario,
    config: RunConfig,
    device: DeviceProfile,
    policy: str,
    progress: ProgressFn | None = None,
) -> list[InferenceRow]:
    """Rows of one policy on one scenario, from fresh state, over ``config.duration_s``."""
    return _loop(env, chosen, config, device, config.duration_s).run_policy(policy, progress).rows


def summarize(
    rows: Sequence[InferenceRow],
    *,
    emulation: str = IN_PROCESS,
    spans: dict[str, float] | None = None,
) -> list[dict[str, object]]:
    """One summary row per (scenario, policy, seed); regrets against that scenario and seed's
    ``oracle`` (best fixed cut) and ``oracle-dynamic`` (best cut per request)."""
    groups: dict[tuple[str, str, int], list[InferenceRow]] = {}
    for row in rows:
        groups.setdefault((row.scenario, row.policy, row.seed), []).append(row)

    def means(bound: str) -> dict[tuple[str, int], float]:
        return {
            (s, seed): float(np.mean([r.latency_ms for r in g]))
            for (s, p, seed), g in groups.items()
            if p == bound
        }

    fixed, dynamic = means("oracle"), means("oracle-dynamic")
    summary: list[dict[str, object]] = []
    for (scenario_name, policy, seed), group in groups.items():
        latency = np.array([r.latency_ms for r in group])
        first_s = min(r.start_s for r in group)
        last_end_s = max(r.start_s + r.latency_ms / 1e3 for r in group)
        span_s = max(last_end_s - first_s, 1e-9)
        mean = float(latency.mean())
        fixed_mean = fixed.get((scenario_name, seed))
        dynamic_mean = dynamic.get((scenario_name, seed))
        summary.append(
            {
                "scenario": scenario_name,
                "policy": policy,
                "seed": seed,
                "clients": len({r.client for r in group}),
                "inferences": len(group),
                "mean_ms": mean,
                "p50_ms": float(np.percentile(latency, 50)),
                "p95_ms": float(np.percentile(latency, 95)),
                "p99_ms": float(np.percentile(latency, 99)),
                "inferences_per_s": len(group) / span_s,
                "bytes_per_inference": float(
                    np.mean([r.uplink_bytes + r.downlink_bytes for r in group])
                ),
                "energy_mj_per_inference": float(np.mean([r.energy_mj for r in group])),
                "regret": mean / fixed_mean if fixed_mean else math.nan,
                "regret_dynamic": mean / dynamic_mean if dynamic_mean else math.nan,
                "probes": sum(r.probe for r in group),
                "failed": sum(r.failed for r in group),
                "main_cut": Counter(r.cut for r in group).most_common(1)[0][0],
                "emulation": emulation,
                "span_s": (spans or {}).get(scenario_name, span_s),
            }
        )
    return summary


def run_simulation(
    config: RunConfig,
    out_dir: str | Path,
    *,
    progress: ProgressFn | None = None,
    model: ModelProfile | None = None,
    seeds: Sequence[int] | None = None,
) -> RunResult:
    """Run every configured scenario with every configured policy and seed; write the outputs.

    ``seeds`` (default: ``config.seed`` alone) repeats the whole run per seed: the noise, the
    planner's generator and the effects' draws change, the rows and summary carry the seed.
    ``config.emulation`` picks the clock and the network: ``virtual`` (on a virtual clock),
    ``live`` (a real edge and real device clients over an emulated link, see ``_live``) or
    ``netem`` (kernel emulation: not implemented, so it falls back to ``live`` with a note in
    the result and in ``run.json``).
    """
    run_seeds = tuple(int(s) for s in (seeds if seeds is not None else (config.seed,)))
    if not run_seeds or len(set(run_seeds)) != len(run_seeds):
        raise ConfigError(f"seeds must be distinct and at least one, got {list(run_seeds)}")
    requested = config.emulation
    notes: list[str] = []
    if config.emulation == "netem":
        notes.append(netem_fallback_note(detect_kernel_netem()))
        config = replace(config, emulation="live")
    if config.emulation == "live" and config.policies == RUN_POLICIES:
        live_policies = tuple(p for p in config.policies if p not in LIVE_ONLY_VIRTUAL)
        notes.append("oracle-dynamic runs only on the virtual clock: left out of this live run")
        config = replace(config, policies=live_policies)
    started = time.perf_counter()
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output directory {out}: {exc}") from exc
    device = device_profile(config.device)
    model_path = _model_path(config.model)
    model = model or load_or_profile(model_path, config.profile, name=config.model)
    all_rows: list[InferenceRow] = []
    files: list[Path] = []
    spans: dict[str, float] = {}
    for name in config.scenarios:
        chosen = scenario(name)
        rows: list[InferenceRow] = []
        for seed in run_seeds:
            seeded = replace(config, seed=seed)
            span_s, note = _span(model, device, chosen, seeded)
            if note and seed == run_seeds[0]:
                notes.append(note)
            spans[name] = span_s
            run_one = _policy_runner(seeded, model_path, device, span_s)
            runs = {
                policy: run_one(
                    build_environment(model, device, chosen, seeded, duration_s=span_s),
                    chosen,
                    policy,
                    progress,
                )
                for policy in config.policies
            }
            kept, cut_note = common_span(chosen, runs, span_s=span_s)
            if cut_note:
                notes.append(cut_note + (f" (seed {seed})" if len(run_seeds) > 1 else ""))
            rows += [row for policy in config.policies for row in kept[policy]]
        path = out / f"{name}.csv"
        write_rows(path, rows)
        files.append(path)
        all_rows += rows
    summary = summarize(all_rows, emulation=EMULATION_LABELS[config.emulation], spans=spans)
    write_summary(out / "summary.csv", summary)
    write_op_times(out / "op_times.csv", model, device)
    wall_s = time.perf_counter() - started
    write_metadata(
        out / "run.json",
        config,
        model,
        device,
        wall_s=wall_s,
        requested=requested,
        notes=notes,
        seeds=run_seeds,
        spans=spans,
    )
    files += [out / "summary.csv", out / "op_times.csv", out / "run.json"]
    return RunResult(
        out_dir=out,
        summary=summary,
        wall_s=wall_s,
        files=tuple(files),
        emulation=EMULATION_LABELS[config.emulation],
        notes=tuple(notes),
    )


def _span(
    model: ModelProfile, device: DeviceProfile, chosen: Scenario, config: RunConfig
) -> tuple[float, str | None]:
    if config.emulation == "live":
        return config.duration_s, None

    def fastest(span_s: float) -> float:
        env = build_environment(model, device, chosen, config, duration_s=span_s)
        return fastest_expected_s(env.expected_latency_s, _usable_cuts(config, model), span_s)

    return plan_span(
        chosen,
        duration_s=config.duration_s,
        requests=config.requests,
        think_s=config.think_s,
        fastest_s=fastest,
    )


def _usable_cuts(config: RunConfig, model: ModelProfile) -> list[int]:
    """The cuts the configured policies can use: all of them, unless every one is fixed."""
    n = model.num_ops
    fixed = {"edge-only": 0, "device-only": n}
    cuts: set[int] = set()
    for policy in config.policies:
        if policy in fixed:
            cuts.add(fixed[policy])
        elif policy.startswith("fixed:") and policy.removeprefix("fixed:").isdigit():
            cuts.add(min(n, int(policy.removeprefix("fixed:"))))
        else:
            return list(range(n + 1))
    return sorted(cuts)


PolicyRunner = Callable[
    [Environment, Scenario, str, ProgressFn | None], tuple[list[InferenceRow], float]
]


def _policy_runner(
    config: RunConfig, model_path: Path, device: DeviceProfile, span_s: float
) -> PolicyRunner:
    """The virtual loop, or a live runner (imported only then: it brings the edge server)."""
    if config.emulation == "live":
        from sciot.sim._live import LiveRunner, check_live

        check_live(config, [scenario(name) for name in config.scenarios])
        live = LiveRunner(config, model_path, device)

        def run_live(
            env: Environment, chosen: Scenario, policy: str, progress: ProgressFn | None
        ) -> tuple[list[InferenceRow], float]:
            rows = live.run_policy(env, chosen, policy, progress)
            return [replace(r, seed=config.seed) for r in rows], math.inf

        return run_live

    def run_virtual(
        env: Environment, chosen: Scenario, policy: str, progress: ProgressFn | None
    ) -> tuple[list[InferenceRow], float]:
        run = _loop(env, chosen, config, device, span_s).run_policy(policy, progress)
        return run.rows, run.covered_s

    return run_virtual


def total_units(config: RunConfig, seeds: int = 1) -> int:
    """Upper bound of progress units (inferences) a run reports."""
    clients = sum(scenario(s).clients for s in config.scenarios)
    return clients * config.requests * len(config.policies) * seeds


def _model_path(model: str) -> Path:
    from sciot.model import demo_model_names, demo_model_path

    if model in demo_model_names():
        return demo_model_path(model)
    path = Path(model)
    if not path.is_file():
        raise ConfigError(f"model {model!r} is neither a demo model nor a .tflite file")
    return path


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
