"""The head runner: how the device runs ops [0, cut) of its model, and how long they take.

:class:`~sciot.device.DeviceClient` never runs an interpreter or sleeps itself; it asks a
:class:`HeadRunner`. :class:`LocalHead` is the real one (the prepared LiteRT heads of
:class:`~sciot.device.CutArtefacts`). :class:`ConfiguredSlowdown` is what the device's own
settings can ask for on a development box (``speed_factor``, ``computation_delay``); the
emulations of device classes (paced heads for the demo and scenario runs) live in
:mod:`sciot.sim.emulation` and reach the client as artefacts.

*Computation delay* means the same everywhere in sciot: extra seconds of computing drawn from
a :class:`~sciot.delays.DelaySpec`, really waited, and included in the time measured for that
computation so the planner sees it. On the device it is one draw per op of the head.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

import numpy as np

from sciot.delays import DelaySpec
from sciot.device._artefacts import CutArtefacts, HeadRun
from sciot.device._config import DeviceConfig
from sciot.errors import ExecutionError, SciotError

Clock = Callable[[], float]
_PROFILE_RUNS = 3


class HeadRunner(Protocol):
    """Runs heads and measures the device's per-op prior for registration."""

    def run(
        self, cut: int, array: np.ndarray, *, profile: bool, clock: Clock, keep: int | None = None
    ) -> HeadRun: ...

    def op_profile(self, clock: Clock) -> tuple[float, ...]: ...


class LocalHead:
    """The model's real heads on this device."""

    def __init__(self, artefacts: CutArtefacts) -> None:
        self.artefacts = artefacts

    def run(
        self, cut: int, array: np.ndarray, *, profile: bool, clock: Clock, keep: int | None = None
    ) -> HeadRun:
        try:
            return self.artefacts.run_head(cut, array, profile=profile, clock=clock, keep=keep)
        except SciotError:
            raise
        except Exception as exc:  # LiteRT raises plain RuntimeError / ValueError
            raise ExecutionError(f"running ops [0, {cut}) on the device failed: {exc}") from exc

    def op_profile(self, clock: Clock) -> tuple[float, ...]:
        """Per-op seconds of the whole model here: the median of a few profiled runs on a
        zero input, the planner's first prior."""
        return tuple(float(s) for s in self._median_op_s(clock))

    def _median_op_s(self, clock: Clock) -> np.ndarray:
        artefacts = self.artefacts
        spec = artefacts.graph.inputs[0]
        zeros = np.zeros(spec.shape, dtype=spec.dtype)
        runs = [
            LocalHead.run(self, artefacts.num_ops, zeros, profile=True, clock=clock)
            for _ in range(_PROFILE_RUNS)
        ]
        median: np.ndarray = np.median(np.array([run.op_seconds for run in runs]), axis=0)
        return median


class ConfiguredSlowdown(LocalHead):
    """Real heads made slower as the device's settings ask, and reported as such.

    ``speed_factor`` sleeps ``factor - 1`` times the measured head time; ``computation_delay``
    sleeps one draw per op. Both are added to the timings the edge sees, so the planner
    weighs the device as the slower one it stands for.
    """

    def __init__(
        self,
        artefacts: CutArtefacts,
        *,
        speed_factor: float,
        delay: DelaySpec | None,
        rng: np.random.Generator,
        sleep: Callable[[float], None],
    ) -> None:
        super().__init__(artefacts)
        self._factor = speed_factor
        self._delay = delay
        self._rng = rng
        self._sleep = sleep

    def run(
        self, cut: int, array: np.ndarray, *, profile: bool, clock: Clock, keep: int | None = None
    ) -> HeadRun:
        head = super().run(cut, array, profile=profile, clock=clock, keep=keep)
        if cut == 0:
            return head
        return self._with_delay(self._slowed(head), cut)

    def op_profile(self, clock: Clock) -> tuple[float, ...]:
        median = self._median_op_s(clock) * self._factor
        if self._delay is not None:
            median = median + self._delay.expected_s
        return tuple(float(s) for s in median)

    def _slowed(self, head: HeadRun) -> HeadRun:
        factor = self._factor
        if factor == 1.0:
            return head
        self._sleep(head.device_s * (factor - 1.0))
        op_seconds = head.op_seconds
        if op_seconds:
            op_seconds = tuple(s * factor for s in op_seconds)
        return replace(head, device_s=head.device_s * factor, op_seconds=op_seconds)

    def _with_delay(self, head: HeadRun, cut: int) -> HeadRun:
        if self._delay is None:
            return head
        extra_s = np.array([self._delay.sample(self._rng) for _ in range(cut)])
        self._sleep(float(extra_s.sum()))
        op_seconds = head.op_seconds
        if op_seconds:
            op_seconds = tuple(float(s) for s in np.asarray(op_seconds) + extra_s)
        return replace(head, device_s=head.device_s + float(extra_s.sum()), op_seconds=op_seconds)


def head_runner_for(
    config: DeviceConfig,
    artefacts: CutArtefacts,
    *,
    rng: np.random.Generator,
    sleep: Callable[[float], None],
) -> LocalHead:
    """The real heads, slowed only if the settings ask for it."""
    delay = (
        DelaySpec.from_mapping(config.computation_delay.as_mapping())
        if config.computation_delay.enabled
        else None
    )
    if config.speed_factor == 1.0 and delay is None:
        return LocalHead(artefacts)
    return ConfiguredSlowdown(
        artefacts, speed_factor=config.speed_factor, delay=delay, rng=rng, sleep=sleep
    )


__all__ = ["ConfiguredSlowdown", "HeadRunner", "LocalHead", "head_runner_for"]
