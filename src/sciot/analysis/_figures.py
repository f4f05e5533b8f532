"""The comparison figures: one small panel per scenario, one labelled bar per policy.

A run has a dozen or more scenarios and five to nine policies; one chart of a hundred bars
in policy order asks the reader to count colours. Each figure here is a grid of panels, one per
scenario, each with its own scale (so the largest value of one scenario never flattens
another's or runs off the top), policies named on the axis, and no legend over the data. With
several seeds, bars are per-seed means with 95% confidence intervals.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from sciot.analysis._load import RunData
from sciot.analysis._stats import Estimate, estimate, mean_of, per_seed, row_seed
from sciot.analysis._timeline import policy_colors
from sciot.sim import InferenceRow

Rows = Sequence[InferenceRow]
PARTS = (
    ("device", "tab:blue"),
    ("edge", "tab:orange"),
    ("network", "tab:green"),
    ("queue", "tab:red"),
)


def group_rows(data: RunData) -> dict[tuple[str, str], list[InferenceRow]]:
    """Rows by (scenario, policy), every seed and client together."""
    groups: dict[tuple[str, str], list[InferenceRow]] = {}
    for row in data.rows:
        groups.setdefault((row.scenario, row.policy), []).append(row)
    return groups


def _grid(plt: Any, count: int, *, panel_h: float, cols: int = 3) -> tuple[Any, list[Any]]:
    cols = max(1, min(cols, count))
    rows = math.ceil(count / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.8 * cols, panel_h * rows + 0.9), squeeze=False)
    flat = [ax for line in axes for ax in line]
    for ax in flat[count:]:
        ax.set_visible(False)
    return fig, flat[:count]


def _leave_room_for_title(fig: Any) -> None:
    """Lay the panels out below the figure's title (tight_layout alone ignores it)."""
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 1.0 - 0.4 / fig.get_figheight()))


def _panel_height(data: RunData) -> float:
    return 0.9 + 0.24 * len(data.policies)


def throughput(rows: Rows) -> float:
    """Inferences per second over the time they spanned (as the runner's summary counts)."""
    first = min(r.start_s for r in rows)
    last = max(r.start_s + r.latency_ms / 1e3 for r in rows)
    return len(rows) / max(last - first, 1e-9)


def wire_bytes(rows: Rows) -> float:
    return float(np.mean([r.uplink_bytes + r.downlink_bytes for r in rows]))


def plot_metric(
    plt: Any, data: RunData, statistic: Callable[[Rows], float], xlabel: str, title: str
) -> Any:
    """One horizontal bar per policy in each scenario's panel, value printed at its end."""
    groups = group_rows(data)
    colors = policy_colors(data.policies)
    fig, axes = _grid(plt, len(data.scenarios), panel_h=_panel_height(data))
    for ax, scenario in zip(axes, data.scenarios, strict=True):
        policies = [p for p in data.policies if (scenario, p) in groups]
        values = [per_seed(groups[(scenario, p)], statistic) for p in policies]
        _bars(ax, policies, values, [colors[p] for p in policies])
        ax.set_title(scenario, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
    fig.suptitle(title, fontsize=11)
    _leave_room_for_title(fig)
    return fig


def _bars(
    ax: Any, labels: Sequence[str], values: Sequence[Estimate], colors: Sequence[Any]
) -> None:
    y = np.arange(len(labels))
    means = np.array([v.mean for v in values])
    errors = np.array([v.half_width or 0.0 for v in values])
    with_ci = any(v.half_width is not None for v in values)
    ax.barh(y, means, color=colors, xerr=errors if with_ci else None, capsize=2)
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    top = float(np.nanmax(means + errors)) if len(means) else 1.0
    ax.set_xlim(0, top * 1.3 if top > 0 else 1.0)
    for yi, value in zip(y, values, strict=True):
        ax.annotate(
            _short(value),
            (value.mean + (value.half_width or 0.0), yi),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=6.5,
        )
    ax.tick_params(axis="x", labelsize=7)


def _short(value: Estimate) -> str:
    if not math.isfinite(value.mean):
        return "n/a"
    digits = 0 if abs(value.mean) >= 100 else 1 if abs(value.mean) >= 10 else 2
    return value.text(digits)


def plot_breakdown(plt: Any, data: RunData) -> Any:
    """Where each policy's time goes: device, edge, network and queueing, stacked."""
    groups = group_rows(data)
    fig, axes = _grid(plt, len(data.scenarios), panel_h=_panel_height(data))
    for ax, scenario in zip(axes, data.scenarios, strict=True):
        policies = [p for p in data.policies if (scenario, p) in groups]
        y = np.arange(len(policies))
        left = np.zeros(len(policies))
        for part, color in PARTS:
            values = np.array([_part_ms(groups[(scenario, p)], part) for p in policies])
            ax.barh(y, values, left=left, color=color, label=part, edgecolor="white", lw=0.3)
            left += values
        totals = [per_seed(groups[(scenario, p)], mean_of("latency_ms")) for p in policies]
        for yi, total in zip(y, totals, strict=True):
            ax.annotate(
                _short(total),
                (left[yi], yi),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=6.5,
            )
        ax.set_yticks(y, policies, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, float(left.max()) * 1.3 if left.max() > 0 else 1.0)
        ax.set_title(scenario, fontsize=9)
        ax.set_xlabel("mean ms per inference", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(PARTS), bbox_to_anchor=(0.5, 1.0))
    fig.suptitle("where the time goes: device, edge, network and queueing", y=1.03, fontsize=11)
    fig.tight_layout()
    return fig


def _part_ms(rows: Rows, part: str) -> float:
    if part == "network":
        # The runner folds queueing into network time; shown apart here.
        return float(np.mean([r.network_ms - r.queue_ms for r in rows]))
    return float(np.mean([getattr(r, f"{part}_ms") for r in rows]))


def plot_distributions(plt: Any, data: RunData) -> Any:
    """Latency distributions with their tails: box p25-p75, whiskers p5-p95, p99 marked."""
    groups = group_rows(data)
    colors = policy_colors(data.policies)
    fig, axes = _grid(plt, len(data.scenarios), panel_h=_panel_height(data))
    for ax, scenario in zip(axes, data.scenarios, strict=True):
        policies = [p for p in data.policies if (scenario, p) in groups]
        stats, p99s = [], []
        for policy in policies:
            latency = np.array([r.latency_ms for r in groups[(scenario, policy)]])
            p5, p25, p50, p75, p95, p99 = np.percentile(latency, [5, 25, 50, 75, 95, 99])
            stats.append(
                {"med": p50, "q1": p25, "q3": p75, "whislo": p5, "whishi": p95, "label": policy}
            )
            p99s.append(p99)
        boxes = ax.bxp(
            stats,
            orientation="horizontal",
            showfliers=False,
            patch_artist=True,
            widths=0.6,
            medianprops={"color": "black", "lw": 1.2},
        )
        for patch, policy in zip(boxes["boxes"], policies, strict=True):
            patch.set_facecolor(colors[policy])
            patch.set_alpha(0.6)
        ax.scatter(p99s, np.arange(1, len(policies) + 1), marker="D", s=10, color="black")
        low = min(s["whislo"] for s in stats)
        if low > 0 and max(p99s) / low > 20:
            ax.set_xscale("log")
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=7)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_title(scenario, fontsize=9)
        ax.set_xlabel("latency ms", fontsize=8)
    fig.suptitle(
        "latency per inference: box p25-p75, line median, whiskers p5-p95, diamond p99",
        fontsize=11,
    )
    _leave_room_for_title(fig)
    return fig


REGRET_ORACLES = (
    ("oracle", "against the best fixed cut in hindsight (oracle)"),
    ("oracle-dynamic", "against the best cut per request (oracle-dynamic)"),
)


def regret_estimates(data: RunData, oracle: str = "oracle") -> dict[tuple[str, str], Estimate]:
    """Per scenario and policy: mean latency over ``oracle``'s, per seed, over seeds."""
    groups = group_rows(data)
    out: dict[tuple[str, str], Estimate] = {}
    for scenario in data.scenarios:
        bound = groups.get((scenario, oracle))
        if not bound:
            continue
        oracle_by_seed = _mean_by_seed(bound)
        for policy in data.policies:
            rows = groups.get((scenario, policy))
            if not rows:
                continue
            mine = _mean_by_seed(rows)
            ratios = [mine[s] / oracle_by_seed[s] for s in mine if oracle_by_seed.get(s)]
            out[(scenario, policy)] = estimate(ratios)
    return out


def _mean_by_seed(rows: Rows) -> dict[int, float]:
    by_seed: dict[int, list[float]] = {}
    for row in rows:
        by_seed.setdefault(row_seed(row), []).append(row.latency_ms)
    return {seed: float(np.mean(v)) for seed, v in by_seed.items()}


def plot_regret(plt: Any, data: RunData) -> Any | None:
    """Regret as scenario x policy grids of numbers, one per oracle that ran (the best fixed
    cut; the best cut per request); ``None`` when neither ran."""
    from matplotlib.colors import TwoSlopeNorm

    panels = [
        (title, found)
        for oracle, title in REGRET_ORACLES
        if (found := regret_estimates(data, oracle))
    ]
    if not panels:
        return None
    keys = {key for _, found in panels for key in found}
    scenarios = [s for s in data.scenarios if any((s, p) in keys for p in data.policies)]
    policies = [p for p in data.policies if any((s, p) in keys for s in scenarios)]
    grids = [_regret_grid(found, scenarios, policies) for _, found in panels]
    finite = np.concatenate([g[np.isfinite(g)] for g in grids])
    low = min(0.9, float(finite.min())) if finite.size else 0.9
    high = max(1.5, min(3.0, float(finite.max()))) if finite.size else 1.5
    norm = TwoSlopeNorm(vmin=low, vcenter=1.0, vmax=high)
    width = 1.25 * len(policies) + 2.5
    fig, axes = plt.subplots(
        1, len(panels), figsize=(width * len(panels) + 1.0, 0.42 * len(scenarios) + 2.0),
        squeeze=False, layout="constrained",
    )  # fmt: skip
    image = None
    for ax, (title, found), grid in zip(axes[0], panels, grids, strict=True):
        image = ax.imshow(np.clip(grid, low, high), cmap="RdYlGn_r", norm=norm, aspect="auto")
        for i, s in enumerate(scenarios):
            for j, p in enumerate(policies):
                if (s, p) in found:
                    ax.text(j, i, found[(s, p)].text(2), ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(policies)), policies, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(scenarios)), scenarios, fontsize=8)
        ax.set_title(title, fontsize=9)
    label = "regret (1 = the oracle)"
    fig.colorbar(image, ax=axes[0].tolist(), fraction=0.03, pad=0.02, label=label)
    fig.suptitle("regret: mean latency / the oracle's", fontsize=10)
    return fig


def _regret_grid(
    found: dict[tuple[str, str], Estimate], scenarios: list[str], policies: list[str]
) -> npt.NDArray[np.float64]:
    grid = np.full((len(scenarios), len(policies)), np.nan)
    for i, s in enumerate(scenarios):
        for j, p in enumerate(policies):
            if (s, p) in found:
                grid[i, j] = found[(s, p)].mean
    return grid


def plot_op_times(plt: Any, data: RunData) -> Any:
    """Each op's time on the device profile and on the edge, and the bytes after it."""
    ops = [int(r["op"]) for r in data.op_times]
    fig, ax = plt.subplots(figsize=(11, 4))
    ax.bar(np.array(ops) - 0.2, [r["device_us"] for r in data.op_times], 0.4, label="device")
    ax.bar(np.array(ops) + 0.2, [r["edge_us"] for r in data.op_times], 0.4, label="edge")
    ax.set_yscale("log")
    ax.set_xlabel("op (cut k runs ops 0..k-1 on the device)")
    ax.set_ylabel("time per op, us (log)")
    twin = ax.twinx()
    after = [r["crossing_bytes_after"] for r in data.op_times]
    (line,) = twin.plot(ops, after, color="black", marker=".", label="bytes crossing after it")
    twin.set_ylabel("bytes crossing after the op")
    handles, labels = ax.get_legend_handles_labels()
    ax.legend([*handles, line], [*labels, line.get_label()], loc="upper left",
              bbox_to_anchor=(1.08, 1.0), fontsize=8)  # fmt: skip
    ax.set_title("per-op times (device profile vs edge) and the tensor that would cross")
    fig.tight_layout()
    return fig


__all__ = [
    "group_rows",
    "plot_breakdown",
    "plot_distributions",
    "plot_metric",
    "plot_op_times",
    "plot_regret",
    "regret_estimates",
    "throughput",
    "wire_bytes",
]
