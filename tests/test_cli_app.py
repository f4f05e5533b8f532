"""The top-level command: its groups, one-line usage errors and the look of ``--help``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sciot.cli.app import main


def test_help_lists_groups() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sciot", "--help"], capture_output=True, text=True, check=True
    )
    assert "model" in out.stdout


# (arguments, words the one line must contain: the flag or command, and what is allowed)
USAGE_ERRORS: list[tuple[list[str], list[str]]] = [
    (["simulate"], ["--out"]),
    (["demo", "--nosuch"], ["--nosuch"]),
    (["demo", "--devices", "abc"], ["--devices", "integer"]),
    (["device", "--duration", "-1"], ["--duration", "greater than or equal to 0"]),
    (["sensors", "run", "--duration", "-1"], ["--duration", "greater than or equal to"]),
    (["sensors", "evaluate", "--hours", "-1"], ["--hours", "greater than or equal to"]),
    (["simulate", "--requests", "0", "-o", "unused"], ["--requests", "greater than or equal to 1"]),
    (["serve", "--port", "80000"], ["--port", "less than or equal to 65535"]),
    (["model", "inspect"], ["model"]),
    (["nosuchcmd"], ["nosuchcmd"]),
    (["analyze"], ["'DIR'"]),
    (["sensors", "run", "--encoding", "xml"], ["--encoding", "'json', 'batch'"]),
]


@pytest.mark.parametrize(
    ("argv", "words"), USAGE_ERRORS, ids=[" ".join(a) for a, _ in USAGE_ERRORS]
)
def test_usage_error_is_one_line_and_exit_2(
    argv: list[str], words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("sciot: error: ")
    for word in words:
        assert word in lines[0], lines[0]
    assert "Traceback" not in captured.err + captured.out


def test_usage_error_through_the_module_entry_point() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sciot", "serve", "--port", "80000"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "--port" in out.stderr


def test_version_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--version"])
    assert capsys.readouterr().out.startswith("sciot ")


@pytest.mark.parametrize("argv", [["demo", "--help"], ["simulate", "--help"]])
def test_help_shows_no_type_beside_flags(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    main(argv)
    out = capsys.readouterr().out
    assert "--help" in out
    assert "<bool>" not in out
