"""The shared local training step learns, FedProx's proximal term pulls weights back toward
the global model, and a trained FOMO model survives TFLite conversion and splitting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="needs the convert extra")

from sciot.federated import FederatedSettings, client_train_set
from sciot.federated._export import export_model
from sciot.federated._models import LocalTrainer

pytestmark = pytest.mark.tensorflow


def _fit(trainer: LocalTrainer, settings: FederatedSettings, mu: float) -> None:
    trainer.fit(
        client_train_set(settings, 0),
        epochs=2,
        batch_size=16,
        learning_rate=0.01,
        proximal_mu=mu,
        seed=1,
    )


def test_proximal_term_keeps_local_weights_nearer_the_global_model() -> None:
    settings = FederatedSettings(clients=2, samples_per_client=64)
    trainer = LocalTrainer("sensor")
    start = trainer.get_weights()

    def drift(mu: float) -> float:
        trainer.set_weights(start)
        _fit(trainer, settings, mu)
        return float(
            sum(np.sum((w - s) ** 2) for w, s in zip(trainer.get_weights(), start, strict=True))
        )

    free, pulled = drift(0.0), drift(50.0)
    assert pulled < free * 0.8, (free, pulled)


@pytest.mark.slow
def test_fomo_model_trains_converts_and_splits(tmp_path: Path) -> None:
    settings = FederatedSettings(
        model="fomo",
        clients=1,
        min_clients=1,
        samples_per_client=24,
        test_samples_per_client=8,
        calibration_samples=16,
    )
    trainer = LocalTrainer("fomo")
    data = client_train_set(settings, 0)
    before = trainer.evaluate(data).loss
    for _ in range(3):
        _fit(trainer, settings, 0.0)
    assert trainer.evaluate(data).loss < before
    report = export_model(trainer, settings, tmp_path)
    assert report.float32_agreement >= 0.99
    assert report.chain_bit_exact
    assert report.splittable_cuts >= 2
    assert (tmp_path / "model.tflite").is_file()


def test_the_same_seed_builds_the_same_initial_weights() -> None:
    from sciot.federated._models import build_model

    first, again = build_model("sensor", seed=3), build_model("sensor", seed=3)
    other = build_model("sensor", seed=4)
    pairs = zip(first.get_weights(), again.get_weights(), strict=True)
    assert all(np.array_equal(a, b) for a, b in pairs)
    assert not np.array_equal(first.get_weights()[0], other.get_weights()[0])
