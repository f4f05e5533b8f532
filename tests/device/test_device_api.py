"""The public surface of ``sciot.device``: a change here shows up in review."""

from __future__ import annotations

import sciot.device

EXPECTED = {
    "TRANSITIONS",
    "Action",
    "Backoff",
    "BackoffConfig",
    "CrossingConfig",
    "CutArtefacts",
    "DelayConfig",
    "DeviceClient",
    "DeviceOnlyBatch",
    "DeviceConfig",
    "DeviceStats",
    "HeadRun",
    "InferenceMode",
    "InferenceOutcome",
    "LatencySummary",
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
}


def test_exported_names() -> None:
    assert set(sciot.device.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(sciot.device, name) is not None
