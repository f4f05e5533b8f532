"""``sciot serve`` with the raw transports on: every enabled transport from one edge."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from edge_testkit import Fomo
from serve_testkit import raw_urls, sciot_serve

from sciot.transport import client_transport
from sciot.wire import DeviceProfile, InferResponse, Register, RegisterAck, decode, encode

pytestmark = pytest.mark.slow


def test_serve_answers_over_tcp_and_udp_beside_http(tmp_path: Path, fomo: Fomo) -> None:
    with sciot_serve(tmp_path, "--tcp-port", "0", "--udp-port", "0") as (proc, lines):
        urls = raw_urls(lines)
        assert set(urls) == {"tcp", "udp"}, lines
        for scheme, url in urls.items():
            transport = client_transport(url)
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
