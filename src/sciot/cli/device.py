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
    from sciot.device import DeviceClient, DeviceStats, InferenceOutcome


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
) -> None:
    """Run a device client against an edge server (split inference, local fallback)."""
    from sciot.device import DeviceConfig, run_device

    settings = DeviceConfig.from_yaml(config) if config is not None else DeviceConfig()
    if edge_url is not None:
        settings = DeviceConfig.from_mapping(
            {**settings.model_dump(), "edge_url": edge_url}, source="--edge-url"
        )
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
            on_outcome=progress.update,
            should_stop=lambda: bool(interrupted),
        )
    finally:
        undo_logging()
        if on_main_thread:
            signal.signal(signal.SIGINT, previous)
    _print_summary(stats)
    if json_path is not None:
        json_path.write_text(json.dumps(stats.as_dict(), indent=2) + "\n", encoding="utf-8")


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
