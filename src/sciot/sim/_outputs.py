"""The files a scenario run writes: per-inference CSVs, summary.csv, op_times.csv, run.json."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from sciot.sim._run_types import ROW_FIELDS, InferenceRow, RunConfig
from sciot.sim.netem import EMULATION_LABELS, detect_kernel_netem
from sciot.sim.profiles import DeviceProfile, ModelProfile
from sciot.sim.scenarios import BASE_BYTES_PER_S, BASE_RTT_S, scenario

SUMMARY_FIELDS = (
    "scenario",
    "policy",
    "seed",
    "clients",
    "inferences",
    "mean_ms",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "inferences_per_s",
    "bytes_per_inference",
    "energy_mj_per_inference",
    "regret",
    "regret_dynamic",
    "probes",
    "failed",
    "main_cut",
    "emulation",
    "span_s",
)


def write_rows(path: Path, rows: Sequence[InferenceRow]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(ROW_FIELDS)
        for row in rows:
            writer.writerow(_csv_value(getattr(row, name)) for name in ROW_FIELDS)


def write_summary(path: Path, summary: Sequence[dict[str, object]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=SUMMARY_FIELDS)
        writer.writeheader()
        for row in summary:
            writer.writerow({k: _csv_value(row.get(k, math.nan)) for k in SUMMARY_FIELDS})


def _csv_value(value: object) -> object:
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(round(value, 6))
    return value


def write_op_times(path: Path, model: ModelProfile, device: DeviceProfile) -> None:
    device_op_s = model.device_op_s(device)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["op", "measured_us", "device_us", "edge_us", "crossing_bytes_after"])
        for op, (measured, dev) in enumerate(zip(model.op_s, device_op_s, strict=True)):
            after = model.crossing_bytes[op + 1]
            writer.writerow(
                [op, round(measured * 1e6, 3), round(dev * 1e6, 3), round(measured * 1e6, 3), after]
            )


def write_metadata(
    path: Path,
    config: RunConfig,
    model: ModelProfile,
    device: DeviceProfile,
    *,
    wall_s: float,
    requested: str,
    notes: Sequence[str],
    seeds: Sequence[int],
    spans: dict[str, float],
) -> None:
    netem = detect_kernel_netem()
    link: dict[str, object] = {"rtt_ms": BASE_RTT_S * 1e3, "bytes_per_s": BASE_BYTES_PER_S}
    if config.uplink_trace is not None:
        link["uplink_trace"] = config.uplink_trace
        link["downlink_trace"] = config.downlink_trace
        link["trace_one_way_ms"] = config.trace_one_way_s * 1e3
    meta: dict[str, object] = {
        "config": asdict(config),
        "seeds": list(seeds),
        "policies": list(config.policies),
        "requests": config.requests,
        "emulation": EMULATION_LABELS[config.emulation],
        "emulation_requested": requested,
        "notes": list(notes),
        "kernel_netem": {"available": netem.available, "reason": netem.reason, "used": False},
        "device_profile": {
            "name": device.name,
            "source": device.source,
            "scale": device.scale(model_macs=model.macs, measured_total_s=model.total_s),
            "energy": asdict(device.energy),
        },
        "edge": "this machine (measured per-op times, unscaled)",
        "model": {
            "name": model.name,
            "ops": model.num_ops,
            "macs": model.macs,
            "measured_total_us": model.total_s * 1e6,
            "crossing_bytes": list(model.crossing_bytes),
        },
        "link": link,
        "scenarios": {name: scenario(name).description for name in config.scenarios},
        "effects": {name: list(scenario(name).effects.active) for name in config.scenarios},
        "spans_s": spans,
        "wall_s": wall_s,
    }
    if config.emulation == "live":
        from sciot.sim._live import live_metadata

        meta["live"] = live_metadata(config)
    path.write_text(json.dumps(meta, indent=2))


__all__ = ["SUMMARY_FIELDS", "write_metadata", "write_op_times", "write_rows", "write_summary"]
