"""The dashboard behind the operator token: the page, its data and its live socket."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import pytest
from edge_testkit import edge_config
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from sciot.dashboard import mount_dashboard
from sciot.edge import start_edge

OPERATOR = "operator-secret-0123456789"


def _get(port: int, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_page_data_and_live_socket_need_the_operator_token(tmp_path: Path) -> None:
    config = edge_config(tmp_path, auth={"operator_token": OPERATOR})
    server, _ = start_edge(config, prepare=mount_dashboard)
    try:
        port = server.port
        live = f"ws://127.0.0.1:{port}/dashboard/live"
        assert _get(port, "/dashboard")[0] == 401
        assert _get(port, "/dashboard/api/snapshot")[0] == 401
        with pytest.raises(InvalidStatus):
            connect(live, open_timeout=5).close()
        status, headers, _ = _get(port, f"/dashboard?token={OPERATOR}")
        assert status == 303 and "Secure" not in headers["set-cookie"]  # plain HTTP here
        cookie = headers["set-cookie"].split(";")[0]
        status, _, page = _get(port, "/dashboard", Cookie=cookie)
        assert status == 200 and b"<html" in page.lower()
        assert _get(port, "/dashboard/api/snapshot", Cookie=cookie)[0] == 200
        with connect(live, open_timeout=5, additional_headers={"Cookie": cookie}) as socket:
            assert json.loads(socket.recv(timeout=5))["type"] == "history"
        with connect(f"{live}?token={OPERATOR}", open_timeout=5) as socket:
            assert json.loads(socket.recv(timeout=5))["type"] == "history"
    finally:
        server.stop()
