"""Prometheus text exposition and the JSON summary of an edge's state.

Both are built on demand from the core's counters (a scrape every few seconds is cheap; the
request path never formats anything for them). Label values are escaped as the Prometheus
text format requires, since device ids come from devices.
"""

from __future__ import annotations

import time
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any

from sciot.edge._registry import EdgeDeviceStats

if TYPE_CHECKING:
    from sciot.edge._core import EdgeCore


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render_metrics(core: EdgeCore, *, max_devices: int | None = None) -> str:
    """The Prometheus page: per-device series for the ``max_devices`` most recently seen
    (``STATS_MAX_DEVICES`` by default, as ``/api/stats``), fleet gauges over every device."""
    limit = STATS_MAX_DEVICES if max_devices is None else max_devices
    devices = core.registry.stats(limit=limit)
    devices_total = core.registry.totals()[0]
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")

    family("sciot_edge_devices", "gauge", "Registered devices.")
    lines.append(f"sciot_edge_devices {devices_total}")
    family("sciot_edge_devices_listed", "gauge", "Devices with per-device series on this page.")
    lines.append(f"sciot_edge_devices_listed {len(devices)}")
    family("sciot_edge_inferences_total", "counter", "Inferences by device and outcome.")
    for d in devices:
        # The model by the name it is served under (what a dashboard shows); the content hash
        # stays beside it as model_id, which tells two versions of one name apart.
        labels = f'device="{_label(d.device_id)}",model="{_label(d.model)}",model_id="{d.model_id}"'
        for outcome, count in (
            ("split", d.split_inferences),
            ("edge_only", d.edge_only),
            ("device_only", d.device_only),
            ("offline", d.offline),
        ):
            lines.append(f'sciot_edge_inferences_total{{{labels},outcome="{outcome}"}} {count}')
    family("sciot_edge_tail_seconds_mean", "gauge", "Mean tail time per device (seconds).")
    for d in devices:
        if d.mean_edge_ms is not None:
            value = d.mean_edge_ms / 1000.0
            lines.append(f'sciot_edge_tail_seconds_mean{{device="{_label(d.device_id)}"}} {value}')
    family("sciot_edge_next_cut", "gauge", "Cut each device will be told to use next.")
    for d in devices:
        lines.append(f'sciot_edge_next_cut{{device="{_label(d.device_id)}"}} {d.next_cut}')
    family("sciot_edge_bytes_total", "counter", "Frame bytes received and sent per device.")
    for d in devices:
        dev = _label(d.device_id)
        lines.append(f'sciot_edge_bytes_total{{device="{dev}",direction="up"}} {d.uplink_bytes}')
        lines.append(
            f'sciot_edge_bytes_total{{device="{dev}",direction="down"}} {d.downlink_bytes}'
        )
    family("sciot_edge_frames_total", "counter", "Frames received on any transport.")
    lines.append(f"sciot_edge_frames_total {core.frames}")
    family("sciot_edge_frames_rejected_total", "counter", "Frames refused, by reason.")
    for reason, count in sorted(core.rejected.items()):
        lines.append(f'sciot_edge_frames_rejected_total{{reason="{reason}"}} {count}')
    family(
        "sciot_edge_source_refusals_total",
        "counter",
        "New device ids refused: their source address was at limits.max_devices_per_source.",
    )
    lines.append(f"sciot_edge_source_refusals_total {core.registry.source_refusals}")
    if core.telemetry is not None:
        counts = core.telemetry.counts()
        family("sciot_edge_telemetry_rows_total", "counter", "Telemetry rows by fate.")
        for fate, count in (
            ("written", counts.written_rows),
            ("pending", counts.pending_rows),
            ("dropped", counts.dropped_rows),
        ):
            lines.append(f'sciot_edge_telemetry_rows_total{{fate="{fate}"}} {count}')
    family("sciot_edge_uptime_seconds", "gauge", "Seconds since the edge started.")
    lines.append(f"sciot_edge_uptime_seconds {time.time() - core.started_at_s:.3f}")
    return "\n".join(lines) + "\n"


_DEVICE_FIELDS = tuple(f.name for f in fields(EdgeDeviceStats))


STATS_MAX_DEVICES = 256
"""``/api/stats`` lists at most this many devices, the most recently seen; the totals and
``devices_total`` cover all. A fleet's full listing cost ~30 ms per 1,000 devices to build
and ~85 ms more to encode, all holding the interpreter lock the request path needs."""


def stats_json(core: EdgeCore, *, max_devices: int = STATS_MAX_DEVICES) -> dict[str, Any]:
    devices = core.registry.stats(limit=max_devices)
    devices_total, inferences, split_inferences = core.registry.totals()
    per_device = []
    for d in devices:
        # A shallow copy: dataclasses.asdict deep-copies every field, which made this document
        # cost ~65 us per device (6.5 ms for a fleet of 100, built twice a second by a page).
        entry = {name: getattr(d, name) for name in _DEVICE_FIELDS}
        entry["cuts"] = {str(k): v for k, v in d.cuts.items()}
        per_device.append(entry)
    telemetry = None if core.telemetry is None else asdict(core.telemetry.counts())
    return {
        "uptime_s": round(time.time() - core.started_at_s, 3),
        "policy": core.policy,
        "models": [
            {"name": m.label, "model_id": m.model_id, "num_ops": m.num_ops}
            for m in core.models.values()
        ],
        "inferences": inferences,
        "split_inferences": split_inferences,
        "frames": core.frames,
        "rejected": dict(core.rejected),
        "source_refusals": core.registry.source_refusals,
        "telemetry": telemetry,
        "devices": per_device,
        "devices_total": devices_total,
        "devices_listed": len(per_device),
    }
