"""The edge server: device registry, planner calls, tail execution, telemetry.

:func:`build_edge` turns an :class:`EdgeConfig` into an ASGI app (frames over HTTP
``POST /v1/frame`` and WebSocket ``/v1/ws``, ``/metrics``, ``/api/stats`` and the SCIoT
compatibility endpoints); :func:`start_edge` serves it in a background thread and
:func:`run_edge` in the foreground. :class:`EdgeCore` is the transport-independent request
logic. ``docs/edge.md`` documents the endpoints and every configuration key.
"""

from sciot.errors import MissingExtraError

try:  # the edge role's extra; a device-only install has neither
    import fastapi as _fastapi  # noqa: F401
    import uvicorn as _uvicorn  # noqa: F401
except ImportError as _missing:
    raise MissingExtraError(_missing.name or "fastapi", "edge", "The edge server") from _missing

from sciot.delays import DelayConfig
from sciot.edge._app import EdgeApp
from sciot.edge._auth import DeviceAuth
from sciot.edge._config import (
    LOOPBACK_HOSTS,
    AuthConfig,
    DelaySimulationConfig,
    EdgeConfig,
    ModelConfig,
    PlannerConfig,
    TelemetryConfig,
    load_edge_config,
)
from sciot.edge._core import DeviceStats, EdgeCore, Reply
from sciot.edge._registry import EdgeDeviceStats
from sciot.edge._runner import RunningServer, serve_in_thread
from sciot.edge._server import build_edge, run_edge, start_edge
from sciot.edge._telemetry import COLUMNS as TELEMETRY_COLUMNS
from sciot.edge._telemetry import read_rows as read_telemetry
from sciot.edge._tokens import TokenStore
from sciot.edge._transports import RunningTransports, TransportOptions, start_transports

__all__ = [
    "LOOPBACK_HOSTS",
    "TELEMETRY_COLUMNS",
    "AuthConfig",
    "DelayConfig",
    "DelaySimulationConfig",
    "DeviceAuth",
    "DeviceStats",
    "EdgeApp",
    "EdgeConfig",
    "EdgeCore",
    "EdgeDeviceStats",
    "ModelConfig",
    "PlannerConfig",
    "Reply",
    "RunningServer",
    "RunningTransports",
    "TelemetryConfig",
    "TokenStore",
    "TransportOptions",
    "build_edge",
    "load_edge_config",
    "read_telemetry",
    "run_edge",
    "serve_in_thread",
    "start_edge",
    "start_transports",
]
