"""The simulator's ground truth on the wire: one JSON object per injected anomaly.

The publisher announces each anomaly on ``sensors/<id>/anomaly`` (keys ``sensor_id``,
``kind``, ``start_s``, ``end_s``, ``magnitude``) so an ingest process elsewhere can score its
alerts; a payload it cannot read is ignored, because ground truth is optional to ingestion.
"""

from __future__ import annotations

import json

from sciot.errors import SciotError
from sciot.sensors._types import AnomalyEvent


def encode_event(event: AnomalyEvent) -> bytes:
    """The announcement of one injected anomaly."""
    return json.dumps(
        {
            "sensor_id": event.sensor_id,
            "kind": event.kind,
            "start_s": event.start_s,
            "end_s": event.end_s,
            "magnitude": event.magnitude,
        }
    ).encode()


def decode_event(payload: bytes) -> AnomalyEvent | None:
    """The anomaly a payload announces, or None for one that is not an announcement."""
    try:
        doc = json.loads(payload)
        return AnomalyEvent(
            sensor_id=str(doc["sensor_id"]),
            kind=doc["kind"],
            start_s=float(doc["start_s"]),
            end_s=float(doc["end_s"]),
            magnitude=float(doc["magnitude"]),
        )
    except (ValueError, KeyError, TypeError, SciotError):
        return None
