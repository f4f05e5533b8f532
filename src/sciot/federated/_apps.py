"""Flower's ClientApp and ServerApp for sciot models (the Message API), used by both engines.

The ClientApp trains the global model on its own partition and replies with the new weights;
the partition id comes from the node's config (``partition-id``), everything else from the
round's ``ConfigRecord`` (the run's settings as flat scalars), so one SuperNode binary serves
any run. The ServerApp runs a Flower strategy, evaluates the global model on the held-out
set after every round (a CSV row and a progress line each), then saves the final Keras model
and hands it to :mod:`sciot.federated._export`. A client that fails or never answers in a
round is left out of that round's average; the round's row counts it.

``server_app`` reads its settings from the run config (the deployment engine);
:func:`build_server_app` closes over settings given in Python (the simulation engine).
"""

from __future__ import annotations

import json
import time
import traceback
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, fields
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAdam, FedAvg, FedProx

from sciot.errors import ConfigError, SciotError
from sciot.federated._data import Dataset, client_train_set, held_out_set
from sciot.federated._export import export_model
from sciot.federated._metrics import MetricsWriter, RoundMetrics, binary_f1, fomo_f1
from sciot.federated._models import LocalTrainer
from sciot.federated._results import ERROR_FILE, SUMMARY_FILE
from sciot.federated._settings import (
    FederatedSettings,
    settings_from_run_config,
)

Progress = Callable[[RoundMetrics], None]
_SETTING_KEYS = frozenset(f.name for f in fields(FederatedSettings))


class ClientDropout(SciotError):
    """A client told to fail in a round (fault injection for dropout tests)."""


# --- client side -----------------------------------------------------------------------------

client_app = ClientApp()


@cache
def _trainer(kind: str) -> LocalTrainer:
    """One trainer per process and model kind: a virtual client process serves many rounds."""
    return LocalTrainer(kind)


@client_app.train()  # type: ignore[untyped-decorator]
def _train(msg: Message, context: Context) -> Message:
    config = msg.content["config"]
    assert isinstance(config, ConfigRecord)
    settings = settings_from_run_config({k: v for k, v in config.items() if k in _SETTING_KEYS})
    server_round = int(str(config["server-round"]))
    mu = float(str(config.get("proximal-mu", 0.0)))
    partition = partition_id(context, settings)
    if server_round == settings.fail_round and partition in settings.failing_partitions():
        raise ClientDropout(f"client {partition} dropped out in round {server_round}")
    arrays = msg.content["arrays"]
    assert isinstance(arrays, ArrayRecord)
    trainer = _trainer(settings.model)
    trainer.set_weights(arrays.to_numpy_ndarrays())
    fit = trainer.fit(
        client_train_set(settings, partition),
        epochs=settings.local_epochs,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        proximal_mu=mu,
        seed=settings.seed * 7919 + server_round * 131 + partition,
    )
    reply = RecordDict(
        {
            "arrays": ArrayRecord(trainer.get_weights()),
            "metrics": MetricRecord({"train_loss": fit.loss, "num-examples": fit.examples}),
        }
    )
    return Message(content=reply, reply_to=msg)


def partition_id(context: Context, settings: FederatedSettings) -> int:
    """This node's partition, from ``--node-config partition-id=K`` (simulation sets it)."""
    raw = context.node_config.get("partition-id")
    if raw is None:
        raise ConfigError(
            "this SuperNode has no partition-id; start it with "
            "--node-config 'partition-id=K num-partitions=N'"
        )
    partition = int(str(raw))
    if not 0 <= partition < settings.clients:
        raise ConfigError(f"partition-id {partition} is outside [0, {settings.clients})")
    return partition


# --- server side -----------------------------------------------------------------------------


def make_strategy(settings: FederatedSettings) -> FedAvg:
    """The Flower strategy named by the settings, counting each round's replies."""
    common: dict[str, Any] = {
        "fraction_train": settings.fraction_train,
        "fraction_evaluate": 0.0,
        "min_train_nodes": settings.min_clients,
        "min_evaluate_nodes": 0,
        "min_available_nodes": settings.min_clients,
    }
    strategy: FedAvg
    if settings.strategy == "fedprox":
        strategy = _CountingFedProx(proximal_mu=settings.proximal_mu, **common)
    elif settings.strategy == "fedadam":
        strategy = _CountingFedAdam(
            eta=settings.server_learning_rate, eta_l=settings.learning_rate, **common
        )
    else:
        strategy = _CountingFedAvg(**common)
    return strategy


class _ReplyCounter:
    """Mixin: remember how many clients answered the last training round and how many failed."""

    replies_ok = 0
    replies_failed = 0

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = list(replies)
        self.replies_failed = sum(1 for r in replies if r.has_error())
        self.replies_ok = len(replies) - self.replies_failed
        return super().aggregate_train(server_round, replies)  # type: ignore[misc, no-any-return]


class _CountingFedAvg(_ReplyCounter, FedAvg):  # type: ignore[misc]
    pass


class _CountingFedProx(_ReplyCounter, FedProx):  # type: ignore[misc]
    pass


class _CountingFedAdam(_ReplyCounter, FedAdam):  # type: ignore[misc]
    pass


def run_server(
    grid: Grid, settings: FederatedSettings, progress: Progress | None = None
) -> dict[str, Any]:
    """The whole server side of a run; writes metrics, the model and ``summary.json``."""
    out = settings.out_path
    out.mkdir(parents=True, exist_ok=True)
    (out / ERROR_FILE).unlink(missing_ok=True)
    (out / SUMMARY_FILE).unlink(missing_ok=True)
    try:
        return _run_server(grid, settings, out, progress)
    except BaseException as exc:
        line = str(exc) if isinstance(exc, SciotError) else f"{type(exc).__name__}: {exc}"
        (out / ERROR_FILE).write_text(line + "\n\n" + traceback.format_exc())
        raise


def _run_server(
    grid: Grid, settings: FederatedSettings, out: Path, progress: Progress | None
) -> dict[str, Any]:
    started = time.monotonic()
    trainer = LocalTrainer(settings.model)
    test = held_out_set(settings)
    strategy = make_strategy(settings)
    writer = MetricsWriter(out / "metrics.csv")

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        trainer.set_weights(arrays.to_numpy_ndarrays())
        result = trainer.evaluate(test)
        row = RoundMetrics(
            round=server_round,
            accuracy=result.accuracy,
            loss=result.loss,
            f1=_f1(settings, result.predictions, test),
            clients_ok=strategy.replies_ok if server_round else 0,
            clients_failed=strategy.replies_failed if server_round else 0,
            elapsed_s=time.monotonic() - started,
        )
        writer.write(row)
        if progress is not None:
            progress(row)
        return MetricRecord({"accuracy": row.accuracy, "loss": row.loss, "f1": row.f1})

    result = strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord(trainer.get_weights()),
        num_rounds=settings.rounds,
        timeout=settings.round_timeout_s,
        train_config=ConfigRecord(dict(settings.to_run_config())),
        evaluate_fn=evaluate,
    )
    trainer.set_weights(result.arrays.to_numpy_ndarrays())
    with warnings.catch_warnings():
        # Keras's saver trips numpy 2's copy-keyword deprecation; nothing to fix on our side.
        warnings.simplefilter("ignore", DeprecationWarning)
        trainer.model.save(out / "model.keras")
    summary: dict[str, Any] = {
        "settings": asdict(settings),
        "rounds": [asdict(r) for r in writer.rows],
        "final": asdict(writer.rows[-1]),
        "train_seconds": time.monotonic() - started,
    }
    if settings.export:
        summary["export"] = asdict(export_model(trainer, settings, out))
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary


def _f1(settings: FederatedSettings, predictions: np.ndarray, test: Dataset) -> float:
    if settings.model == "fomo":
        return fomo_f1(predictions, test.y)
    return binary_f1(predictions, test.y)


def build_server_app(settings: FederatedSettings, progress: Progress | None = None) -> ServerApp:
    """A ServerApp that runs ``settings`` (the simulation engine has no run config to read)."""
    app = ServerApp()

    @app.main()  # type: ignore[untyped-decorator]
    def _main(grid: Grid, context: Context) -> None:
        run_server(grid, settings, progress)

    return app


server_app = ServerApp()


@server_app.main()  # type: ignore[untyped-decorator]
def _deployed_main(grid: Grid, context: Context) -> None:
    run_server(grid, settings_from_run_config(dict(context.run_config)))
