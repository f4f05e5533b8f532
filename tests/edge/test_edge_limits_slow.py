"""Slow clients against a real edge on loopback: slow headers, slow bodies, many unfinished
bodies, and SIGTERM while a slow request is open. Each counts what is protected: requests of
an ordinary client served, slow connections closed, the server process gone."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from edge_testkit import Fomo, edge_config

from sciot.edge import RunningServer, start_edge
from sciot.transport import HttpClientTransport
from sciot.wire import Register, RegisterAck, decode, encode

READ_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    config = edge_config(
        tmp_path_factory.mktemp("slow"),
        limits={"read_timeout_s": READ_TIMEOUT_S, "max_unfinished_bytes": 512 * 1024},
    )
    running, _app = start_edge(config)
    yield running
    running.stop()


def _open(server: RunningServer, first: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    if first:
        sock.sendall(first)
    return sock


def _closed_by(sock: socket.socket, deadline: float) -> bool:
    """Whether the server closed the connection (EOF or reset) by ``deadline`` (monotonic)."""
    return _closed_within(sock, max(0.01, deadline - time.monotonic()))


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closed the connection (EOF or reset) within ``seconds``."""
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except OSError:
        return True
    return True


def _register_ok(server: RunningServer, fomo: Fomo, device_id: str) -> bool:
    transport = HttpClientTransport(server.http_url)
    try:
        frame = encode(Register(device_id=device_id, model_id=fomo.graph.model_id))
        return isinstance(decode(transport.request(frame, timeout_s=5)), RegisterAck)
    finally:
        transport.close()


def _body_head(length: int) -> bytes:
    return (
        f"POST /v1/frame HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def test_slow_headers_are_closed_and_others_are_served(server: RunningServer, fomo: Fomo) -> None:
    lorises = [_open(server, b"POST /v1/frame HTTP/1.1\r\nHost: x\r\n") for _ in range(30)]
    silent = [_open(server, b"") for _ in range(10)]
    try:
        served = sum(_register_ok(server, fomo, f"honest-{i}") for i in range(20))
        assert served == 20
        deadline = time.monotonic() + 4 * READ_TIMEOUT_S + 2
        closed = sum(_closed_by(s, deadline) for s in lorises + silent)
        assert closed == 40
    finally:
        for s in lorises + silent:
            s.close()


def test_a_stalled_body_is_closed(server: RunningServer) -> None:
    sock = _open(server, _body_head(200_000) + b"\0" * 10_000)
    try:
        assert _closed_within(sock, 4 * READ_TIMEOUT_S + 2)
    finally:
        sock.close()


def test_unfinished_bodies_hold_bounded_memory(server: RunningServer, fomo: Fomo) -> None:
    # Ten bodies of 900 KiB each stalled after 100 KiB: 1000 KiB against a 512 KiB bound.
    socks = [_open(server, _body_head(900 * 1024) + b"\0" * (100 * 1024)) for _ in range(10)]
    try:
        deadline = time.monotonic() + 0.5
        closed_at_once = sum(_closed_by(s, deadline) for s in socks)
        assert closed_at_once >= 5
        assert _register_ok(server, fomo, "after-bodies")
    finally:
        for s in socks:
            s.close()


@pytest.mark.slow
def test_sigterm_stops_the_edge_despite_a_slow_request(tmp_path: Path) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        yaml.safe_dump(
            {
                "port": 0,
                "telemetry": {"path": str(tmp_path / "t.sqlite")},
                "limits": {"read_timeout_s": 600.0, "shutdown_timeout_s": 2.0},
            }
        )
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "sciot", "serve", "--config", str(settings)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        port = int(line.split(" on ", 1)[1].split()[0].rsplit(":", 1)[1])
        slow = socket.create_connection(("127.0.0.1", port), timeout=10)
        slow.sendall(_body_head(500_000) + b"\0" * 1000)
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(20)  # the 2 s deadline, then the edge's own teardown
        slow.close()
        assert returncode is not None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
