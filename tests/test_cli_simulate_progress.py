"""``sciot simulate``: the progress bar counts runs (whose number is known, so it ends full)
and ``--seeds`` repeats every scenario and policy with consecutive seeds."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from sciot.cli.app import main
from sciot.cli.simulate import _RunCounter


def test_a_new_label_finishes_the_previous_run_and_the_count_stays_below_total() -> None:
    counter = _RunCounter(total=3)
    assert counter.step(100, "baseline / adaptive") == 0
    assert counter.step(100, "baseline / adaptive") == 0
    assert counter.step(40, "baseline / sciot") == 1
    assert counter.step(100, "edge_outage / adaptive") == 2
    # More labels than expected (a runner reporting twice) never shows the bar full early.
    assert counter.step(1, "edge_outage / sciot") == 2
    assert counter.inferences == 341
    assert "edge_outage / sciot" in counter.describe() and "341" in counter.describe()


def test_seeds_flag_repeats_each_run_with_consecutive_seeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = ["simulate", "-s", "baseline", "-p", "adaptive", "-p", "oracle", "--requests", "40"]
    main([*argv, "--duration", "2", "--seed", "5", "--seeds", "2", "-o", str(out)])
    with (out / "baseline.csv").open(newline="") as handle:
        seeds = {row["seed"] for row in csv.DictReader(handle)}
    assert seeds == {"5", "6"}
    assert "4 scenario x policy x seed runs" in capsys.readouterr().out


def test_profile_flag_writes_the_op_times_once_and_replays_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--profile FILE`` measures the model's op times into FILE on the first run and reads
    them back on the next, so the rerun gives the same rows; a profile of another model is
    refused, saying what to do."""
    stored = tmp_path / "fomo96.json"
    argv = ["simulate", "-s", "baseline", "-p", "adaptive", "--requests", "40"]
    argv += ["--duration", "2", "--profile", str(stored)]
    main([*argv, "-o", str(tmp_path / "a")])
    assert stored.is_file()
    written = stored.read_text()
    main([*argv, "-o", str(tmp_path / "b")])
    assert stored.read_text() == written, "read back, not measured again"
    rows = [(tmp_path / run / "baseline.csv").read_text() for run in ("a", "b")]
    assert rows[0] == rows[1]
    other = tmp_path / "other.json"
    other.write_text(written.replace('"output_bytes": ', '"output_bytes": 1'))
    with pytest.raises(SystemExit) as raised:
        main([*argv[:-1], str(other), "-o", str(tmp_path / "c")])
    assert raised.value.code != 0
    assert "is of another model" in capsys.readouterr().err
