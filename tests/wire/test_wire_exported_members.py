"""The public surface of wire, transport and edge is a contract: changes show up here."""

from __future__ import annotations

import importlib

import pytest

EXPECTED = {
    "sciot.wire": [
        "DEFAULT_MAX_FRAME_BYTES",
        "HEADER_BYTES",
        "NO_MODEL",
        "VERSION",
        "DeviceOnlyReport",
        "DeviceProfile",
        "ErrorCode",
        "ErrorFrame",
        "FrameDecoder",
        "FrameTooLargeError",
        "InferRequest",
        "InferResponse",
        "Message",
        "MessageType",
        "OfflineAck",
        "OfflineRecord",
        "OfflineReport",
        "Register",
        "RegisterAck",
        "Tensor",
        "TensorEncoding",
        "TransferSample",
        "check_prefix",
        "decode",
        "dequantise_int8",
        "encode",
        "quantise_int8",
    ],
    "sciot.transport": [
        "FRAME_CONTENT_TYPE",
        "FRAME_PATH",
        "WS_PATH",
        "ClientTransport",
        "EmulatedExchange",
        "EmulatedTransport",
        "HttpClientTransport",
        "LinkEmulator",
        "WebSocketClientTransport",
        "client_transport",
    ],
    "sciot.edge": [
        "TELEMETRY_COLUMNS",
        "DelayConfig",
        "DelaySimulationConfig",
        "DeviceStats",
        "EdgeApp",
        "EdgeConfig",
        "EdgeCore",
        "ModelConfig",
        "PlannerConfig",
        "Reply",
        "RunningServer",
        "TelemetryConfig",
        "build_edge",
        "load_edge_config",
        "read_telemetry",
        "run_edge",
        "serve_in_thread",
        "start_edge",
    ],
}


@pytest.mark.parametrize("module", sorted(EXPECTED))
def test_exported_members(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(EXPECTED[module])
    for name in mod.__all__:
        assert hasattr(mod, name), name
