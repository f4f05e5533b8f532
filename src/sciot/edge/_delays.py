"""Emulated delays at the edge: a slower edge computer and a slower network, from config.

``delay_simulation`` in the edge's settings (``docs/edge.md``) asks for them; they are
emulation, kept out of the request logic: the tail service is handed a
:class:`DelayedTail` around the real tail runner, and the frame router asks
:meth:`EdgeDelays.network_s` for the delay a transport waits before sending a reply.

*Computation delay* means the same everywhere in sciot: extra seconds of computing, drawn
from a :class:`~sciot.delays.DelaySpec`, really waited and included in the time measured for
that computation, so the planner sees it. At the edge it is one draw per tail run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from sciot.delays import DelaySpec
from sciot.edge._config import DelaySimulationConfig
from sciot.edge._models import ServedModel

TailRun = Callable[[ServedModel, int, dict[str, np.ndarray]], dict[str, np.ndarray]]
"""Runs ops [cut, N) of a served model on the named inputs; returns the model's outputs."""


class EdgeDelays:
    """Seeded draws of the configured delays (thread-safe: one generator, one lock)."""

    def __init__(self, config: DelaySimulationConfig) -> None:
        self.computation = (
            DelaySpec.from_mapping(config.computation.as_mapping())
            if config.computation.enabled
            else None
        )
        self.network = (
            DelaySpec.from_mapping(config.network.as_mapping()) if config.network.enabled else None
        )
        self._rng = np.random.default_rng(config.seed)
        self._lock = threading.Lock()

    def sample(self, spec: DelaySpec) -> float:
        with self._lock:
            return max(0.0, float(spec.sample(self._rng)))

    def network_s(self) -> float:
        """The emulated network delay of one reply (0 when none is configured)."""
        return 0.0 if self.network is None else self.sample(self.network)


class DelayedTail:
    """A tail runner that takes a computation delay longer than ``inner``: the real tail
    runs, then the call waits one draw of the configured delay."""

    def __init__(
        self,
        inner: TailRun,
        delays: EdgeDelays,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        assert delays.computation is not None
        self._inner = inner
        self._delays = delays
        self._spec = delays.computation
        self._sleep = sleep

    def __call__(
        self, model: ServedModel, cut: int, inputs: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        outputs = self._inner(model, cut, inputs)
        self._sleep(self._delays.sample(self._spec))
        return outputs


__all__ = ["DelayedTail", "EdgeDelays", "TailRun"]
