"""A real Mosquitto for the MQTT tests (edge, sensors, faults), on a free loopback port, stopped
by PID."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

MOSQUITTO = "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listened on 127.0.0.1:{port} within {timeout_s} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextmanager
def mosquitto_process(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """Yields the port and process of a broker started for this test (a test may stop the
    process early to see what losing the broker does); stopped by PID after."""
    binary = MOSQUITTO if Path(MOSQUITTO).exists() else shutil.which("mosquitto")
    if binary is None:
        pytest.skip("the mosquitto broker binary is not installed (apt-get install mosquitto)")
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 100000\nmax_inflight_messages 1000\nset_tcp_nodelay true\n"
        "log_dest none\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_listening(port, proc)
        yield port, proc
    finally:
        stop(proc)


@contextmanager
def mosquitto(tmp_path: Path) -> Iterator[int]:
    """Yields the port of a broker started for this test."""
    with mosquitto_process(tmp_path) as (port, _proc):
        yield port
