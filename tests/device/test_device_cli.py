"""``sciot device``: bounded runs, a summary, and configuration errors as one clear line."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from sciot.cli.app import main


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_runs_locally_without_an_edge_and_summarises(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary_path = tmp_path / "summary.json"
    main(
        [
            "device",
            "--count",
            "20",
            "--edge-url",
            f"http://127.0.0.1:{_closed_port()}",
            "--json",
            str(summary_path),
        ]
    )
    out = capsys.readouterr()
    assert "local fallbacks" in out.out
    assert "refused the connection" in out.err
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    assert summary["inferences"] == 20
    assert summary["local_fallbacks"] == 20
    assert summary["lost"] == 0
    assert summary["queued"] == 20


def test_bad_config_key_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "client.yaml"
    config.write_text("devce_id: x\n", encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(["device", "--config", str(config), "--count", "1"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown key 'devce_id'" in err
    assert "Traceback" not in err
