"""Reading and alert encodings on the wire, sans I/O.

Two reading encodings share the topic ``sensors/<id>/data``:

* ``json`` (the default): one JSON object per reading with the keys ``sensor_id``,
  ``sensor_type``, ``timestamp`` (ISO 8601), ``value``, ``unit`` and ``location``, plus the
  optional ``seq`` and ``sent_s`` (publisher wall clock, for latency). Any sensor that speaks
  this common schema plugs in.
* ``batch``: many readings of one sensor per message. ``b"SCRB"``, version (u8), reserved (u8),
  metadata length (u16 LE), reading count (u32 LE), the metadata as compact JSON (the sensor's
  descriptive keys and ``sent_s``), then ``count`` little-endian records of
  (timestamp f64, value f64, seq i64). Decoding is one ``numpy.frombuffer``.

:class:`Decoder` accepts either (by the first byte), accumulates readings per sensor and
hands out column batches; every message or reading it cannot use is counted as malformed,
never raised, because one bad sender must not stop ingestion.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from sciot.errors import LocalProtocolError
from sciot.sensors._types import Alert, FloatArray, ReadingBatch, SensorInfo

BATCH_MAGIC = b"SCRB"
BATCH_VERSION = 1
_HEADER = struct.Struct("<4sBBHI")
_RECORD = np.dtype([("t", "<f8"), ("v", "<f8"), ("seq", "<i8")])
MAX_BATCH_READINGS = 1_000_000


def data_topic(sensor_id: str) -> str:
    return f"sensors/{sensor_id}/data"


def alert_topic(sensor_id: str) -> str:
    return f"alerts/{sensor_id}/notification"


def anomaly_topic(sensor_id: str) -> str:
    """Where the simulator announces the ground truth of each injected anomaly."""
    return f"sensors/{sensor_id}/anomaly"


def sensor_id_of(topic: str) -> str | None:
    """The ``<id>`` of ``sensors/<id>/data``, or None for any other topic."""
    parts = topic.split("/")
    if len(parts) == 3 and parts[0] == "sensors" and parts[2] == "data" and parts[1]:
        return parts[1]
    return None


def iso_timestamps(timestamp_s: np.ndarray) -> list[str]:
    """ISO 8601 UTC strings (microseconds, ``Z``) for epoch seconds, vectorised."""
    micros = np.round(np.asarray(timestamp_s, dtype=np.float64) * 1e6).astype("datetime64[us]")
    return [f"{s}Z" for s in np.datetime_as_string(micros, unit="us")]


def _meta_prefix(info: SensorInfo) -> str:
    return (
        "{"
        + ",".join(
            f"{json.dumps(k)}:{json.dumps(v, ensure_ascii=False)}"
            for k, v in (
                ("sensor_id", info.sensor_id),
                ("sensor_type", info.sensor_type),
                ("unit", info.unit),
                ("location", info.location),
            )
        )
        + ","
    )


def encode_json(batch: ReadingBatch, *, sent_s: float) -> list[bytes]:
    """One JSON payload per reading, in the common schema."""
    prefix = _meta_prefix(batch.info)
    stamps = iso_timestamps(batch.timestamp_s)
    values = batch.value.tolist()
    seqs = batch.seq.tolist()
    out: list[bytes] = []
    for stamp, value, seq in zip(stamps, values, seqs, strict=True):
        if not math.isfinite(value):
            raise LocalProtocolError(f"reading of {batch.info.sensor_id!r} has value {value}")
        out.append(
            f'{prefix}"timestamp":"{stamp}","value":{value!r},"seq":{seq},"sent_s":{sent_s!r}}}'.encode()
        )
    return out


def encode_batch(batch: ReadingBatch, *, sent_s: float) -> bytes:
    """All readings of ``batch`` in one compact binary message."""
    n = len(batch)
    if n > MAX_BATCH_READINGS:
        raise LocalProtocolError(f"batch of {n} readings exceeds {MAX_BATCH_READINGS}")
    info = batch.info
    meta = json.dumps(
        {
            "sensor_id": info.sensor_id,
            "sensor_type": info.sensor_type,
            "unit": info.unit,
            "location": info.location,
            "sent_s": sent_s,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    records = np.empty(n, dtype=_RECORD)
    records["t"] = batch.timestamp_s
    records["v"] = batch.value
    records["seq"] = batch.seq
    return _HEADER.pack(BATCH_MAGIC, BATCH_VERSION, 0, len(meta), n) + meta + records.tobytes()


def encode_alert(alert: Alert) -> bytes:
    return json.dumps(
        {
            "sensor_id": alert.sensor_id,
            "timestamp": iso_timestamps(np.array([alert.timestamp_s]))[0],
            "severity": alert.severity,
            "kind": alert.kind,
            "feature": alert.feature,
            "score": round(alert.score, 3),
            "value": alert.value,
            "expected": alert.expected,
            "reason": alert.reason,
            "sent_s": alert.sent_s,
            "raised_s": alert.raised_s,
        },
        ensure_ascii=False,
    ).encode()


def _parse_time(raw: object) -> float:
    if isinstance(raw, str):
        moment = datetime.fromisoformat(raw)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    raise ValueError("timestamp must be an ISO 8601 string or epoch seconds")


@dataclass(slots=True)
class _Rows:
    info: SensorInfo
    t: list[float] = field(default_factory=list)
    v: list[float] = field(default_factory=list)
    seq: list[int] = field(default_factory=list)
    sent: list[float] = field(default_factory=list)
    received: list[float] = field(default_factory=list)


class Decoder:
    """Turns received payloads into per-sensor column batches, counting what it rejects.

    Feed any number of messages, then :meth:`flush` to get the batches (in the order sensors
    were first seen) and reset. JSON readings are gathered in lists; binary batches are kept
    as arrays and concatenated once.
    """

    def __init__(self) -> None:
        self._rows: dict[str, _Rows] = {}
        self._arrays: dict[str, list[ReadingBatch]] = {}
        self._order: list[str] = []
        self._lost_before: dict[str, list[float]] = {}
        self._flushed_lost: dict[str, list[float]] = {}
        self.malformed = 0
        self.messages = 0
        self.last_error = ""

    def feed(
        self, topic: str, payload: bytes, received_s: float, *, lost_before: bool = False
    ) -> None:
        """Decode one message; ``lost_before``: messages of its topic were dropped before it.

        The earliest timestamp the message carries is then noted (see :meth:`lost_before`),
        so the gap the drop left is not taken for a sensor dropout.
        """
        self.messages += 1
        topic_id = sensor_id_of(topic)
        if topic_id is None:
            self._reject(f"topic {topic!r} is not sensors/<id>/data")
            return
        if lost_before:
            self._note_loss(topic_id, payload, received_s)
            return
        if payload[:4] == BATCH_MAGIC:
            self._feed_batch(topic_id, payload, received_s)
            return
        try:
            doc = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._reject(f"{topic}: not JSON ({exc})")
            return
        items = doc if isinstance(doc, list) else [doc]
        for item in items:
            self._feed_reading(topic_id, item, received_s)

    def _note_loss(self, topic_id: str, payload: bytes, received_s: float) -> None:
        rows = self._rows.get(topic_id)
        arrays = self._arrays.get(topic_id, [])
        n_rows, n_arrays = (len(rows.t) if rows else 0), len(arrays)
        self.messages -= 1  # counted again below
        self.feed(data_topic(topic_id), payload, received_s)
        rows = self._rows.get(topic_id)
        arrays = self._arrays.get(topic_id, [])
        firsts = [float(b.timestamp_s.min()) for b in arrays[n_arrays:] if len(b)]
        if rows is not None and len(rows.t) > n_rows:
            firsts.append(min(rows.t[n_rows:]))
        if firsts:
            self._lost_before.setdefault(topic_id, []).append(min(firsts))

    def lost_before(self, sensor_id: str) -> FloatArray | None:
        """Timestamps of the last flush's readings that follow readings dropped in our inbox."""
        marks = self._flushed_lost.get(sensor_id)
        return None if marks is None else np.asarray(marks, dtype=np.float64)

    def _reject(self, why: str, count: int = 1) -> None:
        self.malformed += count
        self.last_error = why

    def _feed_reading(self, topic_id: str, doc: Any, received_s: float) -> None:
        if not isinstance(doc, dict):
            self._reject(f"sensors/{topic_id}/data: reading is not a JSON object")
            return
        missing = [k for k in ("sensor_id", "sensor_type", "timestamp", "value") if k not in doc]
        if missing:
            self._reject(f"sensors/{topic_id}/data: reading lacks {', '.join(missing)}")
            return
        value = doc["value"]
        if doc["sensor_id"] != topic_id:
            self._reject(f"sensors/{topic_id}/data: sensor_id {doc['sensor_id']!r} != topic")
            return
        if not isinstance(value, int | float) or isinstance(value, bool):
            self._reject(f"sensors/{topic_id}/data: value {value!r} is not a number")
            return
        try:
            t_s = _parse_time(doc["timestamp"])
            seq = int(doc.get("seq", -1))
            sent = float(doc.get("sent_s", received_s))
        except (TypeError, ValueError, OverflowError) as exc:
            self._reject(f"sensors/{topic_id}/data: {exc}")
            return
        if not (math.isfinite(value) and math.isfinite(t_s)):
            self._reject(f"sensors/{topic_id}/data: value or timestamp is not finite")
            return
        rows = self._rows.get(topic_id)
        if rows is None:
            info = SensorInfo(
                sensor_id=topic_id,
                sensor_type=str(doc["sensor_type"]),
                unit=str(doc.get("unit", "")),
                location=str(doc.get("location", "")),
            )
            rows = self._rows[topic_id] = _Rows(info)
            self._note(topic_id)
        rows.t.append(t_s)
        rows.v.append(float(value))
        rows.seq.append(seq)
        rows.sent.append(sent)
        rows.received.append(received_s)

    def _feed_batch(self, topic_id: str, payload: bytes, received_s: float) -> None:
        where = f"sensors/{topic_id}/data"
        if len(payload) < _HEADER.size:
            self._reject(f"{where}: batch shorter than its header")
            return
        _, version, _, meta_len, count = _HEADER.unpack_from(payload)
        body = _HEADER.size + meta_len
        if version != BATCH_VERSION:
            self._reject(f"{where}: batch version {version}, expected {BATCH_VERSION}")
            return
        if count > MAX_BATCH_READINGS or len(payload) != body + count * _RECORD.itemsize:
            self._reject(f"{where}: batch length does not match its header")
            return
        try:
            meta = json.loads(payload[_HEADER.size : body])
            info = SensorInfo(
                sensor_id=str(meta["sensor_id"]),
                sensor_type=str(meta["sensor_type"]),
                unit=str(meta.get("unit", "")),
                location=str(meta.get("location", "")),
            )
            sent = float(meta.get("sent_s", received_s))
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            self._reject(f"{where}: bad batch metadata ({exc!r})", max(count, 1))
            return
        if info.sensor_id != topic_id:
            self._reject(f"{where}: batch sensor_id {info.sensor_id!r} != topic", max(count, 1))
            return
        records = np.frombuffer(payload, dtype=_RECORD, offset=body, count=count)
        finite = np.isfinite(records["t"]) & np.isfinite(records["v"])
        if not finite.all():
            self._reject(f"{where}: non-finite values in batch", int((~finite).sum()))
            records = records[finite]
        n = records.shape[0]
        batch = ReadingBatch(
            info=info,
            timestamp_s=records["t"].astype(np.float64),
            value=records["v"].astype(np.float64),
            seq=records["seq"].astype(np.int64),
            sent_s=np.full(n, sent),
            received_s=np.full(n, received_s),
        )
        self._arrays.setdefault(topic_id, []).append(batch)
        self._note(topic_id)

    def _note(self, sensor_id: str) -> None:
        if sensor_id not in self._order:
            self._order.append(sensor_id)

    def flush(self) -> list[ReadingBatch]:
        """Every reading fed since the last flush, one batch per sensor in arrival order.
        :meth:`lost_before` then tells which of them follow a local drop.
        """
        out = list(self._batches())
        self._rows.clear()
        self._arrays.clear()
        self._order.clear()
        self._flushed_lost, self._lost_before = self._lost_before, {}
        return out

    def _batches(self) -> Iterator[ReadingBatch]:
        for sensor_id in self._order:
            parts = list(self._arrays.get(sensor_id, []))
            rows = self._rows.get(sensor_id)
            if rows is not None:
                # JSON and binary readings of one sensor in one drain: JSON rows go last;
                # the validator's ordering check handles any interleaving.
                parts.append(
                    ReadingBatch(
                        info=rows.info,
                        timestamp_s=np.array(rows.t, dtype=np.float64),
                        value=np.array(rows.v, dtype=np.float64),
                        seq=np.array(rows.seq, dtype=np.int64),
                        sent_s=np.array(rows.sent, dtype=np.float64),
                        received_s=np.array(rows.received, dtype=np.float64),
                    )
                )
            if len(parts) == 1:
                yield parts[0]
            elif parts:
                yield ReadingBatch(
                    info=parts[0].info,
                    timestamp_s=np.concatenate([p.timestamp_s for p in parts]),
                    value=np.concatenate([p.value for p in parts]),
                    seq=np.concatenate([p.seq for p in parts]),
                    sent_s=np.concatenate([p.sent_s for p in parts]),
                    received_s=np.concatenate([p.received_s for p in parts]),
                )
