"""``sciot demo``: an edge and N devices on loopback; the summary and its JSON are exact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sciot.cli.demo import DemoOptions, DeviceEmulation, device_speed_factor, run_demo
from sciot.edge import read_telemetry
from sciot.errors import ConfigError

KEYS = {
    "devices",
    "duration_s",
    "inferences",
    "split_inferences",
    "local_fallbacks",
    "lost",
    "inferences_per_s",
    "latency_ms",
    "per_device",
}


@pytest.mark.parametrize("transport", ["http", "ws"])
def test_run_demo_serves_every_device(tmp_path: Path, transport: str) -> None:
    ticks: list[int] = []
    summary = run_demo(
        DemoOptions(
            devices=2,
            duration_s=0.6,
            transport=transport,  # type: ignore[arg-type]
            telemetry_path=tmp_path / "t.sqlite",
        ),
        on_tick=lambda tracks, url: ticks.append(sum(t.inferences for t in tracks)),
    )
    doc = summary.as_json()
    assert set(doc) == KEYS
    assert doc["devices"] == 2 and doc["duration_s"] == 0.6
    assert doc["lost"] == 0 and doc["local_fallbacks"] == 0
    assert doc["inferences"] > 0 and doc["inferences_per_s"] > 0
    assert doc["latency_ms"]["p95"] >= doc["latency_ms"]["p50"] > 0
    assert [d["device_id"] for d in doc["per_device"]] == ["device-01", "device-02"]
    for device in doc["per_device"]:
        assert sum(device["cuts"].values()) == device["inferences"]
    assert sum(d["inferences"] for d in doc["per_device"]) == doc["inferences"]
    assert ticks and ticks[-1] == doc["inferences"]
    # Every inference the edge took part in was persisted.
    rows = read_telemetry(tmp_path / "t.sqlite")
    assert len(rows) >= doc["split_inferences"]


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="--devices"):
        DemoOptions(devices=0)
    with pytest.raises(ConfigError, match="--duration"):
        DemoOptions(duration_s=0)
    with pytest.raises(ConfigError, match="--transport"):
        DemoOptions(transport="mqtt")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="--device-op-delay-ms"):
        DemoOptions(device_op_delay_s=2.0)
    with pytest.raises(ConfigError, match=r"--device-profile must be one of .*esp32-s3"):
        DemoOptions(device_profile="pdp-11")


def test_device_profiles_map_to_speed_factors() -> None:
    assert device_speed_factor("this-machine", "fomo96") == 1.0
    pi4 = device_speed_factor("rpi4", "fomo96")
    zero = device_speed_factor("rpi-zero-2w", "fomo96")
    esp = device_speed_factor("esp32-s3", "fomo96")
    # Measured here, so only the order is stable: each class is slower than the one above it.
    assert 1.0 <= pi4 < zero < esp


def test_default_profile_emulates_a_slower_device(tmp_path: Path) -> None:
    emulation = DeviceEmulation(profile="esp32-s3", speed_factor=8.0, whole_model_s=0.0002)
    assert emulation.device_alone_ms == pytest.approx(1.6)
    options = DemoOptions(devices=1, duration_s=0.5, telemetry_path=tmp_path / "t.sqlite")
    assert options.device_profile == "esp32-s3"
    summary = run_demo(options, emulation=emulation)
    assert summary.emulation == emulation
    assert set(summary.as_json()) == KEYS and summary.inferences > 0


@pytest.mark.slow
def test_cli_writes_the_json_summary(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sciot",
            "demo",
            "--devices",
            "3",
            "--duration",
            "1",
            "--transport",
            "ws",
            "--int8",
            "--device-op-delay-ms",
            "0.05",
            "--json",
            str(out),
            "--telemetry",
            str(tmp_path / "t.sqlite"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "sciot demo summary" in result.stdout
    doc = json.loads(out.read_text())
    assert set(doc) == KEYS and doc["devices"] == 3 and doc["lost"] == 0
    assert len(doc["per_device"]) == 3


def test_cli_rejects_bad_transport() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sciot", "demo", "--transport", "pigeon", "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == ConfigError.exit_code
    assert "--transport must be http or ws" in result.stderr


def test_litert_banner_is_filtered_and_other_stderr_kept(capfd: pytest.CaptureFixture[str]) -> None:
    from sciot.cli.demo import _litert_banner_filtered

    with _litert_banner_filtered():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"ERROR: something LiteRT really wants to say\n")
    err = capfd.readouterr().err
    assert "XNNPACK" not in err
    assert "ERROR: something LiteRT really wants to say" in err
