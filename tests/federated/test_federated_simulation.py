"""Flower's simulation engine runs the real ClientApp and ServerApp end to end: rounds are
scored, a client that fails mid-run is left out of its round, and the final model comes out
as validated, split TFLite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("flwr", reason="needs the federated extra (.venv-federated)")

from sciot.federated import FederatedSettings, read_metrics, run_federated
from sciot.model import load_model


@pytest.mark.slow
# Ray leaves /dev/null handles and its service processes to the garbage collector.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_simulation_survives_a_dropout_and_exports_a_split_model(tmp_path: Path) -> None:
    settings = FederatedSettings(
        clients=3,
        rounds=3,
        samples_per_client=96,
        test_samples_per_client=24,
        fail_partitions="1",
        fail_round=2,
        out_dir=str(tmp_path / "run"),
    )
    seen: list[int] = []
    result = run_federated(settings, engine="simulation", progress=lambda r: seen.append(r.round))

    assert seen == [0, 1, 2, 3]
    rows = read_metrics(tmp_path / "run" / "metrics.csv")
    assert [r.round for r in rows] == [0, 1, 2, 3]
    assert (rows[1].clients_ok, rows[1].clients_failed) == (3, 0)
    assert (rows[2].clients_ok, rows[2].clients_failed) == (2, 1)
    assert (rows[3].clients_ok, rows[3].clients_failed) == (3, 0)
    assert rows[-1].loss < rows[0].loss  # training did something

    exported = result.summary["export"]
    assert exported["float32_agreement"] >= 0.99
    assert exported["int8_agreement"] >= 0.99
    assert exported["chain_bit_exact"] is True
    graph = load_model(result.model_path)
    assert graph.inputs[0].dtype == "int8"
    assert tuple(graph.inputs[0].shape) == (1, 128, 3)
    manifest = json.loads((tmp_path / "run" / "splits" / "manifest.json").read_text())
    assert len(manifest["cuts"]) == exported["splittable_cuts"] == graph.num_ops + 1
    assert (tmp_path / "run" / "splits" / manifest["cuts"][1]["head"]).is_file()
