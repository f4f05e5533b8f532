"""Device emulation: how long an emulated device's head takes, heads paced to it, and the
named networks the demo's devices reach the edge over (:data:`DEMO_LINKS`).

One home for making this machine behave like a slower device, shared by the demo
(:mod:`sciot.sim.demo`), live scenario runs (:mod:`sciot.sim._live`) and, through the same
:class:`~sciot.sim.ComputeModel`, the virtual simulator. Two questions, answered once each:

- *How long does op i take on the device?* :func:`emulate_device` times the model here and
  gives each op its share of the device's whole-model time by its multiply-accumulates (the
  way a microcontroller's time goes, and the way the profile's rate was published); the
  virtual simulator scales this machine's measured per-op times by the same profile factor
  (:meth:`~sciot.sim.ModelProfile.device_op_s`). Either way the result is a
  :class:`~sciot.sim.ComputeModel`, which adds noise, stragglers, throttling windows and the
  scenario's computation delay.
- *How does a real head take that long?* :class:`PacedArtefacts` runs the real LiteRT head
  (its tensors are the real ones), then sleeps until the drawn op times have passed, and
  reports those op times when asked to profile. Pacing to drawn times, rather than scaling
  measured ones, keeps this machine's noise out: x250 for an ESP32-S3 would turn 10 us of
  Python per profiled op, or a thread waiting for the interpreter lock, into milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sciot.device import CutArtefacts, HeadRun, resolve_model_source
from sciot.errors import ConfigError
from sciot.model import ModelGraph, load_model
from sciot.sim.environment import ComputeModel, LinkModel, LinkStep
from sciot.sim.profiles import device_profile

_TIMING_RUNS = 40
LINK_CHANGE_FACTOR = 10.0
"""A demo link's ``change_at_s`` divides its bandwidth by this much."""


class PacedArtefacts(CutArtefacts):
    """Cut artefacts whose heads take as long as the emulated device's would.

    Unpaced (a plain :class:`~sciot.device.CutArtefacts`) until :meth:`pace` names the device;
    ``now_s`` then places each draw on the scenario's time axis, so throttling windows hit.
    """

    def __init__(
        self,
        model: Path | ModelGraph,
        *,
        rng: np.random.Generator,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(model if isinstance(model, ModelGraph) else load_model(model))
        self.device: ComputeModel | None = None
        self.now_s: Callable[[], float] = time.perf_counter
        self._rng = rng
        self._sleep = sleep

    def pace(
        self,
        device: ComputeModel,
        now_s: Callable[[], float],
        rng: np.random.Generator | None = None,
    ) -> None:
        """Pace later heads to ``device`` on the time axis ``now_s``; ``rng`` (if given)
        replaces the generator, so every policy of a scenario sees the same draws."""
        if len(device.op_s) != self.num_ops:
            raise ConfigError(
                f"the device model has {len(device.op_s)} ops, the model {self.num_ops}"
            )
        self.device, self.now_s = device, now_s
        if rng is not None:
            self._rng = rng

    def run_head(
        self,
        cut: int,
        array: np.ndarray,
        *,
        profile: bool,
        clock: Callable[[], float],
        keep: int | None = None,
    ) -> HeadRun:
        started_s = clock()
        head = super().run_head(cut, array, profile=profile, clock=clock, keep=keep)
        if self.device is None or cut == 0:
            return head
        op_s = self.device.sample_op_s(0, cut, self.now_s(), self._rng)
        self._sleep(max(0.0, float(op_s.sum()) - (clock() - started_s)))
        return HeadRun(
            tensors=head.tensors,
            device_s=clock() - started_s,
            op_seconds=tuple(float(s) for s in op_s) if head.op_seconds is not None else None,
            kept=head.kept,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceEmulation:
    """The device class a set of emulated devices stands for, and what it means for a model."""

    profile: str
    speed_factor: float
    """How many times slower than this machine the device runs the model."""
    whole_model_s: float
    """The whole model on this machine (measured)."""
    device_op_s: tuple[float, ...] = ()
    """Each op's time on the emulated device (empty: the device is this machine, not paced)."""

    @property
    def device_alone_ms(self) -> float:
        """The whole model on the emulated device: what running alone would cost it."""
        if self.device_op_s:
            return 1000.0 * sum(self.device_op_s)
        return 1000.0 * self.whole_model_s * self.speed_factor

    def compute_model(self) -> ComputeModel | None:
        """The device's per-op times as the simulator's model (noise-free), or ``None`` when
        the device is this machine and heads run at their real speed."""
        return ComputeModel(op_s=self.device_op_s) if self.device_op_s else None


def emulate_device(profile_name: str, model: str) -> DeviceEmulation:
    """Time ``model`` here (median of a few LiteRT runs) and scale it to a device profile by
    the profile's published MAC rate against this machine's; each op then takes its MACs at
    that rate on the emulated device."""
    from sciot.runtime import SegmentExecutor

    profile = device_profile(profile_name)
    graph = load_model(resolve_model_source(model))
    executor = SegmentExecutor(graph.model_bytes)
    inputs = {t.name: np.zeros(t.shape, dtype=t.dtype) for t in graph.inputs}
    seconds = []
    for _ in range(_TIMING_RUNS):
        started_s = time.perf_counter()
        executor.run(inputs)
        seconds.append(time.perf_counter() - started_s)
    measured_s = float(np.median(seconds[_TIMING_RUNS // 4 :]))
    if profile.macs_per_s is None or graph.total_macs <= 0:
        return DeviceEmulation(profile=profile_name, speed_factor=1.0, whole_model_s=measured_s)
    factor = max(1.0, profile.scale(model_macs=graph.total_macs, measured_total_s=measured_s))
    device_total_s = measured_s * factor
    op_s = tuple(device_total_s * op.macs / graph.total_macs for op in graph.ops)
    return DeviceEmulation(
        profile=profile_name, speed_factor=factor, whole_model_s=measured_s, device_op_s=op_s
    )


def device_speed_factor(profile_name: str, model: str) -> float:
    """How many times slower than this machine a device of the profile runs ``model``."""
    return emulate_device(profile_name, model).speed_factor


def paced_artefacts(
    model: str,
    emulation: DeviceEmulation,
    *,
    rng: np.random.Generator,
    now_s: Callable[[], float] = time.perf_counter,
) -> CutArtefacts:
    """A device's cut artefacts for ``model``, heads paced to ``emulation`` (plain artefacts
    when the device is this machine)."""
    graph = load_model(resolve_model_source(model))
    device = emulation.compute_model()
    if device is None:
        return CutArtefacts(graph)
    if len(device.op_s) != graph.num_ops:
        raise ConfigError(
            f"the device emulation has {len(device.op_s)} op times, the model {graph.num_ops} ops"
        )
    artefacts = PacedArtefacts(graph, rng=rng)
    artefacts.pace(device, now_s)
    return artefacts


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoLink:
    """A named network between the demo's devices and the edge, and where its figures come
    from. Bandwidth counts both directions of an exchange (request and reply bytes), which the
    uplink dominates here: FOMO's reply is 2.3 kB, its input 110.6 kB."""

    name: str
    rtt_ms: float
    bandwidth_mbit_s: float | None
    """``None``: not emulated, the bare loopback."""
    source: str

    @property
    def bytes_per_s(self) -> float | None:
        return None if self.bandwidth_mbit_s is None else self.bandwidth_mbit_s * 1e6 / 8.0

    def describe(self, *, change_at_s: float | None = None) -> str:
        if self.bandwidth_mbit_s is None:
            return f"{self.name} (not emulated)"
        text = f"{self.name} ({self.bandwidth_mbit_s:g} Mbit/s, {self.rtt_ms:g} ms RTT"
        if change_at_s is not None:
            slow = self.bandwidth_mbit_s / LINK_CHANGE_FACTOR
            text += f", {slow:g} Mbit/s from {change_at_s:g} s"
        return text + ")"

    def link_model(self, *, change_at_s: float | None = None) -> LinkModel | None:
        """The simulator's link model for this network, or ``None`` for bare loopback."""
        rate = self.bytes_per_s
        if rate is None:
            return None
        steps = (
            ()
            if change_at_s is None
            else (LinkStep(at_s=change_at_s, bytes_per_s=rate / LINK_CHANGE_FACTOR),)
        )
        return LinkModel(rtt_s=self.rtt_ms / 1e3, bytes_per_s=rate, steps=steps)


DEMO_LINKS: dict[str, DemoLink] = {
    link.name: link
    for link in (
        DemoLink(
            name="loopback",
            rtt_ms=0.0,
            bandwidth_mbit_s=None,
            source="no emulation: the bare loopback, tens of microseconds per round trip",
        ),
        DemoLink(
            name="wifi",
            rtt_ms=3.0,
            bandwidth_mbit_s=20.0,
            source="the simulator's base link (sciot.sim.scenarios): a good 2.4 GHz Wi-Fi link "
            "as an MCU-class station gets it, well below the PHY rate",
        ),
        DemoLink(
            name="lte",
            rtt_ms=40.0,
            bandwidth_mbit_s=5.0,
            source="a typical loaded LTE cell: a few Mbit/s of uplink per device and 30-50 ms "
            "of round trip through the operator's core",
        ),
    )
}


__all__ = [
    "DEMO_LINKS",
    "LINK_CHANGE_FACTOR",
    "DemoLink",
    "DeviceEmulation",
    "PacedArtefacts",
    "device_speed_factor",
    "emulate_device",
    "paced_artefacts",
]
