"""``sciot serve`` as a user runs it: a subprocess that prints its address and serves frames."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sciot.errors import ConfigError
from sciot.model import load_model
from sciot.model.zoo import demo_model_path
from sciot.transport import HttpClientTransport
from sciot.wire import Register, RegisterAck, decode, encode


@pytest.mark.slow
def test_serve_prints_its_address_and_serves(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sciot",
            "serve",
            "--port",
            "0",
            "--telemetry",
            str(tmp_path / "t.sqlite"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "sciot edge: serving fomo96 on http://127.0.0.1:" in line
        url = line.split(" on ", 1)[1].split()[0]
        transport = HttpClientTransport(url)
        model_id = load_model(demo_model_path("fomo96")).model_id
        ack = decode(
            transport.request(encode(Register(device_id="d", model_id=model_id)), timeout_s=10)
        )
        assert isinstance(ack, RegisterAck)
        transport.close()
    finally:
        process.terminate()
        process.wait(20)
        if process.stdout is not None:
            process.stdout.close()
    assert (tmp_path / "t.sqlite").exists()


def test_serve_names_a_wrong_config_key(tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("prot: 8000\n")
    result = subprocess.run(
        [sys.executable, "-m", "sciot", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == ConfigError.exit_code
    assert "unknown key 'prot'" in result.stderr
