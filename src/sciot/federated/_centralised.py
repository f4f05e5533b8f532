"""The yardstick for federated accuracy: the same model trained on all clients' data at once.

It sees the pooled training partitions (label skew included) for as many passes as each
client makes in the federated run (``rounds x local_epochs``), with the same optimiser and
learning rate, and is scored on the same held-out set after each round's worth of epochs.
"""

from __future__ import annotations

import time

from sciot.federated._data import held_out_set, pooled_train_set
from sciot.federated._metrics import RoundMetrics, binary_f1, fomo_f1
from sciot.federated._models import LocalTrainer
from sciot.federated._settings import FederatedSettings


def train_centralised(settings: FederatedSettings) -> list[RoundMetrics]:
    """Per-"round" held-out metrics of centralised training (round 0: untrained)."""
    started = time.monotonic()
    trainer = LocalTrainer(settings.model)
    train, test = pooled_train_set(settings), held_out_set(settings)
    score = fomo_f1 if settings.model == "fomo" else binary_f1
    rows = []
    for server_round in range(settings.rounds + 1):
        if server_round:
            trainer.fit(
                train,
                epochs=settings.local_epochs,
                batch_size=settings.batch_size,
                learning_rate=settings.learning_rate,
                proximal_mu=0.0,
                seed=settings.seed * 7919 + server_round,
            )
        result = trainer.evaluate(test)
        rows.append(
            RoundMetrics(
                round=server_round,
                accuracy=result.accuracy,
                loss=result.loss,
                f1=score(result.predictions, test.y),
                clients_ok=0,
                clients_failed=0,
                elapsed_s=time.monotonic() - started,
            )
        )
    return rows
