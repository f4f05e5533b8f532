"""The words around the figures: the run's configuration and what each figure shows.

A figure read without its run's configuration (how many seeds, which emulation, how many
requests) invites wrong conclusions, and one without a caption leaves its marks unexplained.
Both are written here from the run's own metadata, so they always match the run.
"""

from __future__ import annotations

from sciot.analysis._load import RunData

NO_ORACLE = (
    "no regret figure: regret is measured against the oracle policy, which this run did not "
    "include (add --policy oracle)"
)


def config_rows(data: RunData) -> list[tuple[str, str]]:
    """(what, value) lines for the report's header, from ``run.json``."""
    meta = data.meta
    config = meta.get("config", {})
    device = meta.get("device_profile", {})
    netem = meta.get("kernel_netem", {})
    seeds = data.seeds
    return [
        ("scenarios", f"{len(data.scenarios)}: {', '.join(data.scenarios)}"),
        ("policies", f"{len(data.policies)}: {', '.join(data.policies)}"),
        ("seeds", f"{len(seeds)}: {', '.join(str(s) for s in seeds)}"),
        ("requests", f"up to {config.get('requests')} per client, policy and seed"),
        ("duration", f"{config.get('duration_s')} s per scenario and policy"),
        ("emulation", str(meta.get("emulation"))),
        (
            "kernel netem",
            f"available: {netem.get('available')} ({netem.get('reason')}); "
            f"used: {netem.get('used', False)}",
        ),
        (
            "device profile",
            f"{device.get('name')}, x{float(device.get('scale', 0) or 0):.1f} this machine "
            f"({device.get('source')})",
        ),
        ("model", str(meta.get("model", {}).get("name"))),
        ("link", _mapping_line(meta.get("link"))),
        ("wall time", f"{float(meta.get('wall_s', 0) or 0):.1f} s"),
    ]


def _mapping_line(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def caption(stem: str, data: RunData) -> str:
    """What the figure saved as ``<stem>.png`` shows and how to read it."""
    seeds = len(data.seeds)
    spread = (
        f"Bars are means over {seeds} seeds with 95% confidence intervals."
        if seeds > 1
        else "One seed, so no confidence intervals."
    )
    if stem.startswith("timeline_"):
        clock = "wall time" if data.live else "simulated time"
        return (
            f"{stem.removeprefix('timeline_')}: rolling median latency (log scale), the cut "
            f"each policy chose and the true link bandwidth over {clock}, for the first seed's "
            "first client. Shaded: edge outage (red), edge overload (orange), device throttled "
            "(purple); dashed: a bandwidth step."
        )
    captions = {
        "breakdown": "Mean time per inference split into device, edge, network and queueing "
        "time, per scenario (one panel each, on its own scale) and policy; the number at the "
        "end of a bar is the mean latency"
        + (" with its 95% interval over seeds." if seeds > 1 else "."),
        "distributions": "Latency per inference over all seeds and clients: the box spans "
        "p25 to p75 with the median inside, the whiskers reach p5 and p95, the diamond is p99; "
        "a panel switches to a log scale when its p99 is more than 20x its p5.",
        "throughput": "Inferences per second of each run, over the time its inferences "
        f"spanned. {spread}",
        "bytes": "Bytes on the wire per inference, request and reply together (0 for "
        f"device-only). {spread}",
        "regret": "Mean latency of each policy divided by an oracle's in the same scenario "
        "and seed, one grid per oracle that ran: the best fixed cut in hindsight (oracle) and "
        "the best cut for each request (oracle-dynamic, a lower bound no policy can beat on "
        "average). 1.00 is as good as that oracle, green "
        "below, red above; the target is to stay within 5% (1.05). Below 1 is possible where "
        "the world changes mid-run, since a policy that switches cuts can beat every fixed "
        "cut." + (" Values are means ± 95% intervals over seeds." if seeds > 1 else ""),
        "op_times": "Each op's time on the emulated device and on the edge (log scale), and "
        "the bytes that would cross a cut placed after it.",
    }
    return captions.get(stem, stem)


__all__ = ["NO_ORACLE", "caption", "config_rows"]
