"""``sciot serve`` with the raw transports on: every enabled transport from one edge."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from edge_testkit import Fomo

from sciot.transport import client_transport
from sciot.wire import DeviceProfile, InferResponse, Register, RegisterAck, decode, encode

pytestmark = pytest.mark.slow


def test_serve_answers_over_tcp_and_udp_beside_http(tmp_path: Path, fomo: Fomo) -> None:
    cmd = [
        sys.executable,
        "-m",
        "sciot",
        "serve",
        "--port",
        "0",
        "--tcp-port",
        "0",
        "--udp-port",
        "0",
        "--telemetry",
        str(tmp_path / "t.sqlite"),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(2)]  # bounded: serve exits on error
        urls = dict(re.findall(r"(tcp|udp)://(\S+?)(?:[,)\s]|$)", " ".join(lines)))
        assert set(urls) == {"tcp", "udp"}, lines
        for scheme, netloc in urls.items():
            transport = client_transport(f"{scheme}://{netloc}")
            try:
                device = f"serve-{scheme}"
                register = Register(
                    device_id=device, model_id=fomo.graph.model_id, profile=DeviceProfile()
                )
                assert isinstance(
                    decode(transport.request(encode(register), timeout_s=10)), RegisterAck
                )
                reply = decode(
                    transport.request(encode(fomo.request(13, device_id=device)), timeout_s=10)
                )
                assert isinstance(reply, InferResponse)
            finally:
                transport.close()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode in (0, -signal.SIGINT, 130)


def test_serve_refuses_an_mqtt_group_without_a_broker() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sciot", "serve", "--port", "0", "--mqtt-group", "edge"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode != 0
    errors = [line for line in out.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "--mqtt-broker" in errors[0], out.stderr
