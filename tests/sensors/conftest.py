"""Fixtures for the sensor pipeline tests: a real Mosquitto broker on a free loopback port.

The broker is the edge tests' (``tests/edge/broker_testkit.py``), so every MQTT test starts
and stops it the same way.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "edge"))
from broker_testkit import mosquitto_process as broker_process


@pytest.fixture()
def mosquitto(mosquitto_process: tuple[str, subprocess.Popen[bytes]]) -> str:
    """``127.0.0.1:<port>`` of a Mosquitto started for this test and stopped by PID after."""
    return mosquitto_process[0]


@pytest.fixture()
def mosquitto_process(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The broker's address and process (a test may stop it early to see the failure)."""
    with broker_process(tmp_path) as (port, proc):
        yield f"127.0.0.1:{port}", proc
