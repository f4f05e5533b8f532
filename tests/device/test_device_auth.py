"""The device client with a token: every frame signed, a restarted edge rejoined, a wrong token
refused at start, and the token given by flag or environment variable.

The edge here is a real :class:`~sciot.edge.EdgeCore` (real models, real token store) reached
through an in-process transport that hands each frame to ``handle_frame``, so an edge
"restart" is a second core over the same token store.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sciot.cli.app import main
from sciot.device import DeviceClient, DeviceConfig, RegistrationRefused
from sciot.edge import EdgeApp, EdgeConfig, TokenStore, build_edge
from sciot.errors import ConfigError


class CoreTransport:
    """Frames straight into an edge core (what a listener does, without the socket)."""

    def __init__(self, app: EdgeApp) -> None:
        self.app = app

    def request(self, payload: bytes, *, timeout_s: float) -> bytes:
        return self.app.core.handle_frame(payload, time.time(), transport="test").frame

    def close(self) -> None:
        pass


def _edge(tmp_path: Path, tokens: Path, name: str) -> EdgeApp:
    config = EdgeConfig.from_mapping(
        {
            "port": 0,
            "telemetry": {"enabled": False, "path": str(tmp_path / f"{name}.sqlite")},
            "auth": {"mode": "tokens", "token_file": str(tokens)},
        }
    )
    return build_edge(config)


@pytest.fixture
def provisioned(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    tokens = tmp_path / "tokens.json"
    yield tokens, TokenStore(tokens).create("cam-1").hex()


def _client(transport: CoreTransport, token: str, **kw: object) -> DeviceClient:
    config = DeviceConfig.from_mapping(
        {"device_id": "cam-1", "token": token, "report_every": 4, "seed": 1, **kw}
    )
    return DeviceClient(config, transport)


def test_a_device_with_its_token_is_served_and_rejoins_a_restarted_edge(
    tmp_path: Path, provisioned: tuple[Path, str], fomo_input: np.ndarray
) -> None:
    tokens, token = provisioned
    transport = CoreTransport(_edge(tmp_path, tokens, "first"))
    with _client(transport, token) as client:
        assert client.start()
        for _ in range(12):
            client.infer(fomo_input)
        client.flush(force=True)
        first = transport.app.core.devices["cam-1"]
        assert first.inferences == 12 and first.transport == "test"
        transport.app = _edge(tmp_path, tokens, "second")  # the edge restarts: keys forgotten
        for _ in range(12):
            client.infer(fomo_input)
        client.flush(force=True)
        stats = client.stats()
    # The restarted edge refused the first signed frame (no key yet), the device registered
    # again, and every inference reached one of the two edges exactly once.
    assert transport.app.core.rejected.get("unauthorized") == 1
    assert stats.registrations == 2 and stats.lost == 0 and stats.inferences == 24
    assert first.inferences + transport.app.core.devices["cam-1"].inferences == 24


def test_a_wrong_or_missing_token_is_refused_at_start(
    tmp_path: Path, provisioned: tuple[Path, str]
) -> None:
    tokens, _ = provisioned
    transport = CoreTransport(_edge(tmp_path, tokens, "edge"))
    with (
        _client(transport, "ab" * 32) as client,
        pytest.raises(RegistrationRefused, match=r"wrong token.*UNAUTHORIZED"),
    ):
        client.start()
    config = DeviceConfig.from_mapping({"device_id": "cam-1"})
    with (
        DeviceClient(config, transport) as bare,
        pytest.raises(RegistrationRefused, match="requires device tokens"),
    ):
        bare.start()
    assert "cam-1" not in transport.app.core.devices


def test_the_token_setting_is_checked() -> None:
    with pytest.raises(ConfigError, match="64 hex digits"):
        DeviceConfig.from_mapping({"token": "not-a-token"})
    assert DeviceConfig.from_mapping({"token": "AB" * 32}).token == "ab" * 32
    assert ("ab" * 32) not in repr(DeviceConfig.from_mapping({"token": "ab" * 32}))


def test_the_cli_takes_the_token_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SCIOT_DEVICE_TOKEN", "short")
    with pytest.raises(SystemExit) as info:
        main(["device", "--edge-url", "http://127.0.0.1:1", "--count", "1"])
    assert info.value.code != 0
    err = capsys.readouterr().err
    assert "--token/SCIOT_DEVICE_TOKEN" in err and "64 hex digits" in err
    assert "Traceback" not in err
