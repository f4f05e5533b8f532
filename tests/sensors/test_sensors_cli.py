"""``sciot sensors run``: the JSON report, the summary table and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sciot.cli.app import main

FAST = ["--duration", "2", "--speed", "200", "--encoding", "batch"]


def test_run_writes_the_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.json"
    state = tmp_path / "detector.pkl"
    main(["sensors", "run", *FAST, "--json", str(out), "--save-detector", str(state)])
    doc = json.loads(out.read_text(encoding="utf-8"))
    for key in ("readings", "readings_per_s", "alerts", "malformed", "precision", "recall", "f1"):
        assert key in doc
    assert doc["readings"] > 0 and set(doc["latency_ms"]) == {"p50", "p99"}
    assert set(doc["per_kind"]["spike"]) >= {"precision", "recall", "f1"}
    assert "sensor pipeline" in capsys.readouterr().out  # the summary table
    # The saved detector starts the next run.
    main(["sensors", "run", *FAST, "--quiet", "--load-detector", str(state)])
    assert json.loads(capsys.readouterr().out)["readings"] > 0


def test_evaluate_scores_simulated_hours(capsys: pytest.CaptureFixture[str]) -> None:
    main(["sensors", "evaluate", "--hours", "1", "--quiet"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["events"] > 10 and doc["f1"] is not None
    assert doc["missing_seq"] == 0
    with pytest.raises(SystemExit) as exc:
        main(["sensors", "evaluate", "--config", "/nonexistent/x.yaml"])
    assert exc.value.code == 2


def test_example_config_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "plant.yaml"
    main(["sensors", "example-config", str(path)])
    main(["sensors", "run", "--config", str(path), *FAST, "--quiet", "--json", str(path) + ".j"])
    assert json.loads(Path(str(path) + ".j").read_text(encoding="utf-8"))["readings"] > 0


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["--mode", "ingest"], 2, "needs --broker"),
        (["--config", "/nonexistent/x.yaml"], 2, "cannot read"),
        (["--duration", "100000"], 2, "--duration"),
    ],
)
def test_errors_are_one_line(
    args: list[str], code: int, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sensors", "run", "--quiet", *args])
    assert exc.value.code == code
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_speed_flag_errors_name_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sensors", "run", "--quiet", "--speed", "0"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "'--speed'" in err and "> 0" in err and "<default>" not in err


def test_a_run_without_anomalies_shows_no_scores_and_says_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 1 wall s at 20 simulated s per s ends long before the anomaly warm-up.
    main(["sensors", "run", "--duration", "1", "--speed", "20", "--quiet"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["events"] == 0
    assert doc["precision"] is None and doc["recall"] is None and doc["f1"] is None
    assert "warmup_s" in doc["scores_note"] and "--duration" in doc["scores_note"]
    main(["sensors", "run", "--duration", "1", "--speed", "20"])
    table = capsys.readouterr().out
    assert "n/a" in table and "0.000" not in table
