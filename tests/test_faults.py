"""Faults survived with nothing lost, each counted end to end: inferences done = recorded.

A real ``sciot serve`` process on loopback, real device clients (LiteRT heads and whole
models), the real SQLite telemetry. The edge is killed with SIGKILL mid-run and restarted on
the same port and database: devices keep inferring locally, reconnect with backoff and upload
their backlog. Every inference a device made must then be a telemetry row (by device and
sequence number), and the database must pass SQLite's integrity check.
"""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from sciot.device import CutArtefacts, DeviceClient, DeviceConfig, open_transport
from sciot.edge import read_telemetry
from sciot.model import ModelGraph, load_model
from sciot.model.zoo import demo_model_path, load_demo_input

pytestmark = pytest.mark.slow

DEVICES = 4
INFERENCES = 300
RUN_LIMIT_S = 90.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(settings: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "sciot", "serve", "--config", str(settings)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # printed once it serves
    assert "serving" in line, line
    return process


def _stop(process: subprocess.Popen[str], sig: int) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        process.wait(30)
    if process.stdout is not None:
        process.stdout.close()


def _run_device(config: DeviceConfig, graph: ModelGraph, done: dict[str, int]) -> None:
    x = load_demo_input("fomo96", 0)
    # One set of interpreters per device: LiteRT interpreters are not shared across threads.
    client = DeviceClient(config, open_transport(config), artefacts=CutArtefacts(graph))
    deadline = time.monotonic() + RUN_LIMIT_S
    try:
        client.start()
        for _ in range(INFERENCES):
            if time.monotonic() > deadline:
                break
            client.infer(x)
            time.sleep(0.004)  # ~250/s per device: the run spans the kill and the restart
        flush_deadline = time.monotonic() + 30.0
        while (client.queued or client.unreported) and time.monotonic() < flush_deadline:
            client.flush(force=True)
            time.sleep(0.1)
        done[config.device_id] = client.stats().inferences
        done[config.device_id + ".lost"] = client.stats().lost
    finally:
        client.close()


def test_edge_killed_mid_run_and_restarted_loses_no_inference(tmp_path: Path) -> None:
    port = _free_port()
    telemetry = tmp_path / "telemetry.sqlite"
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        yaml.safe_dump(
            {
                "port": port,
                # A long flush window: the rows of the last two seconds live only in memory
                # (and the journal) when the edge is killed.
                "telemetry": {"path": str(telemetry), "flush_interval_s": 2.0},
            }
        )
    )
    graph = load_model(demo_model_path("fomo96"))
    configs = [
        DeviceConfig.from_mapping(
            {
                "device_id": f"cam-{i}",
                "edge_url": f"http://127.0.0.1:{port}",
                "timeout_s": 2.0,
                "backoff": {"initial_s": 0.1, "max_s": 0.5},
                "report_interval_s": 0.2,
                "seed": i,
            }
        )
        for i in range(DEVICES)
    ]
    done: dict[str, int] = {}
    edge = _serve(settings)
    threads = [
        threading.Thread(target=_run_device, args=(c, graph, done), daemon=True) for c in configs
    ]
    try:
        for t in threads:
            t.start()
        time.sleep(1.5)
        edge.send_signal(signal.SIGKILL)
        edge.wait(10)
        time.sleep(1.0)  # the devices run alone meanwhile
        _stop(edge, signal.SIGKILL)
        edge = _serve(settings)
        for t in threads:
            t.join(RUN_LIMIT_S + 45.0)
        assert not any(t.is_alive() for t in threads)
    finally:
        _stop(edge, signal.SIGTERM)
    conn = sqlite3.connect(telemetry)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()
    rows = read_telemetry(telemetry)
    for config in configs:
        device_id = config.device_id
        seqs = {int(r["seq"]) for r in rows if r["device_id"] == device_id}  # type: ignore[call-overload]
        assert done[device_id] > 0 and done[device_id + ".lost"] == 0
        missing = set(range(1, done[device_id] + 1)) - seqs
        assert not missing, f"{device_id}: {len(missing)} inferences done but not recorded"
        assert len(seqs) == done[device_id]
