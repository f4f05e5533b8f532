"""``sciot device --device-profile --link``: emulating a device class and a network, as the
demo does, so a development box shows the splitting a real slow device over Wi-Fi gets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sciot.cli.app import main
from sciot.edge import EdgeConfig, start_edge


@pytest.fixture()
def edge_url() -> Iterator[str]:
    config = EdgeConfig.from_mapping(
        {"host": "127.0.0.1", "port": 0, "telemetry": {"enabled": False}}, source="test edge"
    )
    server, _app = start_edge(config)
    try:
        yield server.http_url
    finally:
        server.stop()


@pytest.mark.slow
def test_an_emulated_slow_device_over_wifi_splits(
    edge_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary_path = tmp_path / "summary.json"
    main(
        [
            "device",
            "--edge-url",
            edge_url,
            "--count",
            "60",
            "--device-profile",
            "esp32-s3",
            "--link",
            "wifi",
            "--quiet",
            "--json",
            str(summary_path),
        ]
    )
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    assert summary["inferences"] == 60
    # An ESP32-S3 takes ~40 ms for the whole model; over 20 Mbit/s an early cut costs less, so
    # most inferences leave the device (the bare dev box would keep nearly all of them local).
    left_the_device = summary["inferences"] - summary["device_only"] - summary["local_fallbacks"]
    assert left_the_device >= 30, summary
    assert "almost every inference ran on the device alone" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "value"), [("--link", "carrier-pigeon"), ("--device-profile", "abacus")]
)
def test_unknown_emulation_names_are_usage_errors(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["device", "--count", "1", flag, value])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and flag in err and value in err
