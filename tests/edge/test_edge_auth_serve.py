"""``sciot serve`` and authentication as a user meets them: the loud development-mode warning,
the refusal to listen beyond loopback without tokens, and an HTTPS edge with tokens on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tls_testkit import make_pki

from sciot.device import DeviceConfig, run_device
from sciot.edge import TokenStore
from sciot.errors import ConfigError


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sciot", "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_refuses_a_public_host_without_auth() -> None:
    result = _serve("--host", "0.0.0.0", "--port", "0")
    assert result.returncode == ConfigError.exit_code
    assert "allow_public_without_auth" in result.stderr and "0.0.0.0" in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def _run_until_ready(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "sciot", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines = [process.stdout.readline()]
    while lines[-1] and "serving" not in lines[-1]:
        lines.append(process.stdout.readline())
    return process, "".join(lines)


def _stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    _, err = process.communicate(timeout=30)
    return err


@pytest.mark.slow
def test_serve_warns_loudly_in_development_mode(tmp_path: Path) -> None:
    process, line = _run_until_ready(["--port", "0", "--telemetry", str(tmp_path / "t.sqlite")])
    err = _stop(process)
    assert "serving fomo96 on http://127.0.0.1:" in line
    assert "WARNING: device authentication is OFF" in err


@pytest.mark.slow
def test_serve_with_tokens_over_https(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    store = TokenStore(tmp_path / "tokens.json")
    token = store.create("cam-1").hex()
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        f"port: 0\ntls_certfile: {pki.cert}\ntls_keyfile: {pki.key}\n"
        f"telemetry: {{path: {tmp_path / 't.sqlite'}}}\n"
    )
    process, line = _run_until_ready(
        ["--config", str(settings), "--auth", "--token-file", str(store.path)]
    )
    try:
        assert " on https://127.0.0.1:" in line, line
        url = line.split(" on https://", 1)[1].split()[0]
        url = "https://" + url
        device = DeviceConfig.from_mapping(
            {"edge_url": url, "device_id": "cam-1", "token": token, "ca_file": str(pki.ca)}
        )
        stats = run_device(device, count=10)
        assert stats.inferences == 10 and stats.registrations == 1 and stats.failures == 0
        stranger = DeviceConfig.from_mapping(
            {"edge_url": url, "device_id": "cam-2", "token": token, "ca_file": str(pki.ca)}
        )
        with pytest.raises(ConfigError, match="no token on this edge"):
            run_device(stranger, count=1)
    finally:
        err = _stop(process)
    assert "device tokens required (1 provisioned" in line
    assert "authentication is OFF" not in err
