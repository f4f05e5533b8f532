"""Federated training of sciot's models across the fleet with Flower, and its hand-over.

Clients train the ``sensor`` model (each one site of the sensor pipeline's simulated plant) or
the ``fomo`` detector (synthetic scenes) on their own data; a Flower strategy (FedAvg, FedProx
or FedAdam) averages them; the server scores the global model on a held-out set each round
(``metrics.csv``) and finally converts it to TFLite float32 and int8, validates both against
Keras, and splits the int8 model with the model toolkit (``model.tflite``, ``splits/``).

The same ClientApp and ServerApp run under Flower's simulation engine (many virtual clients
in one process tree) and its deployment engine (a SuperLink and SuperNodes as processes, the
path to real fleets): :func:`run_federated` picks one. Flower lives in the optional
``federated`` extra, which pins packages the core does not; it is imported only when a run
starts, so everything else here works without it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from sciot.errors import MissingExtraError
from sciot.federated._data import Dataset, client_train_set, held_out_set, pooled_train_set
from sciot.federated._deployment import LocalFederation, run_deployment_engine, write_app
from sciot.federated._metrics import COLUMNS, RoundMetrics, plot_metrics, read_metrics
from sciot.federated._results import FederatedRunError, RunResult, read_result
from sciot.federated._settings import (
    MODEL_KINDS,
    STRATEGY_NAMES,
    FederatedSettings,
    settings_from_run_config,
)

Engine = Literal["simulation", "deployment"]
ENGINES: tuple[str, ...] = ("simulation", "deployment")
_Progress = Callable[[RoundMetrics], None]


def require_flower() -> None:
    """Fail with the extra to install when Flower is missing from this environment."""
    try:
        import flwr  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError("flwr", "federated", "Federated training") from exc


def run_federated(
    settings: FederatedSettings,
    *,
    engine: Engine = "simulation",
    workers: int | None = None,
    timeout_s: float = 1800.0,
    progress: _Progress | None = None,
) -> RunResult:
    """Run ``settings`` under Flower's simulation or deployment engine; the finished result."""
    require_flower()
    settings = settings.with_out_dir(settings.out_dir)
    if engine == "deployment":
        return run_deployment_engine(settings, timeout_s=timeout_s, progress=progress)
    from sciot.federated._simulation import run_simulation_engine

    return run_simulation_engine(settings, workers=workers, progress=progress)


def train_centralised(settings: FederatedSettings) -> list[RoundMetrics]:
    """Centralised training on the pooled client data (the federated accuracy yardstick)."""
    from sciot.federated._centralised import train_centralised as _train

    return _train(settings)


__all__ = [
    "COLUMNS",
    "ENGINES",
    "MODEL_KINDS",
    "STRATEGY_NAMES",
    "Dataset",
    "Engine",
    "FederatedRunError",
    "FederatedSettings",
    "LocalFederation",
    "RoundMetrics",
    "RunResult",
    "client_train_set",
    "held_out_set",
    "plot_metrics",
    "pooled_train_set",
    "read_metrics",
    "read_result",
    "require_flower",
    "run_deployment_engine",
    "run_federated",
    "settings_from_run_config",
    "train_centralised",
    "write_app",
]
