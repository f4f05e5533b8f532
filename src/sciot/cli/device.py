"""``sciot device``: run one device client against an edge, with status lines and a summary.

Thin by design: it reads the configuration, hands it to :func:`sciot.device.run_device`, turns
the ``sciot.device`` log into one-line status messages, prints a progress line about once a
second and a summary table at the end (``--json`` writes the same summary as JSON).
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sciot.device import DeviceClient, DeviceConfig, DeviceStats, InferenceOutcome
    from sciot.sim.demo import DemoLink
    from sciot.transport import ClientTransport


def device_command(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="Client YAML (see docs/device.md); defaults if absent."
        ),
    ] = None,
    count: Annotated[
        int | None, typer.Option("--count", "-n", min=0, help="Stop after N inferences.")
    ] = None,
    duration: Annotated[
        float | None, typer.Option("--duration", "-d", min=0.0, help="Stop after S seconds.")
    ] = None,
    edge_url: Annotated[
        str | None, typer.Option("--edge-url", help="Override the config's edge_url.")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the summary as JSON here.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the summary.")] = False,
    device_profile: Annotated[
        str | None,
        typer.Option(
            "--device-profile",
            help="Emulate a device class on this machine (esp32-s3, rpi-zero-2w, rpi4, "
            "this-machine): sets speed_factor from its published speed, as sciot demo does.",
        ),
    ] = None,
    link: Annotated[
        str | None,
        typer.Option(
            "--link",
            help="Emulate the network to the edge: loopback (not emulated), wifi (20 Mbit/s, "
            "3 ms RTT) or lte (5 Mbit/s, 40 ms RTT), as sciot demo does.",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="SCIOT_DEVICE_TOKEN",
            show_envvar=True,
            help="The device's token from `sciot token create` (the env var keeps it out of "
            "the process list).",
        ),
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option("--ca-file", help="PEM CA bundle to verify an https:// or wss:// edge."),
    ] = None,
) -> None:
    """Run a device client against an edge server (split inference, local fallback)."""
    from sciot.device import DeviceConfig, run_device

    settings = DeviceConfig.from_yaml(config) if config is not None else DeviceConfig()
    if edge_url is not None:
        changes = {"edge_url": edge_url, **_transport_of(edge_url, settings.transport)}
        settings = DeviceConfig.from_mapping(
            {**settings.model_dump(), **changes}, source="--edge-url"
        )
    if token is not None:
        settings = DeviceConfig.from_mapping(
            {**settings.model_dump(), "token": token}, source="--token/SCIOT_DEVICE_TOKEN"
        )
    if ca_file is not None:
        settings = DeviceConfig.from_mapping(
            {**settings.model_dump(), "ca_file": ca_file}, source="--ca-file"
        )
    emulated_link = _emulated_link(link)
    if device_profile is not None:
        settings = _emulate_profile(settings, device_profile)
    if count is None and duration is None:
        typer.echo("running until interrupted (Ctrl-C); use --count or --duration to bound it")
    undo_logging = _log_status_lines(quiet=quiet)
    progress = _Progress(enabled=not quiet)
    interrupted: list[int] = []
    # Ctrl-C ends the loop cleanly (offline records uploaded, summary printed) instead of
    # tearing through it; every call inside is bounded by the timeout, so the stop is prompt.
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = (
        signal.signal(signal.SIGINT, lambda signum, _frame: interrupted.append(signum))
        if on_main_thread
        else None
    )
    try:
        stats = run_device(
            settings,
            count=count,
            duration_s=duration,
            transport=_link_transport(settings, emulated_link),
            on_outcome=progress.update,
            should_stop=lambda: bool(interrupted),
        )
    finally:
        undo_logging()
        if on_main_thread:
            signal.signal(signal.SIGINT, previous)
    _print_summary(stats)
    left_device = stats.split + stats.edge_only
    mostly_local = stats.inferences >= 10 and left_device * 20 < stats.inferences
    if mostly_local and settings.speed_factor <= 1.0 and emulated_link is None:
        typer.echo(_NO_SPLIT_HINT, err=True)
    if json_path is not None:
        json_path.write_text(json.dumps(stats.as_dict(), indent=2) + "\n", encoding="utf-8")


_NO_SPLIT_HINT = (
    "sciot device: almost every inference ran on the device alone: this device is as fast as "
    "the edge (speed_factor 1) and reaches it over the bare loopback, so running the whole "
    "model here is the cheapest choice and the planner makes it; to see splitting on a "
    "development box, emulate a device class and a network, e.g. --device-profile esp32-s3 "
    "--link wifi"
)


def _emulate_profile(settings: DeviceConfig, profile: str) -> DeviceConfig:
    """``settings`` with ``speed_factor`` from a device class, timed against this machine."""
    from sciot.device import DeviceConfig
    from sciot.sim import DEVICE_PROFILES
    from sciot.sim.emulation import device_speed_factor

    if profile not in DEVICE_PROFILES:
        raise typer.BadParameter(
            f"unknown device profile {profile!r}; choose one of {', '.join(DEVICE_PROFILES)}",
            param_hint="'--device-profile'",
        )
    factor = min(device_speed_factor(profile, settings.model), 10_000.0)
    return DeviceConfig.from_mapping(
        {**settings.model_dump(), "speed_factor": factor}, source="--device-profile"
    )


def _emulated_link(name: str | None) -> DemoLink | None:
    """The named emulated network (``None`` for none or bare loopback)."""
    if name is None:
        return None
    from sciot.sim.demo import DEMO_LINKS

    if name not in DEMO_LINKS:
        raise typer.BadParameter(
            f"unknown link {name!r}; choose one of {', '.join(DEMO_LINKS)}", param_hint="'--link'"
        )
    link = DEMO_LINKS[name]
    return None if link.bandwidth_mbit_s is None else link


_URL_TRANSPORTS = {"tcp": "tcp", "udp": "udp", "mqtt": "mqtt", "mqtts": "mqtt", "ws": "ws"}
_URL_TRANSPORTS.update({"wss": "ws", "http": "http", "https": "http"})


def _transport_of(url: str, configured: str) -> dict[str, str]:
    """The transport an ``--edge-url`` names by its scheme: tcp://, udp:// and mqtt(s)://
    pick theirs; an http(s):// URL keeps a configured ``ws`` (the WebSocket URL is derived
    from it). Unknown schemes change nothing, so the settings' own check names them."""
    transport = _URL_TRANSPORTS.get(url.partition("://")[0])
    if transport is None or (transport == "http" and configured == "ws"):
        return {}
    return {"transport": transport}


def _link_transport(settings: DeviceConfig, link: DemoLink | None) -> ClientTransport | None:
    """The device's transport behind the emulated link (``None``: the plain one)."""
    if link is None:
        return None
    import numpy as np

    from sciot.device import open_transport
    from sciot.transport import EmulatedTransport

    model = link.link_model()
    assert model is not None  # only emulated links get here
    started_s = time.monotonic()
    return EmulatedTransport(
        open_transport(settings),
        model,
        rng=np.random.default_rng([settings.seed, 11]),
        clock=lambda: time.monotonic() - started_s,
    )


class _Progress:
    """One status line about once a second: rate, split share, cut, latency."""

    def __init__(self, *, enabled: bool, every_s: float = 1.0) -> None:
        self.enabled = enabled
        self.every_s = every_s
        self.last_s = time.perf_counter()
        self.last_count = 0

    def update(self, client: DeviceClient, outcome: InferenceOutcome) -> None:
        now_s = time.perf_counter()
        if not self.enabled or now_s - self.last_s < self.every_s:
            return
        stats = client.stats()
        rate = (stats.inferences - self.last_count) / (now_s - self.last_s)
        self.last_s, self.last_count = now_s, stats.inferences
        typer.echo(
            f"{stats.device_id}: {stats.inferences} inferences ({rate:.0f}/s), "
            f"split {stats.split}, local {stats.local_fallbacks}, queued {stats.queued}, "
            f"state {stats.state}, cut {outcome.cut} ({outcome.mode}), "
            f"p50 {stats.latency.p50_ms:.2f} ms"
        )


def _log_status_lines(*, quiet: bool) -> Callable[[], None]:
    """Show the client's status messages on stderr; returns the undo."""
    logger = logging.getLogger("sciot.device")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)

    def undo() -> None:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)

    return undo


def _print_summary(stats: DeviceStats) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"device {stats.device_id}", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows: list[tuple[str, str]] = [
        ("inferences", str(stats.inferences)),
        ("split", str(stats.split)),
        ("device-only", str(stats.device_only)),
        ("reported (device-only)", str(stats.reported)),
        ("probes alongside", str(stats.probes_alongside)),
        ("local fallbacks", str(stats.local_fallbacks)),
        ("uploaded (offline)", str(stats.uploaded)),
        ("still queued", str(stats.queued)),
        ("lost", str(stats.lost)),
        ("edge failures", str(stats.failures)),
        ("registrations", str(stats.registrations)),
        ("latency p50 / p95 ms", f"{stats.latency.p50_ms:.3f} / {stats.latency.p95_ms:.3f}"),
        ("cuts used", ", ".join(f"{k}: {v}" for k, v in sorted(stats.cuts.items())) or "-"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)
