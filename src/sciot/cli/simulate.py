"""``sciot simulate``: run the evaluation scenarios with every policy, one row per inference.

``--emulation virtual`` (the default) runs on a virtual clock in seconds; ``--emulation live``
runs a real edge and real device clients over loopback with the link emulated in the transport,
in wall time (``--duration`` seconds per scenario and policy); ``--emulation netem`` (kernel
emulation) is detected but not implemented: it runs live and says why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated

import typer


def simulate_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")],
    scenario: Annotated[
        list[str] | None,
        typer.Option("--scenario", "-s", help="Scenario name (repeatable; default: all 13)."),
    ] = None,
    policy: Annotated[
        list[str] | None,
        typer.Option(
            "--policy",
            "-p",
            help="adaptive, sciot, neurosurgeon, explore-greedy, linucb, device-only, "
            "edge-only, oracle, oracle-dynamic, oracle-now, fixed:K (repeatable; default: all "
            "but oracle-now and fixed:K).",
        ),
    ] = None,
    duration: Annotated[
        float,
        typer.Option(
            "--duration", help="Seconds per scenario and policy (virtual; wall time when live)."
        ),
    ] = 60.0,
    requests: Annotated[
        int, typer.Option("--requests", "-n", min=1, help="Inferences per client and policy.")
    ] = 5000,
    device: Annotated[
        str, typer.Option("--device", help="esp32-s3, rpi-zero-2w, rpi4 or this-machine.")
    ] = "esp32-s3",
    model: Annotated[
        str, typer.Option("--model", help="Demo model name or .tflite path.")
    ] = "fomo96",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the first (or only) run.")] = 0,
    seeds: Annotated[
        int,
        typer.Option(
            "--seeds",
            min=1,
            max=1000,
            help="Repeat every scenario and policy with this many seeds (--seed, --seed + 1, "
            "...); the analysis then shows confidence intervals over them.",
        ),
    ] = 1,
    emulation: Annotated[
        str,
        typer.Option(
            "--emulation",
            help="virtual (virtual clock), live (real edge and devices on loopback, wall "
            "time) or netem (kernel; not implemented: falls back to live, saying why).",
        ),
    ] = "virtual",
    live: Annotated[bool, typer.Option("--live", help="Shorthand for --emulation live.")] = False,
    transport: Annotated[str, typer.Option("--transport", help="Live runs: http or ws.")] = "http",
    uplink_trace: Annotated[
        Path | None,
        typer.Option(
            "--uplink-trace",
            help="Mahimahi trace of the uplink (one delivery ms per line); with "
            "--downlink-trace every scenario runs over it (default scenarios: the trace family).",
        ),
    ] = None,
    downlink_trace: Annotated[
        Path | None, typer.Option("--downlink-trace", help="Mahimahi trace of the downlink.")
    ] = None,
    profile: Annotated[
        Path | None,
        typer.Option(
            "--profile",
            help="The model's op times: read from this JSON file if it exists, else measured "
            "here and written to it, so a rerun gives the same numbers (default: measured).",
        ),
    ] = None,
) -> None:
    """Simulate scenarios x policies; writes per-scenario CSVs, summary.csv, run.json."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from sciot.sim import (
        RUN_POLICIES,
        SCENARIOS,
        TRACE_SCENARIOS,
        RunConfig,
        run_simulation,
    )
    from sciot.sim.netem import detect_kernel_netem, netem_fallback_note

    default_scenarios = TRACE_SCENARIOS if uplink_trace or downlink_trace else SCENARIOS
    config = RunConfig(
        scenarios=tuple(scenario) if scenario else tuple(default_scenarios),
        policies=tuple(policy) if policy else RUN_POLICIES,
        requests=requests,
        duration_s=duration,
        seed=seed,
        device=device,
        model=model,
        emulation="live" if live else emulation,
        live_transport=transport,
        uplink_trace=None if uplink_trace is None else str(uplink_trace),
        downlink_trace=None if downlink_trace is None else str(downlink_trace),
        profile=None if profile is None else str(profile),
    )
    if config.emulation == "netem":
        typer.echo(f"sciot simulate: {netem_fallback_note(detect_kernel_netem())}", err=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("runs"),
        transient=True,
    ) as bar:
        counter = _RunCounter(len(config.scenarios) * len(config.policies) * seeds)
        task = bar.add_task("simulating", total=counter.total)

        def advance(units: int, label: str) -> None:
            bar.update(task, completed=counter.step(units, label), description=counter.describe())

        run_seeds = tuple(range(seed, seed + seeds))
        result = run_simulation(config, out, progress=advance, seeds=run_seeds)
        bar.update(task, completed=counter.total)
    typer.echo(
        f"sciot simulate: {counter.total} scenario x policy x seed runs in {result.wall_s:.1f} s "
        f"(emulation: {result.emulation}); "
        f"results in {result.out_dir}"
    )
    for row in result.summary:
        seed_note = f" seed {row['seed']}" if seeds > 1 and "seed" in row else ""
        typer.echo(
            f"  {row['scenario']:<24} {row['policy']:<15}{seed_note} "
            f"mean {row['mean_ms']:8.2f} ms  p95 {row['p95_ms']:8.2f} ms  "
            f"regret {_ratio(row['regret'])}  regret_dynamic {_ratio(row['regret_dynamic'])}"
        )
    for line in _missing_regret_reasons(result.summary):
        typer.echo(f"  {line}")
    for note in result.notes:
        typer.echo(f"sciot simulate: note: {note}")


_NO_ORACLE = {
    "regret": "regret n/a: no oracle (best fixed cut) ran; add --policy oracle",
    "regret_dynamic": "regret_dynamic n/a: no oracle-dynamic (best cut per request) ran; "
    "add --policy oracle-dynamic (virtual clock only)",
}


def _ratio(value: object) -> str:
    """A regret, or ``n/a`` where its oracle did not run (the reason follows the table)."""
    number = float(value) if isinstance(value, int | float) else math.nan
    return f"{number:5.3f}" if math.isfinite(number) else "  n/a"


def _missing_regret_reasons(summary: Sequence[Mapping[str, object]]) -> list[str]:
    """Why a regret column shows ``n/a``: its oracle was not among the policies run."""
    reasons = []
    for key, reason in _NO_ORACLE.items():
        if any(_ratio(row.get(key)).strip() == "n/a" for row in summary):
            reasons.append(reason)
    return reasons


class _RunCounter:
    """Progress in scenario x policy x seed runs, whose number is known before the start.

    The runner reports inferences, but a run ends at its simulated span or its request budget,
    whichever comes first, so no inference total is known up front: a bar against the request
    budget stops short of it. A new label from the runner means the previous run is done; the
    inferences so far are shown beside the bar.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.finished = 0
        self.inferences = 0
        self.label = ""

    def step(self, units: int, label: str) -> int:
        if self.label and label != self.label:
            self.finished = min(self.finished + 1, self.total - 1)
        self.label = label
        self.inferences += units
        return self.finished

    def describe(self) -> str:
        return f"{self.label} ({self.inferences:,} inferences)"
