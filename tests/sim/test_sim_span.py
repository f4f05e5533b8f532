"""Every policy of a scenario is scored on the same simulated span, events inside it; seeds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sim_testkit import TINY, policy_rows, read_csv

from sciot.errors import ConfigError
from sciot.sim import RunConfig, run_simulation, scenario
from sciot.sim._span import common_span

POLICIES = ("adaptive", "sciot", "edge-only", "device-only", "oracle", "oracle-dynamic")


def test_a_request_bound_gives_every_policy_the_same_span_with_the_events(
    tmp_path: Path,
) -> None:
    # 500 requests cannot fill 60 s at the fastest cut: the span shrinks for everyone and
    # the drop and the recovery move into it.
    config = RunConfig(scenarios=("bandwidth_drop",), policies=POLICIES, requests=500)
    result = run_simulation(config, tmp_path, model=TINY)
    span_s = json.loads((tmp_path / "run.json").read_text())["spans_s"]["bandwidth_drop"]
    assert span_s < 60.0
    assert any("bandwidth_drop" in note and "cover at most" in note for note in result.notes)
    drop_s, back_s = span_s / 3, 2 * span_s / 3
    ends = {}
    for policy in POLICIES:
        rows = policy_rows(tmp_path / "bandwidth_drop.csv", policy)
        starts = np.array([float(r["start_s"]) for r in rows])
        assert len(rows) <= 500
        assert (starts < drop_s).any() and ((starts > drop_s) & (starts < back_s)).any()
        assert (starts > back_s).any(), f"{policy} saw the recovery"
        ends[policy] = float(starts.max())
    # All end within one slow request of each other: the same world, the same span.
    assert max(ends.values()) - min(ends.values()) < 0.5
    # The dynamic bound is a bound: nothing beats it but noise.
    summary = {r["policy"]: r for r in read_csv(tmp_path / "summary.csv")}
    assert all(float(r["regret_dynamic"]) > 0.97 for r in summary.values())


def test_a_run_too_short_for_its_events_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"edge_outage.* needs at least 30 requests"):
        run_simulation(RunConfig(scenarios=("edge_outage",), requests=12), tmp_path, model=TINY)


def test_rows_after_the_shortest_policy_ran_out_are_dropped_with_a_note() -> None:
    chosen = scenario("bandwidth_drop")
    from sciot.sim import InferenceRow

    def row(policy: str, start_s: float) -> InferenceRow:
        return InferenceRow(
            scenario=chosen.name,
            policy=policy,
            client="client-0",
            index=0,
            start_s=start_s,
            cut=0,
            probe=False,
            failed=False,
            latency_ms=1.0,
            device_ms=0.0,
            edge_ms=0.0,
            network_ms=1.0,
            queue_ms=0.0,
            predicted_ms=float("nan"),
            uplink_bytes=1,
            downlink_bytes=1,
            energy_mj=0.0,
            true_bytes_per_s=1.0,
            true_rtt_ms=1.0,
            reason="",
        )

    runs = {
        "fast": ([row("fast", t) for t in (0.0, 1.0, 2.0)], 2.5),
        "slow": ([row("slow", t) for t in (0.0, 4.0, 8.0)], 9.0),
    }
    kept, note = common_span(chosen, runs, span_s=9.0)
    assert [r.start_s for r in kept["slow"]] == [0.0]
    assert len(kept["fast"]) == 3
    assert note is not None and "fast stopped at 2.50 s" in note
    assert "events at 3.00, 6.00 s fall outside" in note


def test_seeds_repeat_the_run_and_label_every_row(tmp_path: Path) -> None:
    config = RunConfig(
        scenarios=("baseline",), policies=("adaptive", "oracle"), requests=80, duration_s=2.0
    )
    result = run_simulation(config, tmp_path / "both", model=TINY, seeds=(1, 2))
    rows = read_csv(tmp_path / "both" / "baseline.csv")
    assert {r["seed"] for r in rows} == {"1", "2"}
    assert {(r["policy"], r["seed"]) for r in result.summary} == {
        (p, s) for p in ("adaptive", "oracle") for s in (1, 2)
    }
    meta = json.loads((tmp_path / "both" / "run.json").read_text())
    assert meta["seeds"] == [1, 2] and meta["requests"] == 80
    assert meta["policies"] == ["adaptive", "oracle"]
    assert meta["emulation"] == "in-process virtual clock" and "baseline" in meta["scenarios"]
    # A seed's rows are the rows of a run with that seed alone.
    run_simulation(config, tmp_path / "two", model=TINY, seeds=(2,))
    alone = read_csv(tmp_path / "two" / "baseline.csv")
    assert [r for r in rows if r["seed"] == "2"] == alone
    first = [r["latency_ms"] for r in rows if r["seed"] == "1" and r["policy"] == "adaptive"]
    second = [r["latency_ms"] for r in alone if r["policy"] == "adaptive"]
    assert first != second, "another seed draws another world"
    with pytest.raises(ConfigError, match="seeds must be distinct"):
        run_simulation(config, tmp_path / "bad", model=TINY, seeds=(1, 1))
