"""Timelines: latency, cut and link of every policy over one scenario, events shaded.

One figure per scenario. The reader's question is "what did each policy do when the world
changed", so the scenario's events (outage, edge overload, device throttling, bandwidth
steps) are shaded or marked on every panel, legends sit outside the plotting area where they
cover nothing, and the time axis says whether it is simulated or wall time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sciot.analysis._events import EventWindow, scenario_events
from sciot.analysis._load import RunData
from sciot.analysis._stats import row_seed
from sciot.sim import InferenceRow

EVENT_COLORS = {
    "outage": "tab:red",
    "edge overload": "tab:orange",
    "device throttled": "tab:purple",
    "bandwidth": "dimgray",
}


def policy_colors(policies: Sequence[str]) -> dict[str, Any]:
    """One stable colour per policy, the same in every figure of a report."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return {policy: cmap(i % 10) for i, policy in enumerate(policies)}


def rolling_median(values: np.ndarray, window: int = 25) -> np.ndarray:
    """A centred rolling median: the typical latency, not one straggler's."""
    if len(values) < window:
        return values
    padded = np.pad(values, (window // 2, window - 1 - window // 2), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, window)
    smoothed: np.ndarray = np.median(windows, axis=1)
    return smoothed


def _first_trace(rows: Sequence[InferenceRow]) -> list[InferenceRow]:
    """The rows of the first seed's first client: one continuous trace to draw."""
    seed, client = row_seed(rows[0]), rows[0].client
    return [r for r in rows if row_seed(r) == seed and r.client == client]


def plot_timeline(plt: Any, data: RunData, scenario: str) -> Any:
    """Latency (rolling median), cut and true link bandwidth over time, events shaded."""
    fig, (ax_lat, ax_cut, ax_bw) = plt.subplots(
        3, 1, figsize=(11, 7), sharex=True, gridspec_kw={"height_ratios": [3, 2, 1]}
    )
    groups: dict[str, list[InferenceRow]] = {}
    for row in data.rows:
        if row.scenario == scenario:
            groups.setdefault(row.policy, []).append(row)
    colors = policy_colors(data.policies)
    longest: list[InferenceRow] = []
    for policy, rows in groups.items():
        trace = _first_trace(rows)
        t = np.array([r.start_s for r in trace])
        latency = rolling_median(np.array([r.latency_ms for r in trace]))
        ax_lat.plot(t, latency, label=policy, lw=1.1, color=colors[policy])
        ax_cut.step(t, [r.cut for r in trace], where="post", lw=1.0, color=colors[policy])
        if not longest or trace[-1].start_s > longest[-1].start_s:
            longest = trace
    t = np.array([r.start_s for r in longest])
    ax_bw.plot(t, np.array([r.true_bytes_per_s for r in longest]) * 8 / 1e6, color="black", lw=1)
    events = scenario_events(scenario, data.span_s(scenario))
    handles = _mark_events(plt, (ax_lat, ax_cut, ax_bw), events)
    ax_lat.set_ylabel("latency ms\n(rolling median of 25)")
    ax_lat.set_yscale("log")
    ax_lat.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="policy")
    if handles:
        ax_cut.legend(
            handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="event"
        )
    ax_cut.set_ylabel("cut\n(ops on the device)")
    ax_bw.set_ylabel("link\nMbit/s")
    ax_bw.set_ylim(bottom=0)
    clock = "wall time since the run started" if data.live else "simulated time"
    ax_bw.set_xlabel(f"{clock}, s")
    first = next(iter(groups.values()))[0]
    ax_lat.set_title(
        f"{scenario}: what each policy did over time (seed {row_seed(first)}, {first.client})"
    )
    fig.tight_layout()
    return fig


def _mark_events(plt: Any, axes: Sequence[Any], events: Sequence[EventWindow]) -> list[Any]:
    """Shade windows and draw steps on every axis; legend handles, one per kind."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: dict[str, Any] = {}
    for event in events:
        color = EVENT_COLORS.get(event.kind, "gray")
        for ax in axes:
            if event.end_s > event.start_s:
                ax.axvspan(event.start_s, event.end_s, color=color, alpha=0.12, lw=0)
            else:
                ax.axvline(event.start_s, color=color, ls="--", lw=0.9)
        axes[-1].annotate(
            event.label,
            (event.start_s, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -10),
            textcoords="offset points",
            fontsize=7,
            color=color,
        )
        if event.kind not in handles:
            handles[event.kind] = (
                Patch(color=color, alpha=0.3, label=event.kind)
                if event.end_s > event.start_s
                else Line2D([], [], color=color, ls="--", label=f"{event.kind} step")
            )
    return list(handles.values())


__all__ = ["EVENT_COLORS", "plot_timeline", "policy_colors", "rolling_median"]
