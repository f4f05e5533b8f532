"""Synthetic environments shaped like a small vision model, for tests, docs and benchmarks.

The shape follows a FOMO-style detector: early ops are the most expensive on the device and
produce the largest tensors (wider than the input), and tensors shrink with depth, so the best
cut moves from edge-only through the middle to device-only as the link gets slower. The edge
runs every op ``edge_speedup`` times faster than the device. Nothing is random here: noise
comes from the :class:`~sciot.sim.ComputeModel` settings and the generator passed to a run.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from sciot.delays import DelaySpec
from sciot.errors import ConfigError
from sciot.planner import SplitSpace
from sciot.sim.environment import ComputeModel, Environment, LinkModel, LinkStep, Window


def synthetic_space(num_ops: int = 20, *, input_bytes: int = 110_592) -> SplitSpace:
    """Crossing bytes: the input, then a wide first tensor halving every third op."""
    if num_ops < 2:
        raise ConfigError(f"a synthetic model needs at least 2 ops, got {num_ops}")
    crossing = [input_bytes]
    for op in range(1, num_ops):
        crossing.append(max(576, int(input_bytes * 1.33 * 0.5 ** (op // 3))))
    crossing.append(0)
    return SplitSpace(num_ops=num_ops, crossing_bytes=tuple(crossing), result_bytes=576)


def synthetic_device_op_s(num_ops: int = 20, *, total_s: float = 0.06) -> tuple[float, ...]:
    """Per-op device times falling geometrically with depth, summing to ``total_s``."""
    weights = np.geomspace(1.0, 0.3, num_ops)
    return tuple(float(w) for w in weights / weights.sum() * total_s)


def synthetic_environment(
    num_ops: int = 20,
    *,
    device_total_s: float = 0.06,
    edge_speedup: float = 15.0,
    rtt_s: float = 0.005,
    bytes_per_s: float = 2e6,
    noise_cv: float = 0.05,
    straggler_prob: float = 0.0,
    jitter: DelaySpec | None = None,
    link_steps: tuple[LinkStep, ...] = (),
    outages: tuple[Window, ...] = (),
    device_slowdowns: tuple[Window, ...] = (),
    edge_slowdowns: tuple[Window, ...] = (),
) -> Environment:
    """A device, an edge and a link with the given characteristics (see module docstring)."""
    device_op_s = synthetic_device_op_s(num_ops, total_s=device_total_s)
    device = ComputeModel(
        op_s=device_op_s,
        noise_cv=noise_cv,
        straggler_prob=straggler_prob,
        slowdowns=device_slowdowns,
    )
    edge = replace(
        device,
        op_s=tuple(s / edge_speedup for s in device_op_s),
        slowdowns=edge_slowdowns,
    )
    link = LinkModel(
        rtt_s=rtt_s,
        bytes_per_s=bytes_per_s,
        jitter=jitter or DelaySpec.zero(),
        steps=link_steps,
        outages=outages,
    )
    return Environment(space=synthetic_space(num_ops), device=device, edge=edge, link=link)


__all__ = ["synthetic_device_op_s", "synthetic_environment", "synthetic_space"]
