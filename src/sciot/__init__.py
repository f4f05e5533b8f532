"""sciot: adaptive split computing of TinyML models between IoT devices and an edge server."""

from sciot.errors import (
    ConfigError,
    ExecutionError,
    LocalProtocolError,
    MissingExtraError,
    ModelError,
    PlannerError,
    RemoteProtocolError,
    SciotError,
    SensorError,
    TransportError,
    WireError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ExecutionError",
    "LocalProtocolError",
    "MissingExtraError",
    "ModelError",
    "PlannerError",
    "RemoteProtocolError",
    "SciotError",
    "SensorError",
    "TransportError",
    "WireError",
    "__version__",
]
