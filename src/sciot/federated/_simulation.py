"""Flower's simulation engine: many virtual clients on one machine, the apps unchanged.

Ray runs the ClientApp in a few worker processes (one per core by default), each serving
many virtual clients in turn; the ServerApp runs in this process, so progress arrives by
callback. Ray and Flower are quieted to errors: a run's story is its per-round progress
and ``metrics.csv``, not their start-up logs.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from sciot.errors import SciotError
from sciot.federated._apps import Progress, build_server_app, client_app
from sciot.federated._results import RunResult, read_result
from sciot.federated._settings import FederatedSettings


def run_simulation_engine(
    settings: FederatedSettings, *, workers: int | None = None, progress: Progress | None = None
) -> RunResult:
    """Train ``settings.clients`` virtual clients for ``settings.rounds`` rounds, in process."""
    from flwr.simulation import run_simulation

    cpus = workers if workers is not None else max(1, os.cpu_count() or 1)
    if cpus < 1:
        raise SciotError(f"workers must be >= 1, got {cpus}")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    logging.getLogger("flwr").setLevel(logging.ERROR)
    backend: dict[str, Any] = {
        "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
        "init_args": {
            "num_cpus": cpus,
            "num_gpus": 0,
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.ERROR,
        },
    }
    run_simulation(
        server_app=build_server_app(settings, progress),
        client_app=client_app,
        num_supernodes=settings.clients,
        backend_config=backend,
    )
    return read_result(settings.out_path)
