"""Flower's deployment engine with real processes on loopback: a SuperLink and three
SuperNodes train the sensor model; one SuperNode is stopped after round 1 (a device that goes
away) and the run still finishes, without it; every process started is gone afterwards."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("flwr", reason="needs the federated extra (.venv-federated)")

from sciot.federated import (
    FederatedSettings,
    LocalFederation,
    RoundMetrics,
    read_metrics,
)
from sciot.federated._deployment import wait_for_run


@pytest.mark.slow
def test_three_supernodes_finish_a_run_when_one_goes_away(tmp_path: Path) -> None:
    out = tmp_path / "run"
    settings = FederatedSettings(
        clients=3,
        rounds=2,
        samples_per_client=96,
        test_samples_per_client=24,
        round_timeout_s=120.0,
        export=False,
    ).with_out_dir(out)
    with LocalFederation(tmp_path / "federation", nodes=3) as federation:
        run_id = federation.submit(settings)
        assert run_id.isdigit()

        def on_round(row: RoundMetrics) -> None:
            if row.round == 1:
                federation.stop_node(2)

        result = wait_for_run(federation, out, timeout_s=400.0, on_round=on_round)
        started = [p.pid for p in federation.supernodes]
        assert federation.superlink is not None
        started.append(federation.superlink.pid)

    rows = read_metrics(out / "metrics.csv")
    assert [r.round for r in rows] == [0, 1, 2]
    assert (rows[1].clients_ok, rows[1].clients_failed) == (3, 0)
    assert rows[2].clients_ok == 2  # the stopped node answered nothing
    assert rows[2].loss < rows[0].loss
    assert result.final.round == 2
    assert not [pid for pid in started if os.path.exists(f"/proc/{pid}")]
