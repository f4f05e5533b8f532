"""The device client: head execution, timing reports and resilience (the ``device`` layer)."""

from sciot.delays import DelayConfig
from sciot.device._artefacts import CutArtefacts, HeadRun, resolve_model_source
from sciot.device._client import DeviceClient, RegistrationRefused
from sciot.device._config import (
    BackoffConfig,
    CrossingConfig,
    DeviceConfig,
    LocalInferenceConfig,
)
from sciot.device._head import ConfiguredSlowdown, HeadRunner, LocalHead
from sciot.device._outcome import (
    DeviceStats,
    InferenceMode,
    InferenceOutcome,
    LatencySummary,
)
from sciot.device._queue import OfflineQueue
from sciot.device._reports import DeviceOnlyBatch
from sciot.device._run import edge_url_for, open_transport, run_device, sample_input
from sciot.device._session import (
    TRANSITIONS,
    Action,
    Backoff,
    Session,
    SessionEvent,
    SessionProtocolError,
    SessionState,
)

__all__ = [
    "TRANSITIONS",
    "Action",
    "Backoff",
    "BackoffConfig",
    "ConfiguredSlowdown",
    "CrossingConfig",
    "CutArtefacts",
    "DelayConfig",
    "DeviceClient",
    "DeviceConfig",
    "DeviceOnlyBatch",
    "DeviceStats",
    "HeadRun",
    "HeadRunner",
    "InferenceMode",
    "InferenceOutcome",
    "LatencySummary",
    "LocalHead",
    "LocalInferenceConfig",
    "OfflineQueue",
    "RegistrationRefused",
    "Session",
    "SessionEvent",
    "SessionProtocolError",
    "SessionState",
    "edge_url_for",
    "open_transport",
    "resolve_model_source",
    "run_device",
    "sample_input",
]
