"""``sciot simulate`` and ``sciot analyze`` end to end on the shipped FOMO model."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from sciot.cli.app import main


@pytest.mark.slow
def test_simulate_then_analyze(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    argv = ["simulate", "-o", str(out), "-s", "baseline", "-s", "edge_outage"]
    argv += ["-p", "adaptive", "-p", "sciot", "-p", "oracle", "-n", "60", "--duration", "3"]
    main(argv)
    printed = capsys.readouterr().out
    assert "in-process virtual clock" in printed
    with (out / "summary.csv").open(newline="") as handle:
        summary = list(csv.DictReader(handle))
    assert {(r["scenario"], r["policy"]) for r in summary} == {
        (s, p) for s in ("baseline", "edge_outage") for p in ("adaptive", "sciot", "oracle")
    }
    # The oracle ran, oracle-dynamic did not: one regret is a number, the other n/a, and why.
    adaptive = next(
        line for line in printed.splitlines() if "baseline" in line and "adaptive" in line
    )
    assert "regret_dynamic   n/a" in adaptive and "regret n/a" not in adaptive
    assert "regret_dynamic n/a: no oracle-dynamic (best cut per request) ran" in printed
    assert "regret n/a:" not in printed
    main(["analyze", str(out)])
    assert (out / "analysis" / "report.html").is_file()
    assert "regret" in capsys.readouterr().out


def test_simulate_without_oracles_says_why_regret_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["simulate", "-o", str(tmp_path), "-s", "baseline", "-p", "adaptive", "-n", "20"])
    printed = capsys.readouterr().out
    row = next(line for line in printed.splitlines() if "baseline" in line)
    assert "regret   n/a  regret_dynamic   n/a" in row and "nan" not in printed
    assert "regret n/a: no oracle (best fixed cut) ran; add --policy oracle" in printed
    assert "regret_dynamic n/a: no oracle-dynamic" in printed


def test_simulate_rejects_unknown_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "-o", str(tmp_path), "-s", "rush_hour"])
    assert exit_info.value.code == 2
    assert "unknown scenario 'rush_hour'" in capsys.readouterr().err
