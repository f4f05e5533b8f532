"""The analysis of a run: files exist, and the numbers match the raw rows."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from sciot.analysis import Report, analyze_run, format_table, load_run, markdown_table
from sciot.errors import ConfigError
from sciot.sim import ModelProfile, RunConfig, run_simulation

TINY = ModelProfile(
    name="tiny",
    op_s=(10e-6, 10e-6, 10e-6, 10e-6, 60e-6, 30e-6),
    crossing_bytes=(110_592, 147_456, 73_728, 18_432, 9_216, 2_304, 2_304),
    output_bytes=2_304,
    macs=4_000_000,
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    config = RunConfig(
        scenarios=("baseline", "edge_outage", "multi_client_baseline"),
        requests=120,
        duration_s=4.0,
        seed=1,
    )
    run_simulation(config, out, model=TINY)
    return out


@pytest.fixture(scope="module")
def report(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Report:
    """One analysis of the shared run (drawing the figures is the slow part)."""
    return analyze_run(run_dir, out_dir=tmp_path_factory.mktemp("report"))


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_report_files_exist(report: Report) -> None:
    names = {p.name for p in report.plots}
    assert {
        "breakdown.png",
        "distributions.png",
        "throughput.png",
        "bytes.png",
        "regret.png",
        "op_times.png",
        "timeline_baseline.png",
        "timeline_edge_outage.png",
    } <= names
    for path in report.plots:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = report.html.read_text()
    assert page.count("data:image/png;base64,") == len(report.plots)
    assert "in-process virtual clock" in page
    assert report.summary_csv.is_file()


def test_summary_numbers_match_the_raw_rows(run_dir: Path, report: Report) -> None:
    rows = _read(run_dir / "edge_outage.csv")
    oracle_mean = np.mean([float(r["latency_ms"]) for r in rows if r["policy"] == "oracle"])
    for policy in ("adaptive", "sciot", "device-only", "edge-only", "oracle"):
        latency = np.array([float(r["latency_ms"]) for r in rows if r["policy"] == policy])
        wire = [
            int(r["uplink_bytes"]) + int(r["downlink_bytes"]) for r in rows if r["policy"] == policy
        ]
        line = next(
            s for s in report.summary if s["scenario"] == "edge_outage" and s["policy"] == policy
        )
        assert line["inferences"] == len(latency)
        assert line["mean_ms"] == pytest.approx(latency.mean())
        assert line["p95_ms"] == pytest.approx(np.percentile(latency, 95))
        assert line["p99_ms"] == pytest.approx(np.percentile(latency, 99))
        assert line["bytes_per_inference"] == pytest.approx(np.mean(wire))
        assert line["regret"] == pytest.approx(latency.mean() / oracle_mean)


def test_regret_against_both_oracles_in_table_and_figure(run_dir: Path, report: Report) -> None:
    from sciot.analysis._figures import regret_estimates

    rows = _read(run_dir / "edge_outage.csv")
    dynamic = [float(r["latency_ms"]) for r in rows if r["policy"] == "oracle-dynamic"]
    mine = [float(r["latency_ms"]) for r in rows if r["policy"] == "adaptive"]
    assert dynamic, "the default policies include the per-request oracle"
    line = next(
        s for s in report.summary if s["scenario"] == "edge_outage" and s["policy"] == "adaptive"
    )
    assert line["regret_dynamic"] == pytest.approx(np.mean(mine) / np.mean(dynamic))
    header = report.table.splitlines()[0]
    assert "regret dyn" in header and "span s" in header and "nan" not in report.table
    figure = regret_estimates(load_run(run_dir), "oracle-dynamic")[("edge_outage", "adaptive")]
    assert figure.mean == pytest.approx(line["regret_dynamic"])
    assert "oracle-dynamic" in report.html.read_text()


def test_recomputed_summary_equals_the_runs_own(run_dir: Path, report: Report) -> None:
    assert _read(report.summary_csv) == _read(run_dir / "summary.csv")


def test_tables_have_one_line_per_scenario_and_policy(run_dir: Path) -> None:
    from sciot.sim import summarize

    summary = summarize(load_run(run_dir).rows)
    assert len(format_table(summary).splitlines()) == 1 + len(summary)
    assert len(markdown_table(summary).splitlines()) == 2 + len(summary)


def test_not_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"run\.json"):
        analyze_run(tmp_path)


def test_corrupt_rows_are_reported(run_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in run_dir.glob("*.*"):
        (broken / path.name).write_bytes(path.read_bytes())
    text = (broken / "baseline.csv").read_text().splitlines()
    text[1] = text[1].replace("adaptive,client-0,0,", "adaptive,client-0,zero,")
    (broken / "baseline.csv").write_text("\n".join(text))
    with pytest.raises(ConfigError, match="row 1"):
        load_run(broken)


def test_report_states_the_run_configuration_and_captions_every_figure(report: Report) -> None:
    page = report.html.read_text()
    header = page.split("<h2>Summary</h2>")[0]
    for fact in ("scenarios", "policies", "seeds", "requests", "emulation", "edge_outage"):
        assert fact in header
    assert page.count("<figcaption>") == len(report.plots)
    assert "p5" in page and "p99" in page  # the distribution caption explains its marks


def test_an_older_run_without_a_seed_column_still_loads(run_dir: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    for path in run_dir.glob("*.*"):
        (old / path.name).write_bytes(path.read_bytes())
    for path in old.glob("*.csv"):
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        if not rows or "seed" not in rows[0]:
            continue
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=[k for k in rows[0] if k != "seed"])
            writer.writeheader()
            writer.writerows({k: v for k, v in r.items() if k != "seed"} for r in rows)
    data = load_run(old)
    assert data.seeds == (0,) and len(data.rows) == len(load_run(run_dir).rows)


def test_without_an_oracle_there_is_no_regret_figure_and_the_report_says_why(
    tmp_path: Path,
) -> None:
    config = RunConfig(
        scenarios=("baseline",), policies=("adaptive", "device-only"), requests=60, duration_s=2.0
    )
    run_simulation(config, tmp_path / "run", model=TINY)
    report = analyze_run(tmp_path / "run", out_dir=tmp_path / "out")
    assert "regret.png" not in {p.name for p in report.plots}
    assert not (tmp_path / "out" / "regret.png").exists()
    assert "did not include" in report.html.read_text() and "--policy oracle" in (
        report.html.read_text()
    )
    # No oracle, no regret: the table says n/a, never nan.
    assert "n/a" in report.table and "nan" not in report.table


def test_timelines_mark_the_scenario_events() -> None:
    from sciot.analysis._events import scenario_events

    outage = scenario_events("edge_outage", 60.0)
    assert [(e.kind, e.start_s, e.end_s) for e in outage] == [("outage", 20.0, 30.0)]
    drop = scenario_events("bandwidth_drop", 60.0)
    assert [e.kind for e in drop] == ["bandwidth", "bandwidth"]
    assert scenario_events("baseline", 60.0) == ()
    assert scenario_events("no-such-scenario", 60.0) == ()


def test_confidence_interval_over_seeds() -> None:
    from sciot.analysis._stats import estimate

    one = estimate([3.0])
    assert one.half_width is None and one.text() == "3.00"
    two = estimate([1.0, 3.0])
    # t(0.975, 1) = 12.706, sd = sqrt(2), n = 2
    assert two.mean == 2.0 and two.half_width == pytest.approx(12.706)
    assert "±" in two.text()


def test_several_seeds_give_intervals_in_the_figures_and_a_seed_column(tmp_path: Path) -> None:
    config = RunConfig(scenarios=("baseline",), requests=60, duration_s=2.0, seed=3)
    run_simulation(config, tmp_path / "run", model=TINY, seeds=(3, 4))
    data = load_run(tmp_path / "run")
    assert data.seeds == (3, 4)
    report = analyze_run(tmp_path / "run", out_dir=tmp_path / "out")
    assert "seed" in report.table.splitlines()[0]
    assert "95% confidence intervals" in report.html.read_text()


def test_live_runs_are_labelled_with_wall_time(run_dir: Path) -> None:
    import dataclasses
    import json

    from sciot.analysis._captions import caption

    data = load_run(run_dir)
    assert not data.live and "simulated time" in caption("timeline_baseline", data)
    meta = json.loads((run_dir / "run.json").read_text())
    meta["config"]["emulation"] = "live"
    live = dataclasses.replace(data, meta=meta)
    assert live.live and "wall time" in caption("timeline_baseline", live)
