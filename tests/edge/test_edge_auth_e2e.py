"""Device tokens, TLS and the operator token end to end: a real edge on loopback (HTTPS and
WSS with a CA the test makes), real device clients, and an attacker beside them.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from edge_testkit import edge_config
from tls_testkit import Pki, make_pki

from sciot.device import DeviceConfig, run_device
from sciot.edge import EdgeApp, RunningServer, TokenStore, read_telemetry, start_edge
from sciot.edge._transports import TransportOptions, start_transports
from sciot.errors import ConfigError, ModelError, TransportError
from sciot.model import load_model
from sciot.model.zoo import demo_model_path
from sciot.transport import HttpClientTransport, WebSocketClientTransport
from sciot.wire import (
    DeviceOnlyReport,
    ErrorCode,
    ErrorFrame,
    OfflineRecord,
    Register,
    decode,
    encode,
    sign_frame,
)

OPERATOR = "operator-secret-0123456789"
VICTIM = "cam-victim"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory, pki: Pki
) -> Iterator[tuple[RunningServer, EdgeApp, dict[str, str], Path]]:
    directory = tmp_path_factory.mktemp("auth-e2e")
    store = TokenStore(directory / "tokens.json")
    tokens = {d: store.create(d).hex() for d in (VICTIM, "cam-wss", "cam-mallory")}
    config = edge_config(
        directory,
        models=[{"demo": "fomo96"}, {"demo": "fomo96_int8"}],
        auth={"mode": "tokens", "token_file": str(store.path), "operator_token": OPERATOR},
        tls_certfile=str(pki.cert),
        tls_keyfile=str(pki.key),
    )
    server, app = start_edge(config)
    yield server, app, tokens, directory
    server.stop()


def _https(server: RunningServer) -> str:
    return f"https://127.0.0.1:{server.port}"


def _device(server: RunningServer, pki: Pki, device_id: str, token: str, **kw: Any) -> Any:
    return DeviceConfig.from_mapping(
        {
            "device_id": device_id,
            "edge_url": _https(server),
            "token": token,
            "ca_file": str(pki.ca),
            "timeout_s": 10.0,
            **kw,
        }
    )


def test_attacks_beside_a_running_device_change_nothing_of_it(
    secured: tuple[RunningServer, EdgeApp, dict[str, str], Path], pki: Pki
) -> None:
    server, app, tokens, directory = secured
    fomo = load_model(demo_model_path("fomo96"))
    int8_model = load_model(demo_model_path("fomo96_int8")).model_id
    mallory = bytes.fromhex(tokens["cam-mallory"])
    records = tuple(
        OfflineRecord(seq=i, cut=fomo.num_ops, started_at_s=1.0, device_seconds=1e-4)
        for i in range(64)
    )
    forged = [
        encode(DeviceOnlyReport(device_id=VICTIM, model_id=fomo.model_id, records=records)),
        sign_frame(
            encode(DeviceOnlyReport(device_id=VICTIM, model_id=fomo.model_id, records=records)),
            mallory,
        ),
        encode(Register(device_id=VICTIM, model_id=int8_model)),
        sign_frame(encode(Register(device_id=VICTIM, model_id=int8_model)), mallory),
        sign_frame(encode(Register(device_id=VICTIM, model_id=int8_model)), os.urandom(32)),
    ]
    refused: list[int] = []
    done = threading.Event()

    def attack() -> None:
        attacker = HttpClientTransport(_https(server), ca_file=pki.ca)
        try:
            for i in range(400):  # bounded in count; stops early once the victim is done
                reply = decode(attacker.request(forged[i % len(forged)], timeout_s=10.0))
                ok = isinstance(reply, ErrorFrame) and reply.code is ErrorCode.UNAUTHORIZED
                refused.append(int(ok))
                if done.is_set() and i >= len(forged):
                    return
        finally:
            attacker.close()

    thread = threading.Thread(target=attack)
    thread.start()
    try:
        stats = run_device(_device(server, pki, VICTIM, tokens[VICTIM]), count=150)
    finally:
        done.set()
        thread.join(60.0)
    assert not thread.is_alive()
    assert len(refused) >= len(forged) and all(refused)  # every forged frame: UNAUTHORIZED
    assert stats.inferences == 150 and stats.registrations == 1 and stats.lost == 0
    (edge_view,) = [d for d in app.core.stats() if d.device_id == VICTIM]
    assert edge_view.inferences == stats.inferences  # not one fake inference counted
    assert edge_view.model_id == fomo.model_id and edge_view.transport == "https"
    assert app.core.telemetry is not None
    app.core.telemetry.flush()
    rows = [r for r in read_telemetry(directory / "telemetry.sqlite") if r["device_id"] == VICTIM]
    assert len(rows) == stats.inferences


def test_wss_with_a_token_and_the_transport_recorded(
    secured: tuple[RunningServer, EdgeApp, dict[str, str], Path], pki: Pki
) -> None:
    server, app, tokens, _ = secured
    config = _device(server, pki, "cam-wss", tokens["cam-wss"], transport="ws")
    stats = run_device(config, count=20)
    assert stats.inferences == 20 and stats.registrations == 1 and stats.failures == 0
    assert app.core.devices["cam-wss"].transport == "wss"


def test_the_device_verifies_the_server(
    secured: tuple[RunningServer, EdgeApp, dict[str, str], Path], pki: Pki
) -> None:
    server = secured[0]
    probe = encode(Register(device_id="cam-x", model_id="00" * 8))
    for transport in (
        HttpClientTransport(_https(server), ca_file=pki.other_ca),
        HttpClientTransport(_https(server)),  # the system's CAs do not know the test CA
        WebSocketClientTransport(f"wss://127.0.0.1:{server.port}", ca_file=pki.other_ca),
        HttpClientTransport(f"https://localhost:{server.port}", ca_file=pki.other_ca),
    ):
        with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
            transport.request(probe, timeout_s=5.0)
        transport.close()
    with pytest.raises(ConfigError, match="cannot load CA file"):
        HttpClientTransport(_https(server), ca_file=pki.cert.with_name("absent.pem"))


def _get(server: RunningServer, pki: Pki, path: str, **headers: str) -> Any:
    context = ssl.create_default_context(cafile=str(pki.ca))
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_operator_token_guards_stats_metrics_and_dashboard(
    secured: tuple[RunningServer, EdgeApp, dict[str, str], Path], pki: Pki
) -> None:
    server = secured[0]
    for path in ("/api/stats", "/metrics", "/dashboard"):
        status, _, body = _get(server, pki, path)
        assert status == 401 and b"operator" in body, path
        status, _, _ = _get(server, pki, path, Authorization="Bearer wrong-token-00000000")
        assert status == 401
    status, _, body = _get(server, pki, "/api/stats", Authorization=f"Bearer {OPERATOR}")
    assert status == 200
    document = json.loads(body)
    assert all("transport" in d for d in document["devices"])
    status, headers, _ = _get(server, pki, f"/dashboard?token={OPERATOR}")
    assert status == 303 and headers["location"] == "/dashboard"
    cookie = headers["set-cookie"].split(";")[0]
    assert "HttpOnly" in headers["set-cookie"] and "Secure" in headers["set-cookie"]
    assert _get(server, pki, "/metrics", Cookie=cookie)[0] == 200
    assert _get(server, pki, "/healthz")[0] == 200  # not guarded: says nothing of devices


def test_public_bind_without_auth_and_esp32_with_auth_are_refused(
    secured: tuple[RunningServer, EdgeApp, dict[str, str], Path], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="allow_public_without_auth"):
        edge_config(tmp_path, host="0.0.0.0")
    edge_config(tmp_path, host="0.0.0.0", auth={"allow_public_without_auth": True})
    app = secured[1]
    with pytest.raises(ConfigError, match="cannot carry device tokens"):
        start_transports(app.core, TransportOptions(esp32_tail=tmp_path / "tail.tflite"))
    with pytest.raises(ConfigError, match="https://"):
        DeviceConfig.from_mapping({"edge_url": "ftp://127.0.0.1:8000"})


def test_the_settings_can_allow_the_esp32_listener_beside_tokens(tmp_path: Path) -> None:
    from sciot.edge import build_edge

    config = edge_config(
        tmp_path,
        auth={
            "mode": "tokens",
            "token_file": str(tmp_path / "tokens.json"),
            "allow_esp32_without_auth": True,
        },
    )
    app = build_edge(config)
    try:
        # Past the auth check: what fails now is only the (absent) tail model itself.
        with pytest.raises(ModelError, match="cannot read model file"):
            start_transports(app.core, TransportOptions(esp32_tail=tmp_path / "absent.tflite"))
    finally:
        assert app.core.telemetry is not None
        app.core.telemetry.close()
