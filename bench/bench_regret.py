"""The planner against reality: regret against both oracles, per link and scenario, over seeds.

Run: .venv/bin/python bench/bench_regret.py [--seeds 3] [--requests 5000] [--duration 60]
     [--out runs/regret] [--quick] [--profile docs/results/fomo96-profile.json]

Runs, on the shipped FOMO model and the ESP32-S3 profile, every policy (adaptive, sciot,
neurosurgeon, explore-greedy, linucb, device-only, edge-only), the two bounds (the best
fixed cut in hindsight, the best cut per request given the realised world) and
``oracle-now`` (the best cut per request given only the world as it stands when the request
is decided: how far knowing the present takes a policy) in the same run, same seeds:

* on the base Wi-Fi-class link: the dynamic scenarios and the named departures from the cost
  model (request overhead, shared edge, thermal, cross traffic, device jitter) plus baseline;
* on each shared cellular trace (``shared/reference/cellular-traces``, mahimahi format, read
  from there, never copied): the trace scenario family.

For each (link, scenario, policy) it prints mean and p50/p95/p99 latency (means over seeds),
``regret`` (over the best fixed cut in hindsight) and ``regret_dynamic`` (over the best cut
per request) with their spread over seeds, and, for dynamic scenarios, how many requests the
adaptive policy needs after each event to come within 10% of the dynamic oracle (over a
5-request window; client 0, the median over seeds and each seed's count). It writes a
markdown table and, per trace, a plot of the cut over time against the trace's capacity to
``--out``. Baselines are measured in the same run.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from sciot.model import demo_model_path
from sciot.sim import (
    ModelProfile,
    RunConfig,
    load_or_profile,
    read_trace,
    run_simulation,
    scenario,
)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from reference_data import reference_dir  # noqa: E402

BASE_SCENARIOS = (
    "baseline",
    "bandwidth_drop",
    "edge_overload",
    "edge_outage",
    "device_throttled",
    "request_overhead",
    "shared_edge",
    "thermal",
    "cross_traffic",
    "device_jitter",
)
TRACE_SCENARIOS = (
    "trace",
    "trace_overhead",
    "trace_shared_edge",
    "trace_thermal",
    "trace_cross_traffic",
    "trace_multi_client",
)
TRACES = ("TMobile-LTE-short", "Verizon-EVDO-driving")
POLICY_ORDER = (
    "adaptive",
    "sciot",
    "neurosurgeon",
    "explore-greedy",
    "linucb",
    "device-only",
    "edge-only",
    "oracle",
    "oracle-dynamic",
    "oracle-now",
)
BOUNDS = ("oracle", "oracle-dynamic", "oracle-now")
ALONGSIDE = "probe alongside device-only: cut "


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def reconvergence(
    rows: list[dict[str, str]], events_s: tuple[float, ...], seed: str
) -> list[int | None]:
    """Requests the adaptive policy needs after each event to get within 10% of the dynamic
    oracle's mean latency of the same phase, over 5 consecutive requests (None: never), for
    client 0 of one seed."""
    by_policy: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in rows:
        if r["client"] == "client-0" and r["seed"] == seed:
            by_policy[r["policy"]].append((float(r["start_s"]), float(r["latency_ms"])))
    adaptive, bound = by_policy["adaptive"], by_policy["oracle-dynamic"]
    edges = (0.0, *events_s, float("inf"))
    out: list[int | None] = []
    for start, end in itertools.pairwise(edges):
        ours = [lat for t, lat in adaptive if start <= t < end]
        best = [lat for t, lat in bound if start <= t < end]
        if len(ours) < 5 or not best:
            out.append(None)
            continue
        target = 1.1 * float(np.mean(best))
        window = np.convolve(ours, np.ones(5) / 5, mode="valid")
        hits = np.flatnonzero(window <= target)
        out.append(int(hits[0]) if len(hits) else None)
    return out


def probe_cost(rows: list[dict[str, str]], seeds: tuple[int, ...]) -> tuple[float, float]:
    """The adaptive policy's probes per run and what they add to its mean latency: per
    seed, the probes' latency beyond the mean of the run's other requests, over all its
    requests; both averaged over seeds. Where device-only is the dynamic oracle (the
    cellular traces), this is the whole of the policy's gap to it."""
    counts, costs = [], []
    for seed in seeds:
        ours = [r for r in rows if r["policy"] == "adaptive" and r["seed"] == str(seed)]
        probed = [float(r["latency_ms"]) for r in ours if r["probe"] == "True"]
        held = [float(r["latency_ms"]) for r in ours if r["probe"] != "True"]
        if not ours or not held:
            continue
        base = float(np.mean(held))
        counts.append(len(probed))
        costs.append(sum(lat - base for lat in probed) / len(ours))
    if not counts:
        return math.nan, math.nan
    return float(np.mean(counts)), float(np.mean(costs))


def _converge_line(per_seed: list[list[int | None]]) -> str:
    """``cold start`` then each event: the median over seeds, then each seed's count."""

    def median(counts: list[int | None]) -> str:
        known = [c for c in counts if c is not None]
        if len(known) < len(counts):
            return "never" if not known else f"{int(np.median(known))}+"
        return str(int(np.median(known)))

    phases = list(zip(*per_seed, strict=True))
    parts = [
        f"{'cold start' if i == 0 else f'event {i}'} {median(list(c))} "
        f"({', '.join('never' if x is None else str(x) for x in c)})"
        for i, c in enumerate(phases)
    ]
    return "; ".join(parts)


def model_profile(path: Path | None) -> ModelProfile:
    """The shipped FOMO model's op times: read from ``path`` when it exists, else measured
    here with LiteRT (and written to ``path``, when given). One profile serves every link,
    so the links differ by their link alone, and a stored one reproduces a table exactly."""
    stored = path is not None and path.is_file()
    profile = load_or_profile(demo_model_path("fomo96"), path, name="fomo96")
    if stored:
        print(f"op times from {path}")
    elif path is not None:
        print(f"op times measured here, written to {path}")
    return profile


def run(
    label: str,
    config: RunConfig,
    out: Path,
    seeds: tuple[int, ...],
    profile: ModelProfile | None = None,
) -> dict[str, object]:
    started = time.perf_counter()
    result = run_simulation(config, out / label, seeds=seeds, model=profile)
    wall_s = time.perf_counter() - started
    groups: dict[tuple[str, str], list[dict[str, object]]] = defaultdict(list)
    for row in result.summary:
        groups[(str(row["scenario"]), str(row["policy"]))].append(row)
    table = []
    for (name, policy), rows in groups.items():

        def mean(key: str, rows: list[dict[str, object]] = rows) -> float:
            return float(np.mean([float(r[key]) for r in rows]))  # type: ignore[arg-type]

        def spread(key: str, rows: list[dict[str, object]] = rows) -> float:
            return float(np.std([float(r[key]) for r in rows]))  # type: ignore[arg-type]

        table.append(
            {
                "link": label,
                "scenario": name,
                "policy": policy,
                "mean_ms": mean("mean_ms"),
                "p50_ms": mean("p50_ms"),
                "p95_ms": mean("p95_ms"),
                "p99_ms": mean("p99_ms"),
                "regret": mean("regret"),
                "regret_sd": spread("regret"),
                "regret_dynamic": mean("regret_dynamic"),
                "regret_dynamic_sd": spread("regret_dynamic"),
                "seed_means": {int(r["seed"]): float(r["mean_ms"]) for r in rows},  # type: ignore[call-overload, arg-type]
            }
        )
    converge = {}
    spans = json.loads((out / label / "run.json").read_text())["spans_s"]
    for name in config.scenarios:
        chosen = scenario(name)
        rows = _read(out / label / f"{name}.csv")
        probes, probe_ms = probe_cost(rows, seeds)
        for entry in table:
            if entry["scenario"] == name and entry["policy"] == "adaptive":
                entry["probes"], entry["probe_ms"] = probes, probe_ms
        if chosen.dynamic:
            events = chosen.event_times(spans[name])
            converge[name] = [reconvergence(rows, events, str(seed)) for seed in seeds]
    return {"table": table, "converge": converge, "wall_s": wall_s, "notes": result.notes}


def print_table(doc: dict[str, object]) -> list[str]:
    lines = [
        "| link | scenario | policy | mean ms | p50 | p95 | p99 | regret (fixed) | "
        "regret (dynamic) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    table = sorted(
        doc["table"],  # type: ignore[arg-type]
        key=lambda r: (r["link"], r["scenario"], POLICY_ORDER.index(r["policy"])),
    )
    for r in table:
        lines.append(
            f"| {r['link']} | {r['scenario']} | {r['policy']} | {r['mean_ms']:.2f} | "
            f"{r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['p99_ms']:.2f} | "
            f"{r['regret']:.3f} ± {r['regret_sd']:.3f} | "
            f"{r['regret_dynamic']:.3f} ± {r['regret_dynamic_sd']:.3f} |"
        )
    return lines


def paired_difference(ours: dict[str, object], theirs: dict[str, object]) -> str:
    """Adaptive minus a baseline, seed by seed (the same seed is the same world for both),
    and whether the mean difference is clear of the seeds' spread: more than two standard
    errors from zero. A difference inside it could go either way on other seeds."""
    a: dict[int, float] = ours["seed_means"]  # type: ignore[assignment]
    b: dict[int, float] = theirs["seed_means"]  # type: ignore[assignment]
    diffs = np.array([a[s] - b[s] for s in sorted(a) if s in b])
    shown = ", ".join(f"{d:+.2f}" for d in diffs)
    if len(diffs) < 2:
        return f"per seed {shown} ms"
    se = float(np.std(diffs, ddof=1)) / math.sqrt(len(diffs))
    clear = abs(float(diffs.mean())) > 2 * se
    return f"per seed {shown} ms, " + ("clear of" if clear else "within") + " the seeds' spread"


def verdicts(table: list[dict[str, object]]) -> list[str]:
    """Per (link, scenario): adaptive against the 10% target and against every baseline."""
    by: dict[tuple[object, object], dict[object, dict[str, object]]] = defaultdict(dict)
    for r in table:
        by[(r["link"], r["scenario"])][r["policy"]] = r
    lines = []
    for (link, name), rows in sorted(by.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))):
        ours = rows.get("adaptive")
        if ours is None:
            continue
        baselines = {
            p: float(r["mean_ms"])  # type: ignore[arg-type]
            for p, r in rows.items()
            if p != "adaptive" and p not in BOUNDS
        }
        best_p = min(baselines, key=baselines.__getitem__)
        mean = float(ours["mean_ms"])  # type: ignore[arg-type]
        within = float(ours["regret_dynamic"]) <= 1.10  # type: ignore[arg-type]
        ahead = mean < baselines[best_p]
        # Equal to the table's precision: where device-only is the dynamic oracle nearly all
        # the time (the traces), the best any policy can do is to equal it.
        tied = round(mean, 2) == round(baselines[best_p], 2)
        verdict = "tied" if tied else "ahead" if ahead else "BEHIND"
        line = (
            f"{link:>22} {name:<20} regret_dynamic {float(ours['regret_dynamic']):.3f} "  # type: ignore[arg-type]
            f"{'ok ' if within else 'MISS'}  best baseline {best_p} "
            f"{baselines[best_p]:.2f} ms vs {mean:.2f} ms {verdict}"
        )
        if verdict == "BEHIND" and "probes" in ours:
            line += (
                f" by {mean - baselines[best_p]:.2f} ms; its {float(ours['probes']):.0f} "  # type: ignore[arg-type]
                f"probes per run add {float(ours['probe_ms']):.2f} ms"  # type: ignore[arg-type]
            )
        if verdict != "tied":
            line += "; " + paired_difference(ours, rows[best_p])
        lines.append(line)
    return lines


def plot_cut_over_time(run_dir: Path, trace_up: Path, png: Path) -> None:
    """The cut the adaptive policy and the dynamic oracle chose, over the trace's capacity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _read(run_dir / "trace.csv")
    seed = rows[0]["seed"]
    trace = read_trace(trace_up)
    span_s = max(float(r["start_s"]) for r in rows)
    t = np.arange(0.0, span_s, 0.25)
    capacity = [trace.capacity_bytes_per_s(x, 0.25) / 1e6 for x in t]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True)
    top.fill_between(t, capacity, step="post", color="0.8", label="uplink capacity")
    top.set_ylabel("uplink MB/s")
    top.legend(loc="upper right")
    num_ops = max(int(r["cut"]) for r in rows)  # device-only is cut N
    # Adaptive last and larger, so its few probes are not hidden under the others.
    for policy, style, size in (
        ("neurosurgeon", "b.", 2),
        ("oracle-dynamic", "k.", 2),
        ("adaptive", "r.", 4),
    ):
        pts = [
            (float(r["start_s"]), int(r["cut"]))
            for r in rows
            if r["policy"] == policy and r["seed"] == seed
        ]
        if pts:
            xs, ys = zip(*pts, strict=True)
            bottom.plot(xs, ys, style, markersize=size, label=policy)
    # A probe sent alongside a device-only inference: the request's cut is device-only, the
    # probe's is named in its reason.
    alongside = [
        (float(r["start_s"]), int(r["reason"].rsplit(" ", 1)[1]))
        for r in rows
        if r["policy"] == "adaptive" and r["seed"] == seed and r["reason"].startswith(ALONGSIDE)
    ]
    if alongside:
        xs, ys = zip(*alongside, strict=True)
        bottom.plot(xs, ys, "rx", markersize=4, label="adaptive: probe alongside")
    bottom.set_ylim(-1, num_ops + 1)
    bottom.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    bottom.set_ylabel(f"cut (0 = edge-only, {num_ops} = device-only)")
    bottom.set_xlabel("scenario time, s (virtual clock)")
    bottom.legend(loc="center right", markerscale=2.5)
    fig.suptitle(f"Cut over time against the capacity of {trace_up.name} (scenario 'trace')")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "regret")
    parser.add_argument("--plots", type=Path, default=None, help="where the cut plots go")
    parser.add_argument("--quick", action="store_true", help="1 seed, 20 s, a few scenarios")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="the model's op times: read from this JSON file if it exists, else measured "
        "here and written to it (default: measured here, not kept)",
    )
    args = parser.parse_args()
    profile = model_profile(args.profile)
    seeds = tuple(range(1 if args.quick else args.seeds))
    duration = 20.0 if args.quick else args.duration
    base = BASE_SCENARIOS[:4] if args.quick else BASE_SCENARIOS
    traces = TRACE_SCENARIOS[:2] if args.quick else TRACE_SCENARIOS
    args.out.mkdir(parents=True, exist_ok=True)
    wifi = RunConfig(
        scenarios=base, policies=POLICY_ORDER, requests=args.requests, duration_s=duration
    )
    docs = [run("wifi-20Mbit", wifi, args.out, seeds, profile)]
    root = reference_dir()
    trace_dir = None if root is None else root / "cellular-traces"
    for name in TRACES:
        if trace_dir is None or not (trace_dir / f"{name}.up").is_file():
            print(f"trace {name} not found: skipped")
            continue
        up, down = trace_dir / f"{name}.up", trace_dir / f"{name}.down"
        config = RunConfig(
            scenarios=traces,
            policies=POLICY_ORDER,
            requests=args.requests,
            duration_s=duration,
            uplink_trace=str(up),
            downlink_trace=str(down),
        )
        docs.append(run(name, config, args.out, seeds, profile))
        if args.plots is not None:
            args.plots.mkdir(parents=True, exist_ok=True)
            plot_cut_over_time(args.out / name, up, args.plots / f"cut_over_time_{name}.png")
    print(
        f"fomo96 on esp32-s3, {len(seeds)} seed(s), {args.requests} requests per client, "
        f"{duration:g} s virtual per scenario; wall "
        + ", ".join(f"{d['table'][0]['link']} {d['wall_s']:.0f} s" for d in docs)  # type: ignore[index]
    )
    table = [row for d in docs for row in d["table"]]  # type: ignore[attr-defined]
    print("\n".join(print_table({"table": table})))
    print("\nadaptive against the targets (10% of the dynamic oracle; ahead of every baseline):")
    print("\n".join(verdicts(table)))
    print(
        "\nrequests after each event until adaptive is within 10% of the dynamic oracle "
        "(client 0; median over seeds, then each seed's):"
    )
    for d in docs:
        for name, per_seed in d["converge"].items():  # type: ignore[attr-defined]
            print(f"  {name:<20} {_converge_line(per_seed)}")
    for d in docs:
        for note in d["notes"]:  # type: ignore[attr-defined]
            print(f"note: {note}")


if __name__ == "__main__":
    main()
