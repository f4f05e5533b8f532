"""Summary table, figures and a self-contained HTML report for one simulation run.

The summary is recomputed from the raw rows with :func:`sciot.sim.summarize`, the same code
the runner used, so ``analysis/summary.csv`` must equal the run's ``summary.csv``. Figures are
drawn with matplotlib's Agg backend (extra ``analysis``) by ``_figures`` and ``_timeline``;
the HTML opens with the run's configuration, puts a caption under every figure and embeds
each PNG as base64, so the report is one file that can be mailed or archived.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sciot.analysis._captions import NO_ORACLE, caption, config_rows
from sciot.analysis._figures import (
    plot_breakdown,
    plot_distributions,
    plot_metric,
    plot_op_times,
    plot_regret,
    throughput,
    wire_bytes,
)
from sciot.analysis._load import RunData, load_run
from sciot.analysis._timeline import plot_timeline
from sciot.errors import ConfigError, MissingExtraError
from sciot.sim import summarize, write_summary

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
    ("regret_dynamic", "regret dyn", "{:.3f}"),
    ("span_s", "span s", "{:.1f}"),
)


def cell(row: dict[str, object], key: str, fmt: str) -> str:
    """One table cell; a regret whose oracle did not run (NaN) reads ``n/a``."""
    value = row.get(key, math.nan)
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    return fmt.format(value)


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
    summary = _summarize(data)
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


def table_columns(summary: Sequence[dict[str, object]]) -> tuple[tuple[str, str, str], ...]:
    """The table's columns: with a seed column when the rows come from several seeds."""
    if len({row.get("seed") for row in summary}) > 1:
        return (*TABLE_COLUMNS[:2], ("seed", "seed", "{}"), *TABLE_COLUMNS[2:])
    return TABLE_COLUMNS


def format_table(summary: Sequence[dict[str, object]]) -> str:
    """A plain-text table, one line per scenario and policy (and seed, with several)."""
    columns = table_columns(summary)
    header = [label for _, label, _ in columns]
    lines = [[cell(row, key, fmt) for key, _, fmt in columns] for row in summary]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    out = [" ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out += [" ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


def markdown_table(summary: Sequence[dict[str, object]]) -> str:
    """The same table in Markdown, for docs."""
    columns = table_columns(summary)
    header = "| " + " | ".join(label for _, label, _ in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = [
        "| " + " | ".join(cell(row, key, fmt) for key, _, fmt in columns) + " |" for row in summary
    ]
    return "\n".join([header, rule, *body])


def _summarize(data: RunData) -> list[dict[str, object]]:
    """The runner's own summary of these rows, with the labels the run recorded."""
    options: dict[str, Any] = {}
    if isinstance(data.meta.get("emulation"), str):
        options["emulation"] = data.meta["emulation"]
    if isinstance(data.meta.get("spans_s"), dict):
        options["spans"] = {str(k): float(v) for k, v in data.meta["spans_s"].items()}
    return summarize(data.rows, **options)


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise MissingExtraError("matplotlib", "analysis", "Drawing the report's plots") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_plots(data: RunData, out: Path) -> tuple[Path, ...]:
    """Write every figure of the report as a PNG; a figure with nothing to show is left out."""
    plt = _pyplot()
    drawers: list[tuple[str, Callable[[Any, RunData], Any]]] = [
        ("breakdown.png", plot_breakdown),
        ("distributions.png", plot_distributions),
        ("throughput.png", _plot_throughput),
        ("bytes.png", _plot_bytes),
        ("regret.png", plot_regret),
    ]
    if data.op_times:
        drawers.append(("op_times.png", plot_op_times))
    paths = []
    for scenario in data.scenarios:
        paths.append(
            _save(plt, plot_timeline(plt, data, scenario), out / f"timeline_{scenario}.png")
        )
    for name, draw in drawers:
        figure = draw(plt, data)
        if figure is None:
            (out / name).unlink(missing_ok=True)  # no stale figure from an earlier analysis
            continue
        paths.append(_save(plt, figure, out / name))
    return tuple(paths)


def _save(plt: Any, figure: Any, path: Path) -> Path:
    figure.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(figure)
    return path


def _plot_throughput(plt: Any, data: RunData) -> Any:
    return plot_metric(
        plt, data, throughput, "inferences / s", "throughput: inferences per second per run"
    )


def _plot_bytes(plt: Any, data: RunData) -> Any:
    return plot_metric(
        plt, data, wire_bytes, "bytes / inference", "bytes on the wire per inference (up + down)"
    )


_ALIGN_LEFT = " class='k'"


def _html(data: RunData, summary: Sequence[dict[str, object]], plots: Sequence[Path]) -> str:
    columns = table_columns(summary)
    head = [f"<th>{html.escape(label)}</th>" for _, label, _ in columns]
    body = []
    for row in summary:
        cells = [
            f"<td{_ALIGN_LEFT if key in ('scenario', 'policy') else ''}>"
            f"{html.escape(cell(row, key, fmt))}</td>"
            for key, _, fmt in columns
        ]
        body.append("<tr>" + "".join(cells) + "</tr>")
    figures = []
    for path in plots:
        encoded = base64.b64encode(path.read_bytes()).decode("ascii")
        figures.append(
            f"<figure><h3>{html.escape(path.stem)}</h3><img alt='{html.escape(path.stem)}' "
            f"src='data:image/png;base64,{encoded}'>"
            f"<figcaption>{html.escape(caption(path.stem, data))}</figcaption></figure>"
        )
    notes = [str(n) for n in data.meta.get("notes", [])]
    if not any(p.stem == "regret" for p in plots):
        notes.append(NO_ORACLE)
    seeds = len(data.seeds)
    table_note = (
        f"One row per scenario, policy and seed ({seeds} seeds); the figures combine the seeds "
        "into means with 95% confidence intervals."
        if seeds > 1
        else "One row per scenario and policy (one seed: no confidence intervals)."
    )
    config = "".join(
        f"<tr><th class='k'>{html.escape(k)}</th><td class='k'>{html.escape(v)}</td></tr>"
        for k, v in config_rows(data)
    )
    note_list = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>sciot run report</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:1400px}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;"
        "font-size:12px;text-align:right}th.k,td.k{text-align:left}img{max-width:100%}"
        "figure{margin:1.5em 0}figcaption{color:#333;font-size:13px;max-width:70em}</style>"
        f"</head><body><h1>sciot run report</h1><p>{html.escape(str(data.run_dir))}</p>"
        f"<h2>Run configuration</h2><table>{config}</table>"
        + (f"<h3>Notes</h3><ul>{note_list}</ul>" if notes else "")
        + f"<h2>Summary</h2><p>{html.escape(table_note)}</p><table><tr>"
        + "".join(head)
        + "</tr>"
        + "".join(body)
        + "</table><h2>Figures</h2>"
        + "".join(figures)
        + "</body></html>"
    )


__all__ = [
    "Report",
    "analyze_run",
    "draw_plots",
    "format_table",
    "markdown_table",
]
