"""Assembling and running an edge server from its configuration.

:func:`build_edge` prepares everything that is slow (loading and splitting every model, one
interpreter pool per tail, the op profile, the telemetry database) so the first request is as
fast as the thousandth. :func:`start_edge` serves it in a background thread (demo, tests,
benchmarks); :func:`run_edge` serves it in the foreground until interrupted (``sciot serve``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from sciot.edge._app import EdgeApp
from sciot.edge._config import EdgeConfig
from sciot.edge._core import EdgeCore
from sciot.edge._models import load_served_model
from sciot.edge._runner import RunningServer, bind_loopback, quiet_client_faults, serve_in_thread
from sciot.edge._slow_clients import guarded_protocol
from sciot.edge._telemetry import TelemetryWriter

# A request thread waiting for the GIL should not wait a whole default 5 ms switch interval
# behind the planner thread: the request path is made of sub-millisecond steps.
SWITCH_INTERVAL_S = 0.0005


def build_edge(config: EdgeConfig) -> EdgeApp:
    """Load and prepare every configured model and return the ASGI app serving them."""
    models = [load_served_model(m, workers=config.tail_workers) for m in config.models]
    core = EdgeCore(config, models, telemetry=None)  # validates the planner settings first
    if config.telemetry.enabled:
        core.telemetry = TelemetryWriter(
            Path(config.telemetry.path),
            flush_interval_s=config.telemetry.flush_interval_s,
            max_pending_rows=config.telemetry.max_pending_rows,
            device_share=config.limits.telemetry_device_share,
        )
    return EdgeApp(core, workers=config.tail_workers)


def _uvicorn_options(config: EdgeConfig) -> dict[str, Any]:
    limits = config.limits
    return {
        "log_level": config.log_level,
        "access_log": False,
        "lifespan": "on",
        # Between max_frame_bytes and this, a WebSocket frame gets a 413 ErrorFrame and the
        # connection lives on; beyond it uvicorn closes the connection (close code 1009).
        "ws_max_size": 2 * config.max_frame_bytes + 4096,
        "ws_per_message_deflate": False,
        "timeout_keep_alive": 30,
        # Slow clients (docs/edge.md, Limits): a cap on open connections and tasks (503
        # beyond), requests read whole within a deadline, bounded memory in unfinished
        # bodies, and a shutdown that waits for open requests only so long.
        "limit_concurrency": limits.max_connections,
        "timeout_graceful_shutdown": limits.shutdown_timeout_s,
        "http": guarded_protocol(
            AutoHTTPProtocol,
            read_timeout_s=limits.read_timeout_s,
            max_unfinished_bytes=limits.max_unfinished_bytes,
        ),
        **_tls_options(config),
    }


def _tls_options(config: EdgeConfig) -> dict[str, Any]:
    """uvicorn's TLS settings when the edge serves HTTPS/WSS (docs/edge.md, TLS)."""
    if config.tls_certfile is None:
        return {}
    return {"ssl_certfile": str(config.tls_certfile), "ssl_keyfile": str(config.tls_keyfile)}


def start_edge(
    config: EdgeConfig,
    *,
    port: int | None = None,
    prepare: Callable[[EdgeApp], object] | None = None,
) -> tuple[RunningServer, EdgeApp]:
    """Serve in a background thread on ``config.host`` (port 0 picks a free one).

    ``prepare(app)`` runs before serving: how an upper layer adds routes (the dashboard).
    """
    app = build_edge(config)
    if prepare is not None:
        prepare(app)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    server = serve_in_thread(
        app,
        host=config.host,
        port=config.port if port is None else port,
        **_uvicorn_options(config),
    )
    return server, app


def run_edge(
    config: EdgeConfig,
    *,
    on_ready: Callable[[str], None] | None = None,
    prepare: Callable[[EdgeApp], object] | None = None,
) -> None:
    """Serve in the foreground until interrupted; ``on_ready`` gets the base URL, ``prepare``
    the app before it is served (as in :func:`start_edge`)."""
    app = build_edge(config)
    if prepare is not None:
        prepare(app)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    sock = bind_loopback(config.host, config.port)
    uvicorn_config = uvicorn.Config(app, **_uvicorn_options(config))  # configures its loggers
    quiet_client_faults()
    server = uvicorn.Server(uvicorn_config)
    host, port = sock.getsockname()[:2]
    scheme = "https" if config.tls else "http"
    url = f"{scheme}://{host}:{port}" if ":" not in host else f"{scheme}://[{host}]:{port}"
    if on_ready is not None:
        original_startup = server.startup

        async def startup(sockets: object = None) -> None:
            await original_startup(sockets=[sock])
            on_ready(url)

        server.startup = startup  # type: ignore[method-assign]
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
