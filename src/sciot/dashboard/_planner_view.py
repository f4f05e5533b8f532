"""What the planner believes about one device, in JSON-ready form, for the dashboard.

The edge keeps one :class:`~sciot.planner.Planner` per model and never publishes its estimates;
this module reads them (under the edge's planner lock, so a planner round is never observed half
done) to answer the two questions an operator asks of a cut: what does the planner think the link
is, and what did it predict for every other cut. Nothing here changes a decision: ``predict`` is
the same pure function the adaptive policy calls, fed the same options.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sciot.edge import EdgeCore
from sciot.planner import AdaptiveOptions, AdaptivePolicy, DeviceState, Planner, predict

_MBIT = 1e6 / 8.0


def _finite(value: float, scale: float = 1.0, digits: int = 4) -> float | None:
    """JSON has no infinity: unknown or infinite estimates become ``null``."""
    return round(value * scale, digits) if math.isfinite(value) else None


def _planner_and_state(core: EdgeCore, device_id: str) -> tuple[Planner, DeviceState] | None:
    """The device's planner state, or None if the planner has not heard of it (never created)."""
    record = core.devices.get(device_id)
    if record is None:
        return None
    planner = core.planners[record.model.model_id]
    if device_id not in planner.devices():
        return None
    return planner, planner.state(device_id)


def link_views(core: EdgeCore, device_ids: list[str], now_s: float) -> dict[str, dict[str, Any]]:
    """RTT and bandwidth the planner currently assumes, per device (one lock for all)."""
    views: dict[str, dict[str, Any]] = {}
    with core.planner_lock:
        for device_id in device_ids:
            found = _planner_and_state(core, device_id)
            if found is None:
                continue
            link = found[1].link.estimate(now_s)
            views[device_id] = {
                "rtt_ms": _finite(link.rtt_s, 1e3),
                "bandwidth_mbit_s": _finite(link.bytes_per_s, 1.0 / _MBIT),
                "link_identified": link.identified,
                "link_samples": link.samples,
            }
    return views


def _options(planner: Planner) -> AdaptiveOptions:
    policy = planner.policy
    return policy.options if isinstance(policy, AdaptivePolicy) else AdaptiveOptions()


def plan_view(core: EdgeCore, device_id: str, now_s: float) -> dict[str, Any] | None:
    """Per-cut predictions, the objective and the per-op cost profile of one device."""
    record = core.devices.get(device_id)
    if record is None:
        return None
    model = record.model
    ops = model.graph.ops
    view: dict[str, Any] = {
        "device_id": device_id,
        "model": model.label,
        "policy": core.policy,
        "next_cut": record.next_cut,
        "num_ops": model.num_ops,
        "ops": [{"index": op.index, "type": op.op_type, "name": op.name} for op in ops],
        "edge_profile_ms": [round(float(s) * 1e3, 5) for s in model.edge_op_s],
    }
    with core.planner_lock:
        found = _planner_and_state(core, device_id)
        if found is None:
            view.update(objective=None, cuts=[], device_op_ms=[], edge_op_ms=[], link=None)
            return view
        planner, state = found
        options = _options(planner)
        p = predict(
            state,
            now_s,
            z=options.z,
            drift_per_s=options.drift_per_s,
            max_age_s=options.max_age_s,
        )
        device_ops = _op_ms(state.device.mean_s, state.device.count)
        edge_ops = _op_ms(state.edge.mean_s, state.edge.count)
        objective = planner.objective.name
        backing_off = now_s < state.down_until_s
        adaptive = isinstance(planner.policy, AdaptivePolicy)
        policy_name = planner.policy.name
    view["objective"] = objective
    if adaptive:
        view["why"] = _why(record.next_cut, p.cost, p.known, backing_off=backing_off)
    else:  # its own rule or estimators decide; the predictions below are the adaptive ones
        view["why"] = (
            f"the {policy_name} policy's choice; the predictions shown are the adaptive "
            "policy's estimates of the same measurements"
        )
    view["cuts"] = [
        {
            "cut": k,
            "device_ms": _finite(float(p.device_s[k]), 1e3),
            "edge_ms": _finite(float(p.edge_s[k]), 1e3),
            "network_ms": _finite(float(p.network_s[k]), 1e3),
            "latency_ms": _finite(float(p.latency_s[k]), 1e3) if p.known[k] else None,
            "cost": _finite(float(p.cost[k]), 1.0, 9),
            "request_bytes": int(state.request_bytes[k]),
            "known": bool(p.known[k]),
        }
        for k in range(model.num_ops + 1)
    ]
    view["device_op_ms"] = device_ops
    view["edge_op_ms"] = edge_ops
    view["link"] = {
        "rtt_ms": _finite(p.link.rtt_s, 1e3),
        "bandwidth_mbit_s": _finite(p.link.bytes_per_s, 1.0 / _MBIT),
        "identified": p.link.identified,
        "samples": p.link.samples,
    }
    return view


def _why(cut: int, cost: np.ndarray, known: np.ndarray, *, backing_off: bool) -> str:
    """The next cut in words, read off the predictions (the edge keeps no decision objects)."""
    if backing_off:
        return "the device could not reach the edge recently: device-only while backing off"
    finite = np.isfinite(cost)
    if not finite.any():
        return "cold start: measuring cuts whose cost is still unknown"
    best = int(np.argmin(np.where(finite, cost, np.inf)))
    if cut == best:
        return f"cut {cut} has the lowest predicted cost"
    if not known[cut]:
        return f"probing cut {cut}, not measured yet; the best known is cut {best}"
    return f"probing cut {cut} to keep its estimate fresh; the best predicted is cut {best}"


def _op_ms(mean_s: np.ndarray, count: np.ndarray) -> list[float | None]:
    """Per-op estimate in ms, ``null`` for ops never measured on that side."""
    return [round(float(m) * 1e3, 5) if c > 0 else None for m, c in zip(mean_s, count, strict=True)]
