"""Summary table, plots and a self-contained HTML report for one simulation run.

The summary is recomputed from the raw rows with :func:`sciot.sim.summarize`, the same code
the runner used, so ``analysis/summary.csv`` must equal the run's ``summary.csv``. Plots are
drawn with matplotlib's Agg backend, imported only here (extra ``analysis``); the HTML embeds
every PNG as base64 so the report is one file that can be mailed or archived.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sciot.analysis._load import RunData, load_run
from sciot.errors import ConfigError, MissingExtraError
from sciot.sim import InferenceRow, summarize, write_summary

TABLE_COLUMNS = (
    ("scenario", "scenario", "{}"),
    ("policy", "policy", "{}"),
    ("inferences", "n", "{}"),
    ("mean_ms", "mean ms", "{:.2f}"),
    ("p50_ms", "p50 ms", "{:.2f}"),
    ("p95_ms", "p95 ms", "{:.2f}"),
    ("p99_ms", "p99 ms", "{:.2f}"),
    ("inferences_per_s", "inf/s", "{:.1f}"),
    ("bytes_per_inference", "bytes/inf", "{:.0f}"),
    ("energy_mj_per_inference", "mJ/inf", "{:.2f}"),
    ("regret", "regret", "{:.3f}"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    out_dir: Path
    summary: list[dict[str, object]]
    summary_csv: Path
    plots: tuple[Path, ...]
    html: Path
    table: str


def analyze_run(run_dir: str | Path, *, out_dir: str | Path | None = None) -> Report:
    """Recompute the summary from the raw rows, draw the plots and write ``report.html``."""
    data = load_run(run_dir)
    out = Path(out_dir) if out_dir is not None else data.run_dir / "analysis"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create report directory {out}: {exc}") from exc
    summary = summarize(data.rows)
    summary_csv = out / "summary.csv"
    write_summary(summary_csv, summary)
    plots = draw_plots(data, out)
    table = format_table(summary)
    report_html = out / "report.html"
    report_html.write_text(_html(data, summary, plots))
    return Report(
        out_dir=out,
        summary=summary,
        summary_csv=summary_csv,
        plots=plots,
        html=report_html,
        table=table,
    )


def format_table(summary: Sequence[dict[str, object]]) -> str:
    """A plain-text table, one line per scenario and policy."""
    header = [label for _, label, _ in TABLE_COLUMNS]
    lines = [[fmt.format(row[key]) for key, _, fmt in TABLE_COLUMNS] for row in summary]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    out = [" ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out += [" ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


def markdown_table(summary: Sequence[dict[str, object]]) -> str:
    """The same table in Markdown, for docs."""
    header = "| " + " | ".join(label for _, label, _ in TABLE_COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in TABLE_COLUMNS) + "|"
    body = [
        "| " + " | ".join(fmt.format(row[key]) for key, _, fmt in TABLE_COLUMNS) + " |"
        for row in summary
    ]
    return "\n".join([header, rule, *body])


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise MissingExtraError("matplotlib", "analysis", "Drawing the report's plots") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_plots(data: RunData, out: Path) -> tuple[Path, ...]:
    plt = _pyplot()
    drawers: list[tuple[str, Callable[[Any, RunData], Any]]] = [
        ("breakdown.png", _plot_breakdown),
        ("distributions.png", _plot_distributions),
        ("throughput.png", _plot_throughput),
        ("bytes.png", _plot_bytes),
        ("regret.png", _plot_regret),
    ]
    if data.op_times:
        drawers.append(("op_times.png", _plot_op_times))
    paths = []
    for scenario in data.scenarios:
        paths.append(
            _save(plt, _plot_timeline(plt, data, scenario), out / f"timeline_{scenario}.png")
        )
    for name, draw in drawers:
        paths.append(_save(plt, draw(plt, data), out / name))
    return tuple(paths)


def _save(plt: Any, figure: Any, path: Path) -> Path:
    figure.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(figure)
    return path


def _group(rows: Sequence[InferenceRow], scenario: str) -> dict[str, list[InferenceRow]]:
    groups: dict[str, list[InferenceRow]] = {}
    for row in rows:
        if row.scenario == scenario:
            groups.setdefault(row.policy, []).append(row)
    return groups


def _rolling_median(values: np.ndarray, window: int = 25) -> np.ndarray:
    if len(values) < window:
        return values
    padded = np.pad(values, (window // 2, window - 1 - window // 2), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, window)
    smoothed: np.ndarray = np.median(windows, axis=1)
    return smoothed


def _plot_timeline(plt: Any, data: RunData, scenario: str) -> Any:
    """Latency over time per policy, the cut each chose, and the true link underneath."""
    fig, (ax_lat, ax_cut, ax_bw) = plt.subplots(
        3, 1, figsize=(10, 7), sharex=True, gridspec_kw={"height_ratios": [3, 2, 1]}
    )
    groups = _group(data.rows, scenario)
    for policy, rows in groups.items():
        rows = [r for r in rows if r.client == rows[0].client]
        t = np.array([r.start_s for r in rows])
        ax_lat.plot(t, _rolling_median(np.array([r.latency_ms for r in rows])), label=policy, lw=1)
        ax_cut.step(t, [r.cut for r in rows], where="post", label=policy, lw=1)
    any_rows = max(groups.values(), key=lambda rows: rows[-1].start_s)
    t = np.array([r.start_s for r in any_rows])
    ax_bw.plot(t, np.array([r.true_bytes_per_s for r in any_rows]) * 8 / 1e6, color="black", lw=1)
    ax_lat.set_ylabel("latency ms\n(rolling median)")
    ax_lat.set_yscale("log")
    ax_lat.legend(fontsize=7, ncol=3)
    ax_cut.set_ylabel("cut")
    ax_bw.set_ylabel("link Mbit/s")
    ax_bw.set_xlabel("virtual time s (first client)")
    ax_lat.set_title(f"{scenario}: latency, cut and bandwidth over time")
    return fig


def _plot_breakdown(plt: Any, data: RunData) -> Any:
    """Mean device, edge, network and queue time per scenario and policy."""
    scenarios, policies = data.scenarios, data.policies
    fig, ax = plt.subplots(figsize=(max(10, len(scenarios) * 1.3), 5))
    width = 0.8 / len(policies)
    parts = ("device_ms", "edge_ms", "network_ms", "queue_ms")
    colors = ("tab:blue", "tab:orange", "tab:green", "tab:red")
    for j, policy in enumerate(policies):
        bottoms = np.zeros(len(scenarios))
        for part, color in zip(parts, colors, strict=True):
            values = np.array(
                [
                    np.mean([getattr(r, part) for r in _group(data.rows, s).get(policy, [])] or [0])
                    for s in scenarios
                ]
            )
            if part == "network_ms":
                queue = np.array(
                    [
                        np.mean([r.queue_ms for r in _group(data.rows, s).get(policy, [])] or [0])
                        for s in scenarios
                    ]
                )
                values = values - queue  # the runner folds queueing into network time
            x = np.arange(len(scenarios)) + j * width
            ax.bar(
                x,
                values,
                width,
                bottom=bottoms,
                color=color,
                edgecolor="white",
                lw=0.3,
                label=part.removesuffix("_ms") if j == 0 else None,
            )
            bottoms += values
    ax.set_xticks(np.arange(len(scenarios)) + 0.4 - width / 2)
    ax.set_xticklabels(scenarios, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("mean ms per inference")
    ax.set_title(
        "device vs edge vs network time (bars in policy order: " + ", ".join(policies) + ")"
    )
    ax.legend()
    return fig


def _grid(plt: Any, count: int) -> tuple[Any, list[Any]]:
    cols = min(4, count)
    rows = math.ceil(count / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    flat = [ax for line in axes for ax in line]
    for ax in flat[count:]:
        ax.set_visible(False)
    return fig, flat[:count]


def _plot_distributions(plt: Any, data: RunData) -> Any:
    fig, axes = _grid(plt, len(data.scenarios))
    for ax, scenario in zip(axes, data.scenarios, strict=True):
        groups = _group(data.rows, scenario)
        ax.boxplot([[r.latency_ms for r in g] for g in groups.values()], showfliers=False)
        ax.set_xticks(range(1, len(groups) + 1), list(groups), rotation=45, fontsize=7)
        ax.set_title(scenario, fontsize=9)
        ax.set_ylabel("latency ms", fontsize=8)
    fig.tight_layout()
    return fig


def _bar_per_policy(plt: Any, data: RunData, key: str, ylabel: str, title: str) -> Any:
    summary = summarize(data.rows)
    scenarios, policies = data.scenarios, data.policies
    fig, ax = plt.subplots(figsize=(max(10, len(scenarios) * 1.3), 4.5))
    width = 0.8 / len(policies)
    lookup = {(str(r["scenario"]), str(r["policy"])): r for r in summary}
    for j, policy in enumerate(policies):
        values = [
            _number(lookup[(s, policy)][key]) if (s, policy) in lookup else 0 for s in scenarios
        ]
        ax.bar(np.arange(len(scenarios)) + j * width, values, width, label=policy)
    ax.set_xticks(np.arange(len(scenarios)) + 0.4 - width / 2)
    ax.set_xticklabels(scenarios, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=3)
    return fig


def _plot_throughput(plt: Any, data: RunData) -> Any:
    return _bar_per_policy(plt, data, "inferences_per_s", "inferences / s", "throughput")


def _plot_bytes(plt: Any, data: RunData) -> Any:
    return _bar_per_policy(
        plt, data, "bytes_per_inference", "bytes / inference", "bytes on the request path"
    )


def _plot_regret(plt: Any, data: RunData) -> Any:
    fig = _bar_per_policy(
        plt, data, "regret", "mean latency / oracle best fixed", "regret vs the oracle"
    )
    fig.axes[0].axhline(1.05, color="black", lw=0.8, ls="--")
    return fig


def _plot_op_times(plt: Any, data: RunData) -> Any:
    ops = [int(r["op"]) for r in data.op_times]
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.bar(np.array(ops) - 0.2, [r["device_us"] for r in data.op_times], 0.4, label="device")
    ax.bar(np.array(ops) + 0.2, [r["edge_us"] for r in data.op_times], 0.4, label="edge")
    ax.set_yscale("log")
    ax.set_xlabel("op")
    ax.set_ylabel("time per op, us")
    twin = ax.twinx()
    twin.plot(ops, [r["crossing_bytes_after"] for r in data.op_times], color="black", marker=".")
    twin.set_ylabel("bytes crossing after the op")
    ax.legend(loc="upper right")
    ax.set_title("per-op times (device profile vs edge) and tensor sizes")
    return fig


def _html(data: RunData, summary: Sequence[dict[str, object]], plots: Sequence[Path]) -> str:
    meta = data.meta
    head = [f"<th>{html.escape(label)}</th>" for _, label, _ in TABLE_COLUMNS]
    body = []
    for row in summary:
        cells = [f"<td>{html.escape(fmt.format(row[key]))}</td>" for key, _, fmt in TABLE_COLUMNS]
        body.append("<tr>" + "".join(cells) + "</tr>")
    images = []
    for path in plots:
        encoded = base64.b64encode(path.read_bytes()).decode("ascii")
        images.append(
            f"<h3>{html.escape(path.stem)}</h3><img alt='{html.escape(path.stem)}' "
            f"src='data:image/png;base64,{encoded}'>"
        )
    device = meta.get("device_profile", {})
    netem = meta.get("kernel_netem", {})
    reason = html.escape(str(netem.get("reason")))
    device_name = html.escape(str(device.get("name")))
    facts = [
        f"emulation: {html.escape(str(meta.get('emulation')))}",
        f"kernel netem available: {netem.get('available')} ({reason}); not used",
        f"device profile: {device_name}, scale x{device.get('scale', 0):.1f}"
        f" ({html.escape(str(device.get('source')))})",
        f"model: {html.escape(str(meta.get('model', {}).get('name')))}",
        f"link: {html.escape(json_line(meta.get('link')))}",
    ]
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>sciot run report</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px;text-align:right}"
        "img{max-width:100%}</style></head><body>"
        f"<h1>sciot run report</h1><p>{html.escape(str(data.run_dir))}</p><ul>"
        + "".join(f"<li>{fact}</li>" for fact in facts)
        + "</ul><h2>Summary</h2><table><tr>"
        + "".join(head)
        + "</tr>"
        + "".join(body)
        + "</table><h2>Plots</h2>"
        + "".join(images)
        + "</body></html>"
    )


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def json_line(value: object) -> str:
    return (
        ", ".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else str(value)
    )


__all__ = [
    "Report",
    "analyze_run",
    "draw_plots",
    "format_table",
    "markdown_table",
]
