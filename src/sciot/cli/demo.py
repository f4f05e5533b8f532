"""``sciot demo``: an edge server and N simulated devices on loopback, live, then a summary.

The main job of the project in one command, on embedded defaults (the shipped ``fomo96`` demo
model, SQLite telemetry, no broker). The run itself is :func:`sciot.sim.demo.run_demo`; this
command parses options, shows a live table per device (cut, latency, bytes, rate) and prints
the summary (also ``--json PATH``).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer

from sciot.errors import ConfigError
from sciot.sim.demo import (
    DEFAULT_DEVICE_PROFILE,
    DEFAULT_LINK,
    DEMO_LINKS,
    LINK_CHANGE_FACTOR,
    RECENT_WINDOW,
    DemoOptions,
    DemoSummary,
    DeviceTrack,
    run_demo,
)

if TYPE_CHECKING:
    from rich.table import Table


def live_table(tracks: list[DeviceTrack], edge_url: str, *, link: str = "") -> Table:
    """Per device: mode, cut, median latency and bytes per inference over its last
    :data:`RECENT_WINDOW` inferences (so a change of cut shows within a second or two), and
    inferences/s. ``link`` (the network in force) goes under the table with what cuts mean."""
    from rich import box
    from rich.table import Table

    now_s = time.perf_counter()
    table = Table(
        title=f"sciot demo: edge {edge_url}, dashboard {edge_url}/dashboard",
        caption=_caption(tracks, link),
        box=box.SIMPLE_HEAD,
        expand=False,
    )
    table.add_column("device", no_wrap=True)
    table.add_column("mode", no_wrap=True)
    for name in ("cut", "p50 ms", "bytes/inf", "inf/s", "split", "local"):
        table.add_column(name, justify="right", no_wrap=True)
    for t in tracks:
        recent = t.latency_s[-RECENT_WINDOW:]
        p50 = f"{1000 * float(np.median(recent)):.2f}" if recent else "-"
        per_inf = f"{sum(t.recent_bytes) // len(t.recent_bytes)}" if t.recent_bytes else "-"
        table.add_row(
            t.device_id,
            t.mode,
            "-" if t.cut is None else str(t.cut),
            p50,
            per_inf,
            f"{t.rate(now_s):.0f}",
            str(t.split),
            str(t.local),
        )
    return table


def _caption(tracks: list[DeviceTrack], link: str) -> str:
    lines = [f"link: {link}"] if link else []
    num_ops = next((t.num_ops for t in tracks if t.num_ops is not None), None)
    if num_ops is not None:
        lines.append(f"cut k: ops [0, k) on the device (0: edge-only, {num_ops}: device-only)")
    return "\n".join(lines)


def _link_now(options: DemoOptions, tracks: list[DeviceTrack]) -> str:
    """The link as it is now, for the live table: the bandwidth after a change once it came."""
    link = options.demo_link
    at_s = options.link_change_at_s
    if at_s is None or link.bandwidth_mbit_s is None:
        return options.link_label()
    starts = [t.started_s for t in tracks]
    elapsed_s = time.perf_counter() - min(starts) if starts else 0.0
    if elapsed_s < at_s:
        return f"{link.describe()}; bandwidth drops {LINK_CHANGE_FACTOR:g}x at {at_s:g} s"
    slow = link.bandwidth_mbit_s / LINK_CHANGE_FACTOR
    return f"{link.name} ({slow:g} Mbit/s since {at_s:g} s, {link.rtt_ms:g} ms RTT)"


def _summary_table(summary: DemoSummary) -> Table:
    from rich.table import Table

    table = Table(title="sciot demo summary")
    table.add_column("metric")
    table.add_column("value", justify="right")
    cuts: Counter[int] = Counter()
    for _, _, device_cuts in summary.per_device:
        cuts.update(device_cuts)
    rows = [("devices", str(summary.devices))]
    emulation = summary.emulation
    if emulation is not None:
        rows += [
            ("device profile", f"{emulation.profile} (x{emulation.speed_factor:.1f} this machine)"),
            ("whole model on the device alone", f"{emulation.device_alone_ms:.2f} ms (estimate)"),
        ]
    rows += [
        ("link", summary.link_label),
        ("duration s", f"{summary.elapsed_s:.2f}"),
        ("inferences", str(summary.inferences)),
        ("split inferences", str(summary.split_inferences)),
        ("local fallbacks", str(summary.local_fallbacks)),
        ("lost", str(summary.lost)),
        ("inferences/s", f"{summary.inferences_per_s:.1f}"),
        ("latency p50 / p95 ms", f"{summary.latency_p50_ms:.3f} / {summary.latency_p95_ms:.3f}"),
        ("cuts used", ", ".join(f"{k}: {v}" for k, v in sorted(cuts.items())) or "-"),
        ("telemetry", _telemetry_label(summary)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def _telemetry_label(summary: DemoSummary) -> str:
    if summary.telemetry_path is None:
        return "not kept (pass --telemetry PATH to keep it)"
    return str(summary.telemetry_path)


def demo_command(
    devices: Annotated[int, typer.Option("--devices", "-n", help="Simulated devices.")] = 4,
    duration: Annotated[
        float, typer.Option("--duration", "-d", help="Seconds each device runs.")
    ] = 10.0,
    transport: Annotated[
        str, typer.Option("--transport", "-t", help="Device transport: http, ws, tcp, udp, mqtt.")
    ] = "http",
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the summary as JSON to this path.")
    ] = None,
    model: Annotated[str, typer.Option("--model", help="Shipped demo model.")] = "fomo96",
    policy: Annotated[
        str, typer.Option("--policy", help="Split policy: adaptive, sciot, fixed:K, ...")
    ] = "adaptive",
    telemetry: Annotated[
        Path | None, typer.Option("--telemetry", help="SQLite telemetry path (default: temp).")
    ] = None,
    live: Annotated[
        bool, typer.Option("--live/--no-live", help="Show the live per-device table.")
    ] = True,
    int8: Annotated[
        bool, typer.Option("--int8", help="Send crossing tensors as int8 activations.")
    ] = False,
    compress: Annotated[
        bool, typer.Option("--compress", help="zlib-compress crossing tensors.")
    ] = False,
    device_profile: Annotated[
        str,
        typer.Option(
            "--device-profile",
            help="Device class the devices emulate: esp32-s3, rpi-zero-2w, rpi4 or this-machine.",
        ),
    ] = DEFAULT_DEVICE_PROFILE,
    device_op_delay_ms: Annotated[
        float,
        typer.Option(
            "--device-op-delay-ms",
            help="Simulated extra time per device op (a slower device makes splitting pay).",
        ),
    ] = 0.0,
    link: Annotated[
        str,
        typer.Option(
            "--link",
            help="Emulated network between each device and the edge: "
            + ", ".join(v.describe() for v in DEMO_LINKS.values())
            + ". Where the figures come from: docs/design.md, 'demo links'.",
        ),
    ] = DEFAULT_LINK,
    link_change_at: Annotated[
        float | None,
        typer.Option(
            "--link-change-at",
            help=f"Seconds into the run at which the link's bandwidth drops "
            f"{LINK_CHANGE_FACTOR:g}x (watch the cut move).",
        ),
    ] = None,
    auth: Annotated[
        bool,
        typer.Option(
            "--auth", help="Provision a token per device and run the edge with device tokens on."
        ),
    ] = False,
) -> None:
    """Run an edge server and N simulated devices on loopback; live table, then a summary."""
    from rich.console import Console
    from rich.live import Live

    from sciot.sim.emulation import emulate_device

    options = DemoOptions(
        devices=devices,
        duration_s=duration,
        transport=transport,  # type: ignore[arg-type]
        model=model,
        policy=policy,
        telemetry_path=telemetry,
        int8=int8,
        compress=compress,
        device_op_delay_s=device_op_delay_ms / 1000.0,
        device_profile=device_profile,
        link=link,
        link_change_at_s=link_change_at,
        auth=auth,
    )
    console = Console()
    emulation = emulate_device(options.device_profile, options.model)
    console.print(
        f"starting the edge ({model}, policy {policy}) and {devices} device(s) over "
        f"{transport} on a {options.link_label()} link for {duration:g} s; "
        f"the devices emulate {emulation.profile}, "
        f"{emulation.speed_factor:.1f}x slower than this machine "
        f"({emulation.device_alone_ms:.2f} ms for the whole model alone) ..."
    )
    console.print(
        f"device tokens on: one provisioned per device ({devices}), every frame checked"
        if auth
        else "device authentication off (development mode); --auth turns tokens on"
    )
    from sciot.dashboard import mount_dashboard

    if live and console.is_terminal:
        with Live(console=console, refresh_per_second=4, transient=False) as display:
            summary = run_demo(
                options,
                on_tick=lambda tracks, url: display.update(
                    live_table(tracks, url, link=_link_now(options, tracks))
                ),
                emulation=emulation,
                prepare_edge=mount_dashboard,
            )
    else:
        shown: list[str] = []

        def print_dashboard_once(_tracks: object, url: str) -> None:
            if not shown:
                shown.append(url)
                console.print(f"dashboard: {url}/dashboard")

        summary = run_demo(
            options, on_tick=print_dashboard_once, emulation=emulation, prepare_edge=mount_dashboard
        )
    console.print(_summary_table(summary))
    if json_path is not None:
        try:
            json_path.write_text(json.dumps(summary.as_json(), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write --json {json_path}: {exc.strerror or exc}") from exc
        console.print(f"summary written to {json_path}")
