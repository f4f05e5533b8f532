"""Model versions: a new version of a served model deployed while the edge serves.

A model is served under a label; each version is identified by its model id (the content hash
that every frame carries), so a frame for one version can never reach another version's tail.
:class:`ModelDeployer` takes a new version's bytes, prepares it off the request path (every
tail's interpreter pool and the op profile, in a background thread, exactly as at startup)
and only then hands it to :meth:`EdgeCore.publish_model`. From then on the label's earlier
versions are *superseded*: they keep serving the devices registered on them, whose replies
carry the newer-model notice (``sciot.wire.mark_newer_model``) until they fetch the new
version and register again; a superseded version that no registered device uses any more is
retired.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from sciot.edge._models import ServedModel
from sciot.errors import ConfigError, ModelError, SciotError
from sciot.model import ModelGraph, load_model

log = logging.getLogger("sciot.edge")

MAX_MODEL_BYTES = 64 * 1024 * 1024
"""The largest model file the deploy endpoint reads (TinyML models are far smaller)."""


class VersionTable:
    """Which version of each label is current, and which are superseded; thread-safe."""

    def __init__(self, models: Iterable[ServedModel]) -> None:
        self._lock = threading.Lock()
        self.current: dict[str, str] = {}
        """label -> model id of the version new registrations should use."""
        self.superseded: frozenset[str] = frozenset()
        """Model ids still served for their devices, but no longer current."""
        for model in models:
            self.current.setdefault(model.label, model.model_id)

    def publish(self, model: ServedModel, served: Iterable[ServedModel]) -> None:
        with self._lock:
            self.current[model.label] = model.model_id
            older = {m.model_id for m in served if m.label == model.label}
            older.discard(model.model_id)
            self.superseded = self.superseded | older

    def retire(self, model_ids: Iterable[str]) -> None:
        with self._lock:
            self.superseded = self.superseded - set(model_ids)


class Publisher(Protocol):
    """What the deployer needs of the core."""

    @property
    def models(self) -> dict[str, ServedModel]: ...

    @property
    def versions(self) -> VersionTable: ...

    def publish_model(self, model: ServedModel) -> None: ...


@dataclass(slots=True, kw_only=True)
class Deployment:
    """One submitted version and how far it got."""

    label: str
    model_id: str
    num_ops: int
    state: str = "preparing"
    """``preparing``, then ``current`` (published) or ``failed``."""
    reason: str = ""
    submitted_at_s: float = 0.0
    prepare_s: float | None = None


class ModelDeployer:
    """Accepts new versions and prepares each in its own thread before publishing it."""

    def __init__(self, core: Publisher, *, workers: int) -> None:
        self._core = core
        self._workers = workers
        self._lock = threading.Lock()
        self.deployments: list[Deployment] = []
        self._threads: list[threading.Thread] = []

    def submit(self, label: str, data: bytes) -> Deployment:
        """Validate ``data`` as a version of ``label`` and start preparing it; a
        :class:`ConfigError` says in one line why it cannot be deployed."""
        if label not in self._core.versions.current:
            served = ", ".join(sorted(self._core.versions.current))
            raise ConfigError(f"this edge serves no model labelled {label!r}; it serves: {served}")
        try:
            graph = load_model(data)
        except ModelError as exc:
            raise ConfigError(f"not a usable .tflite model: {exc}") from exc
        if graph.num_ops < 1:
            raise ConfigError("the model has no operators to split")
        with self._lock:
            if graph.model_id in self._core.models or any(
                d.model_id == graph.model_id and d.state == "preparing" for d in self.deployments
            ):
                raise ConfigError(f"model {graph.model_id} is already served or being prepared")
            deployment = Deployment(
                label=label,
                model_id=graph.model_id,
                num_ops=graph.num_ops,
                submitted_at_s=time.time(),
            )
            self.deployments.append(deployment)
            thread = threading.Thread(
                target=self._prepare,
                args=(deployment, graph),
                name=f"sciot-deploy-{graph.model_id}",
                daemon=True,
            )
            self._threads.append(thread)
        thread.start()
        return deployment

    def _prepare(self, deployment: Deployment, graph: ModelGraph) -> None:
        started = time.perf_counter()
        try:
            served = ServedModel(graph, label=deployment.label, workers=self._workers)
            self._core.publish_model(served)
        except (SciotError, ValueError, RuntimeError) as exc:
            deployment.state, deployment.reason = "failed", str(exc)
            log.warning("deploying %s as %s failed: %s", graph.model_id, deployment.label, exc)
            return
        deployment.prepare_s = time.perf_counter() - started
        deployment.state = "current"
        log.info(
            "model %s now serves as %s (prepared in %.2f s)",
            graph.model_id,
            deployment.label,
            deployment.prepare_s,
        )

    def join(self, timeout_s: float) -> None:
        """Wait (bounded) for preparations in progress, e.g. at shutdown."""
        deadline = time.monotonic() + timeout_s
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))


__all__ = ["MAX_MODEL_BYTES", "Deployment", "ModelDeployer", "VersionTable"]
