"""Deploying model versions: the wire notice, the HTTP endpoints, ``sciot model deploy``, and
the device's checks, each against the real edge on loopback (or a real HTTP server).

The running-devices proof is ``test_edge_hot_swap.py``; here each refusal is one clear line,
a tampered model file never replaces a device's model, and a device that does not follow
keeps being served by its version (which is then not retired).
"""

from __future__ import annotations

import hashlib
import http.server
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from test_edge_hot_swap import second_version

from sciot.device import CutArtefacts, DeviceClient, DeviceConfig, InferenceMode, open_transport
from sciot.device._model_update import ModelUpdateFailed, fetch_successor, model_base_url
from sciot.edge import EdgeConfig, RunningServer, start_edge
from sciot.errors import LocalProtocolError, RemoteProtocolError
from sciot.model import load_model
from sciot.model.zoo import demo_model_path, load_demo_input
from sciot.wire import (
    InferRequest,
    OfflineAck,
    announces_newer_model,
    decode,
    encode,
    mark_newer_model,
)

TOKEN = "operator-token-for-deploy-tests"
OLD = demo_model_path("fomo96").read_bytes()
NEW = second_version(OLD)
OLD_ID = load_model(OLD).model_id
NEW_ID = load_model(NEW).model_id


def _edge(tmp_path: Path, **auth: Any) -> tuple[RunningServer, Any]:
    config = EdgeConfig.from_mapping(
        {
            "host": "127.0.0.1",
            "port": 0,
            "auth": auth,
            "telemetry": {"path": str(tmp_path / "t.sqlite"), "flush_interval_s": 0.05},
        }
    )
    return start_edge(config)


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[RunningServer]:
    server, _app = _edge(tmp_path, operator_token=TOKEN)
    try:
        yield server
    finally:
        server.stop()


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def _wait_current(server: RunningServer, model_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        listing: dict[str, Any] = httpx.get(f"{server.http_url}/v1/models", headers=_auth()).json()
        states = {d["model_id"]: d["state"] for d in listing["deployments"]}
        assert states.get(model_id) != "failed", listing
        if states.get(model_id) == "current":
            return listing
        time.sleep(0.05)
    raise AssertionError(f"{model_id} never became current")


# ------------------------------------------------------------------------------ wire notice


def test_the_notice_rides_on_replies_only_and_leaves_the_message_unchanged() -> None:
    ack = OfflineAck(device_id="d", model_id=OLD_ID, seq=3, accepted=2, next_cut=4)
    frame = encode(ack)
    marked = mark_newer_model(frame)
    assert not announces_newer_model(frame) and announces_newer_model(marked)
    assert decode(marked) == ack
    request = encode(InferRequest(device_id="d", model_id=OLD_ID, seq=1, cut=25, tensors=()))
    with pytest.raises(LocalProtocolError):
        mark_newer_model(request)
    forged = bytearray(request)
    forged[26] |= 0x02  # a request claiming the notice is malformed
    with pytest.raises(RemoteProtocolError, match="reserved header flags"):
        decode(bytes(forged))


# ------------------------------------------------------------------------------ endpoints


def test_deploy_needs_the_operator_token_and_a_usable_model(edge: RunningServer) -> None:
    url = f"{edge.http_url}/v1/models/fomo96"
    assert httpx.post(url, content=NEW).status_code == 401
    assert httpx.get(f"{edge.http_url}/v1/models").status_code == 401
    junk = httpx.post(url, content=b"not a model at all", headers=_auth())
    assert junk.status_code == 422 and "not a usable .tflite model" in junk.json()["detail"]
    empty = httpx.post(url, content=b"", headers=_auth())
    assert empty.status_code == 422 and "empty body" in empty.json()["detail"]
    unknown = httpx.post(f"{edge.http_url}/v1/models/nope", content=NEW, headers=_auth())
    assert unknown.status_code == 422 and "fomo96" in unknown.json()["detail"]
    same = httpx.post(url, content=OLD, headers=_auth())
    assert same.status_code == 422 and "already served" in same.json()["detail"]


def test_a_deployed_version_is_served_as_a_file_devices_can_verify(edge: RunningServer) -> None:
    accepted = httpx.post(f"{edge.http_url}/v1/models/fomo96", content=NEW, headers=_auth())
    assert accepted.status_code == 202 and accepted.json()["model_id"] == NEW_ID
    listing = _wait_current(edge, NEW_ID)
    # No device used the old version: it is retired at once.
    assert [(m["model_id"], m["state"]) for m in listing["models"]] == [(NEW_ID, "current")]
    exact = httpx.get(f"{edge.http_url}/v1/models/{NEW_ID}/file")
    assert exact.status_code == 200 and exact.content == NEW
    assert exact.headers["x-sciot-model-id"] == hashlib.sha256(NEW).hexdigest()[:16]
    retired = httpx.get(f"{edge.http_url}/v1/models/{OLD_ID}/successor")
    assert retired.status_code == 404 and OLD_ID in retired.json()["detail"]
    graph = fetch_successor(edge.http_url, NEW_ID, ca_file=None, timeout_s=10.0)
    assert graph.model_id == NEW_ID
    # A SCIoT-style registration without a model id gets the label's current version.
    joined = httpx.post(f"{edge.http_url}/api/registration", json={"device_id": "sciot-1"})
    assert joined.status_code == 200 and joined.json()["model_id"] == NEW_ID


def test_an_edge_without_operator_token_refuses_deploys(tmp_path: Path) -> None:
    server, _app = _edge(tmp_path)
    try:
        reply = httpx.post(f"{server.http_url}/v1/models/fomo96", content=NEW)
        assert reply.status_code == 403 and "auth.operator_token" in reply.json()["detail"]
    finally:
        server.stop()


# ------------------------------------------------------------------------------ device side


class _TamperingHandler(http.server.BaseHTTPRequestHandler):
    """Serves NEW's bytes under the wrong id, as a corrupted or substituted file would."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("X-Sciot-Model-Id", OLD_ID)
        self.send_header("Content-Length", str(len(NEW)))
        self.end_headers()
        self.wfile.write(NEW)

    def log_message(self, *_args: object) -> None:
        pass


def test_a_file_that_does_not_hash_to_its_id_is_refused() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TamperingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(ModelUpdateFailed, match=f"hashes to {NEW_ID}, but the edge named"):
            fetch_successor(base, OLD_ID, ca_file=None, timeout_s=10.0)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10.0)


def test_only_http_and_websocket_edges_offer_the_model_file() -> None:
    assert model_base_url("http://10.0.0.2:8000") == "http://10.0.0.2:8000"
    assert model_base_url("wss://edge.example:8443/v1/ws") == "https://edge.example:8443"
    assert model_base_url("tcp://10.0.0.2:9000") is None
    assert model_base_url("mqtt://broker:1883/sciot") is None


def test_a_device_that_cannot_follow_keeps_its_version(edge: RunningServer) -> None:
    config = DeviceConfig.from_mapping(
        {"device_id": "fixed-heads", "edge_url": edge.http_url, "initial_cut": 6}
    )
    # Heads prepared by the caller (as an emulated device's are): the client cannot rebuild
    # them for a new version, so it stays, and the edge keeps serving its version.
    client = DeviceClient(config, open_transport(config), artefacts=CutArtefacts(load_model(OLD)))
    x = np.asarray(load_demo_input("fomo96", 0))
    try:
        assert client.start()
        before = client.infer(x)
        assert (
            httpx.post(
                f"{edge.http_url}/v1/models/fomo96", content=NEW, headers=_auth()
            ).status_code
            == 202
        )
        listing = _wait_current(edge, NEW_ID)
        states = {m["model_id"]: (m["state"], m["devices"]) for m in listing["models"]}
        assert states == {OLD_ID: ("superseded", 1), NEW_ID: ("current", 0)}
        after = [client.infer(x) for _ in range(5)]
        assert all(o.mode in (InferenceMode.SPLIT, InferenceMode.DEVICE_ONLY) for o in after)
        for outcome in after:
            for name, want in before.outputs.items():
                assert np.array_equal(outcome.outputs[name], want)
        assert client.artefacts.model_id == OLD_ID and client.model_updates == 0
    finally:
        client.close()


# ------------------------------------------------------------------------------ CLI


def _sciot(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SCIOT_OPERATOR_TOKEN"}
    if token is not None:
        env["SCIOT_OPERATOR_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "sciot", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_sciot_model_deploy(edge: RunningServer, tmp_path: Path) -> None:
    model = tmp_path / "model.tflite"
    model.write_bytes(NEW)
    args = ("model", "deploy", str(model), "--edge-url", edge.http_url, "--as", "fomo96")
    missing = _sciot(*args)
    assert missing.returncode != 0 and "operator token" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    wrong = _sciot(*args, "--operator-token", "not-the-token")
    assert wrong.returncode != 0 and "refused (401)" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    done = _sciot(*args, token=TOKEN)
    assert done.returncode == 0, done.stderr
    assert f"model {NEW_ID} serves as fomo96" in done.stdout
    again = _sciot(*args, token=TOKEN)
    assert again.returncode != 0 and "already served" in again.stderr


def test_a_model_served_by_path_is_deployed_under_that_path(tmp_path: Path) -> None:
    served = tmp_path / "runs" / "fed" / "model.tflite"
    served.parent.mkdir(parents=True)
    served.write_bytes(OLD)
    config = EdgeConfig.from_mapping(
        {
            "host": "127.0.0.1",
            "port": 0,
            "models": [{"path": str(served)}],
            "auth": {"operator_token": TOKEN},
            "telemetry": {"path": str(tmp_path / "t.sqlite")},
        }
    )
    server, _app = start_edge(config)
    try:
        new_file = tmp_path / "next.tflite"
        new_file.write_bytes(NEW)
        done = _sciot(
            "model",
            "deploy",
            str(new_file),
            "--edge-url",
            server.http_url,
            "--as",
            str(served),
            token=TOKEN,
        )
        assert done.returncode == 0, done.stderr
        listing = _wait_current(server, NEW_ID)
        assert listing["models"][0]["label"] == str(served)
    finally:
        server.stop()
