"""``sciot serve``: run the edge server until interrupted.

Reads the YAML settings (defaults when absent: the shipped ``fomo96`` model, SQLite telemetry in
the working directory, port 8000 on loopback), prepares every tail, mounts the live dashboard
(``/dashboard``), prints one line with the address once it accepts connections, and serves until
Ctrl-C.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def serve_command(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Edge settings YAML (see docs/edge.md)."),
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="Override the config's host.")] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", "-p", min=0, max=65535, help="Override the port (0: any free)."),
    ] = None,
    telemetry: Annotated[
        Path | None, typer.Option("--telemetry", help="Override the SQLite telemetry path.")
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option("--policy", help="Split policy: adaptive, sciot, fixed:K, edge-only, ..."),
    ] = None,
) -> None:
    """Serve split inference over HTTP and WebSocket (Ctrl-C to stop)."""
    from sciot.dashboard import DASHBOARD_PATH, mount_dashboard
    from sciot.edge import load_edge_config, run_edge

    settings = load_edge_config(config)
    # One override per flag, so a bad value is reported under the flag that carried it.
    settings = settings.with_overrides(source="--host/--port", host=host, port=port)
    if telemetry is not None:
        settings = settings.with_overrides(
            source="--telemetry",
            telemetry={**settings.telemetry.model_dump(), "path": str(telemetry)},
        )
    if policy is not None:
        settings = settings.with_overrides(
            source="--policy", planner={**settings.planner.model_dump(), "policy": policy}
        )
    models = ", ".join(m.label for m in settings.models)

    def ready(url: str) -> None:
        typer.echo(
            f"sciot edge: serving {models} on {url} (frames: POST /v1/frame, WS /v1/ws; "
            f"dashboard: {url}{DASHBOARD_PATH})"
        )

    run_edge(settings, on_ready=ready, prepare=mount_dashboard)
