"""Sensor-pipeline alerts for the dashboard, when the pipeline runs beside the edge.

The pipeline's :class:`~sciot.sensors.IngestStage` appends every alert it raises to its
``alerts`` list; :func:`sensor_alerts` turns that live list into the dashboard's alert source,
reading only its tail at each tick, so the pipeline is never slowed or locked by a page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from sciot.dashboard._snapshot import AlertSource
from sciot.errors import ConfigError

if TYPE_CHECKING:  # the sensor pipeline is imported only by whoever runs it
    from sciot.sensors import Alert


def _json_ready(alert: Alert) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    for field in fields(alert):
        value = getattr(alert, field.name)
        # JSON has no NaN or infinity (a dropout's value is NaN): those become null.
        finite = not isinstance(value, float) or math.isfinite(value)
        entry[field.name] = value if finite else None
    return entry


def sensor_alerts(alerts: Sequence[Alert], *, limit: int = 50) -> AlertSource:
    """The newest ``limit`` alerts of a live list (``IngestStage.alerts``), oldest first."""
    if limit < 1:
        raise ConfigError(f"the dashboard's alert limit must be >= 1, got {limit}")

    def recent() -> list[dict[str, Any]]:
        return [_json_ready(a) for a in alerts[-limit:]]

    return recent
