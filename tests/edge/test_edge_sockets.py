"""The edge end to end over real loopback sockets (uvicorn in a thread, HTTP and WebSocket)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from edge_testkit import Fomo, edge_config
from websockets.sync.client import connect

from sciot.edge import EdgeApp, RunningServer, read_telemetry, start_edge
from sciot.transport import ClientTransport, HttpClientTransport, WebSocketClientTransport
from sciot.wire import (
    ErrorCode,
    ErrorFrame,
    InferResponse,
    Message,
    Register,
    RegisterAck,
    decode,
    encode,
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, EdgeApp]]:
    server, app = start_edge(edge_config(tmp_path_factory.mktemp("sockets")))
    yield server, app
    server.stop()


@pytest.fixture(params=["http", "ws"])
def transport(request: pytest.FixtureRequest, served: Any) -> Iterator[ClientTransport]:
    server = served[0]
    t: ClientTransport = (
        HttpClientTransport(server.http_url)
        if request.param == "http"
        else WebSocketClientTransport(server.ws_url)
    )
    yield t
    t.close()


def _call(t: ClientTransport, msg: Message) -> Message:
    return decode(t.request(encode(msg), timeout_s=10.0))


def test_every_cut_gives_the_full_models_result(transport: ClientTransport, fomo: Fomo) -> None:
    ack = _call(transport, Register(device_id="cam-e2e", model_id=fomo.graph.model_id))
    assert isinstance(ack, RegisterAck)
    for k in range(fomo.graph.num_ops):
        reply = _call(transport, fomo.request(k, device_id="cam-e2e", seq=k))
        assert isinstance(reply, InferResponse), reply
        assert np.array_equal(reply.tensors[0].array, fomo.expected), f"cut {k}"


def test_refusals_are_clear(transport: ClientTransport, fomo: Fomo) -> None:
    refused = _call(transport, Register(device_id="cam-r", model_id="0123456789abcdef"))
    assert isinstance(refused, ErrorFrame) and refused.code is ErrorCode.UNKNOWN_MODEL
    assert "does not serve model 0123456789abcdef" in refused.reason
    unknown = _call(transport, fomo.request(2, device_id="ghost"))
    assert isinstance(unknown, ErrorFrame) and unknown.code is ErrorCode.UNKNOWN_DEVICE


def _post(
    server: RunningServer, path: str, body: bytes, content_type: str = "application/octet-stream"
) -> tuple[int, bytes, str]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        return response.status, response.read(), response.getheader("Content-Type", "")
    finally:
        conn.close()


def test_malformed_and_oversized_http_then_keeps_serving(served: Any, fomo: Fomo) -> None:
    server = served[0]
    status, body, content_type = _post(server, "/v1/frame", b"\x00garbage")
    assert status == 400 and content_type == "application/octet-stream"
    error = decode(body)
    assert isinstance(error, ErrorFrame) and error.code is ErrorCode.MALFORMED
    status, body, _ = _post(server, "/v1/frame", bytes((1 << 20) + 1))
    assert status == 413
    assert "max_frame_bytes" in decode(body).reason  # type: ignore[union-attr]
    t = HttpClientTransport(server.http_url)
    try:
        assert isinstance(
            _call(t, Register(device_id="cam-ok", model_id=fomo.graph.model_id)), RegisterAck
        )
        assert isinstance(_call(t, fomo.request(5, device_id="cam-ok")), InferResponse)
    finally:
        t.close()


def test_malformed_and_oversized_ws_keep_the_connection(served: Any, fomo: Fomo) -> None:
    server = served[0]
    with connect(server.ws_url, max_size=None) as ws:
        ws.send("text is not a frame")
        text_reply = decode(ws.recv(timeout=10))
        assert isinstance(text_reply, ErrorFrame) and text_reply.code is ErrorCode.MALFORMED
        ws.send(bytes((1 << 20) + 10))
        big_reply = decode(ws.recv(timeout=10))
        assert isinstance(big_reply, ErrorFrame) and big_reply.code is ErrorCode.FRAME_TOO_LARGE
        ws.send(encode(Register(device_id="cam-ws", model_id=fomo.graph.model_id)))
        assert isinstance(decode(ws.recv(timeout=10)), RegisterAck)


def _get(server: RunningServer, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def test_metrics_stats_and_sciot_compat(served: Any, fomo: Fomo) -> None:
    server = served[0]
    status, body, _ = _post(
        server,
        "/api/registration",
        json.dumps({"device_id": "sciot-1"}).encode(),
        "application/json",
    )
    assert status == 200
    registered = json.loads(body)
    assert registered["num_ops"] == fomo.graph.num_ops
    assert registered["offloading_layer"] == registered["cut"] - 1
    status, text = _get(server, "/api/offloading_layer?device_id=sciot-1")
    assert status == 200 and json.loads(text)["cut"] == registered["cut"]
    status, _ = _get(server, "/api/offloading_layer?device_id=nobody")
    assert status == 404
    status, body, _ = _post(
        server, "/api/device_inference_result", encode(fomo.request(7, device_id="sciot-1"))
    )
    reply = decode(body)
    assert status == 200 and isinstance(reply, InferResponse)
    assert np.array_equal(reply.tensors[0].array, fomo.expected)

    status, text = _get(server, "/metrics")
    assert status == 200
    assert 'sciot_edge_inferences_total{device="sciot-1"' in text
    assert "# TYPE sciot_edge_frames_rejected_total counter" in text
    status, text = _get(server, "/api/stats")
    stats = json.loads(text)
    device = {d["device_id"]: d for d in stats["devices"]}["sciot-1"]
    assert device["split_inferences"] >= 1 and device["cuts"]["7"] >= 1
    assert stats["models"][0]["name"] == "fomo96"


@pytest.mark.slow
def test_edge_killed_mid_run_devices_continue_and_come_back(tmp_path: Path, fomo: Fomo) -> None:
    from sciot.device import DeviceClient, DeviceConfig, InferenceMode

    config = edge_config(tmp_path)
    server, _ = start_edge(config)
    port = server.port
    x = fomo.crossing[0][0].array
    clients = [
        DeviceClient(
            DeviceConfig.from_mapping(
                {
                    "device_id": f"cam-{i}",
                    "edge_url": server.http_url,
                    "transport": transport,
                    "timeout_s": 2.0,
                    "backoff": {"initial_s": 0.05, "max_s": 0.2},
                    "initial_cut": 12,
                    # At device-only only a report notices the edge is gone: report often.
                    "report_every": 4,
                }
            ),
            HttpClientTransport(server.http_url)
            if transport == "http"
            else WebSocketClientTransport(server.ws_url),
        )
        for i, transport in enumerate(("http", "ws"))
    ]
    outcomes = []
    try:
        for c in clients:
            c.start()
        for _ in range(20):
            outcomes += [c.infer(x) for c in clients]
        server.stop()  # the edge dies mid-run
        for _ in range(20):
            outcomes += [c.infer(x) for c in clients]
        assert {o.mode for o in outcomes[-20:]} == {InferenceMode.LOCAL}
        server, _ = start_edge(config, port=port)  # and comes back on the same address
        for _ in range(400):
            outcomes += [c.infer(x) for c in clients]
            if all(o.mode is not InferenceMode.LOCAL for o in outcomes[-2:]):
                break
        for _ in range(5):
            outcomes += [c.infer(x) for c in clients]
        assert all(o.mode is not InferenceMode.LOCAL for o in outcomes[-10:])
        for c in clients:
            c.flush(force=True)
        stats = [c.stats() for c in clients]
    finally:
        for c in clients:
            c.close()
        server.stop()
    for o in outcomes:
        assert np.array_equal(o.output(), fomo.expected), (o.mode, o.cut)
    assert all(s.lost == 0 and s.queued == 0 for s in stats)
    assert sum(s.inferences for s in stats) == len(outcomes)
    rows = read_telemetry(tmp_path / "telemetry.sqlite")
    offline = sum(r["outcome"] == "offline" for r in rows)
    # Device-only records whose report failed travel with the offline ones.
    assert offline >= sum(s.local_fallbacks for s in stats) > 0
    assert len(rows) == len(outcomes)  # every inference reached the edge exactly once
