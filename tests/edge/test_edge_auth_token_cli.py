"""``sciot token create|revoke|list``: printed once, stored hashed, revoked by name."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest

from sciot.cli.app import main
from sciot.errors import ConfigError


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return int(code or 0), out, err


def test_create_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "tokens.json"
    code, out, err = _run(["token", "create", "cam-1", "--token-file", str(store)], capsys)
    assert code == 0
    token = out.strip()
    assert len(token) == 64 and int(token, 16) >= 0
    assert "shown only now" in err
    text = store.read_text()
    assert token not in text  # only the digest is stored
    digest = hashlib.sha256(bytes.fromhex(token)).hexdigest()
    assert json.loads(text)["devices"]["cam-1"]["sha256"] == digest
    assert stat.S_IMODE(store.stat().st_mode) == 0o600

    code, out, _ = _run(["token", "create", "cam-2", "--token-file", str(store)], capsys)
    assert code == 0 and out.strip() != token
    code, out, _ = _run(["token", "list", "--token-file", str(store)], capsys)
    assert code == 0 and "cam-1" in out and "cam-2" in out and token not in out

    code, out, _ = _run(["token", "revoke", "cam-1", "--token-file", str(store)], capsys)
    assert code == 0 and "revoked 'cam-1'" in out
    assert set(json.loads(store.read_text())["devices"]) == {"cam-2"}
    code, _, err = _run(["token", "revoke", "cam-1", "--token-file", str(store)], capsys)
    assert code == ConfigError.exit_code
    assert "has no token" in err and "Traceback" not in err and err.count("\n") == 1


def test_the_store_path_comes_from_the_edge_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "from-settings.json"
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"auth:\n  mode: tokens\n  token_file: {store}\n")
    code, _, _ = _run(["token", "create", "cam-9", "--config", str(settings)], capsys)
    assert code == 0 and "cam-9" in json.loads(store.read_text())["devices"]


def test_a_broken_store_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "tokens.json"
    store.write_text("{not json")
    code, _, err = _run(["token", "list", "--token-file", str(store)], capsys)
    assert code == ConfigError.exit_code
    assert "is not a sciot token file" in err and "Traceback" not in err
