"""``sciot bench net`` end to end (tiny and bounded), and its refusals of bad options."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sciot.cli._bench_echo import EchoHandler
from sciot.cli.app import main
from sciot.cli.bench import parse_sizes, request_frame
from sciot.errors import ConfigError
from sciot.wire import InferRequest, decode


def test_request_frames_are_real_frames_of_the_stated_size() -> None:
    for size in (64, 1000, 65536):
        frame = request_frame(size, seq=5)
        assert len(frame) == size
        message = decode(frame, max_frame_bytes=1 << 20)
        assert isinstance(message, InferRequest) and message.seq == 5
    assert EchoHandler(1024).handle_frame(b"abc", 0.0).frame == b"abc"


def test_sizes_parse_and_bad_ones_name_the_problem() -> None:
    assert parse_sizes("64, 1k,1m") == [64, 1024, 1 << 20]
    with pytest.raises(ConfigError, match="between 64 bytes and 4m"):
        parse_sizes("8")
    with pytest.raises(ConfigError, match="is not a size"):
        parse_sizes("lots")


@pytest.mark.slow
def test_bench_net_measures_each_transport_and_writes_its_outputs(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "sciot",
            "bench",
            "net",
            "--transports",
            "http,tcp,udp,mqtt",
            "--sizes",
            "64,64k",
            "--links",
            "loopback,wifi",
            "--seconds",
            "0.05",
            "--max-requests",
            "5",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "| loopback | tcp | 65536 |" in out.stdout
    rows = json.loads((tmp_path / "net.json").read_text())
    measured = {(r["link"], r["transport"], r["size_bytes"]) for r in rows}
    transports = {"http", "tcp", "udp"} | ({"mqtt"} if "mqtt: skipped" not in out.stderr else set())
    assert measured == {
        (link, t, s) for link in ("loopback", "wifi") for t in transports for s in (64, 65536)
    }
    assert all(r["requests"] >= 3 and r["rtt_p50_ms"] > 0 for r in rows)
    wifi = {r["transport"]: r for r in rows if r["link"] == "wifi" and r["size_bytes"] == 64}
    assert all(r["rtt_p50_ms"] >= 3.0 for r in wifi.values())  # the emulated 3 ms round trip
    assert (tmp_path / "net.md").exists()


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--transports", "carrier-pigeon"], ["--transports", "carrier-pigeon"]),
        (["--sizes", "8m"], ["--sizes", "4m"]),
        (["--links", "moon"], ["--links", "moon"]),
        (["--seconds", "0"], ["--seconds"]),
        (["--trace", "/nonexistent/up", "/nonexistent/down"], ["--trace", "not a file"]),
    ],
)
def test_bad_options_are_one_line_errors(
    argv: list[str], words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "net", *argv])
    assert exit_info.value.code != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for word in words:
        assert word in err
