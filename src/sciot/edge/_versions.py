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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from sciot.edge._models import ServedModel
from sciot.errors import ConfigError, ModelError, SciotError
from sciot.model import ModelGraph, load_model
from sciot.runtime import verify_cuts

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


class ModelPlanners(Protocol):
    """What a version change needs of the planners (the core's planner mailbox)."""

    def add_model(self, model: ServedModel) -> None: ...

    def drop_model(self, model_id: str) -> None: ...


class ServedVersions:
    """The models served right now, by model id and by the raw id a frame header carries,
    and which version of each label is current. Publishing, retiring and registering hold
    :attr:`lock`, so a version is never retired between a registration's lookup and its
    record; the dicts are replaced, never mutated, so readers need no lock."""

    def __init__(
        self,
        models: Iterable[ServedModel],
        planners: ModelPlanners,
        *,
        in_use: Callable[[], set[str]],
    ) -> None:
        served = list(models)
        self.models = {m.model_id: m for m in served}
        self.by_raw_id = {bytes.fromhex(m.model_id): m for m in served}
        self.table = VersionTable(served)
        self.lock = threading.Lock()
        self._planners = planners
        self._in_use = in_use

    def publish(self, model: ServedModel) -> None:
        """Serve a prepared new version: new registrations for its label get it."""
        with self.lock:
            self._planners.add_model(model)
            self.models = {**self.models, model.model_id: model}
            self.by_raw_id = {**self.by_raw_id, bytes.fromhex(model.model_id): model}
            self.table.publish(model, self.models.values())
            self.retire_unused()

    def retire_unused(self) -> None:
        """Stop serving superseded versions no registered device uses (lock held)."""
        if not self.table.superseded:
            return
        in_use = self._in_use()
        unused = [m for m in self.table.superseded if m not in in_use]
        if not unused:
            return
        gone = set(unused)
        self.models = {k: m for k, m in self.models.items() if k not in gone}
        self.by_raw_id = {k: m for k, m in self.by_raw_id.items() if m.model_id not in gone}
        for model_id in unused:
            self._planners.drop_model(model_id)
        self.table.retire(unused)
        log.info("retired model version(s) %s: no device uses them", ", ".join(sorted(unused)))


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
            # Run-checked like a startup model: only cuts whose halves really run and chain
            # bit-exactly get a tail and reach the planner's candidates.
            graph = verify_cuts(graph)
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


__all__ = [
    "MAX_MODEL_BYTES",
    "Deployment",
    "ModelDeployer",
    "ModelPlanners",
    "ServedVersions",
    "VersionTable",
]
