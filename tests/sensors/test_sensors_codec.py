"""Wire encodings: the common JSON schema, compact batches, and malformed input counted."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sciot.sensors import Decoder, ReadingBatch, SensorInfo, encode_batch, encode_json

INFO = SensorInfo(sensor_id="temp_001", sensor_type="temperature", unit="°C", location="hall")
TOPIC = "sensors/temp_001/data"


def _batch(n: int = 5) -> ReadingBatch:
    t = 1_772_409_600.0 + np.arange(n, dtype=np.float64) * 0.5
    return ReadingBatch(
        info=INFO,
        timestamp_s=t,
        value=np.linspace(20.0, 21.0, n),
        seq=np.arange(n, dtype=np.int64),
        sent_s=np.full(n, np.nan),
        received_s=np.full(n, np.nan),
    )


def test_json_speaks_the_common_schema() -> None:
    payloads = encode_json(_batch(2), sent_s=123.5)
    doc = json.loads(payloads[1])
    assert {"sensor_id", "sensor_type", "timestamp", "value", "unit", "location"} <= set(doc)
    assert doc["timestamp"] == "2026-03-02T00:00:00.500000Z"
    assert doc["unit"] == "°C" and doc["seq"] == 1 and doc["sent_s"] == 123.5


@pytest.mark.parametrize("encode", ["json", "batch"])
def test_round_trip(encode: str) -> None:
    batch = _batch(7)
    decoder = Decoder()
    if encode == "json":
        for p in encode_json(batch, sent_s=1.0):
            decoder.feed(TOPIC, p, received_s=2.0)
    else:
        decoder.feed(TOPIC, encode_batch(batch, sent_s=1.0), received_s=2.0)
    (out,) = decoder.flush()
    np.testing.assert_allclose(out.timestamp_s, batch.timestamp_s, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(out.value, batch.value)
    np.testing.assert_array_equal(out.seq, batch.seq)
    assert out.info == INFO and decoder.malformed == 0
    assert (out.sent_s == 1.0).all() and (out.received_s == 2.0).all()


def test_a_reading_without_seq_or_sent_time_is_fine() -> None:
    decoder = Decoder()
    doc = {
        "sensor_id": "temp_001",
        "sensor_type": "temperature",
        "value": 3,
        "timestamp": "2026-03-02T00:00:00+01:00",
        "unit": "C",
        "location": "x",
    }
    decoder.feed(TOPIC, json.dumps(doc).encode(), received_s=5.0)
    (out,) = decoder.flush()
    assert out.seq[0] == -1 and out.sent_s[0] == 5.0
    assert out.timestamp_s[0] == 1_772_409_600.0 - 3600.0


@pytest.mark.parametrize(
    ("topic", "payload", "why"),
    [
        (TOPIC, b"not json", "not JSON"),
        (TOPIC, b"[1, 2]", "not a JSON object"),
        (TOPIC, b'{"sensor_id": "temp_001", "value": 1}', "lacks sensor_type, timestamp"),
        (
            TOPIC,
            b'{"sensor_id":"temp_001","sensor_type":"t","timestamp":"2026-01-01T00:00:00Z",'
            b'"value":"hot"}',
            "not a number",
        ),
        (
            TOPIC,
            b'{"sensor_id":"other","sensor_type":"t","timestamp":"2026-01-01T00:00:00Z","value":1}',
            "!= topic",
        ),
        (
            TOPIC,
            b'{"sensor_id":"temp_001","sensor_type":"t","timestamp":"yesterday","value":1}',
            "temp_001",
        ),
        ("sensors/temp_001/status", b"{}", "is not sensors/<id>/data"),
        (TOPIC, b"SCRB\x01", "shorter than its header"),
        (TOPIC, b"SCRB\x09\x00\x00\x00\x00\x00\x00\x00", "version 9"),
    ],
)
def test_malformed_is_counted_never_raised(topic: str, payload: bytes, why: str) -> None:
    decoder = Decoder()
    decoder.feed(topic, payload, received_s=0.0)
    assert decoder.flush() == []
    assert decoder.malformed >= 1
    assert why in decoder.last_error


def test_truncated_batch_is_rejected_whole() -> None:
    payload = encode_batch(_batch(10), sent_s=0.0)
    decoder = Decoder()
    decoder.feed(TOPIC, payload[:-3], received_s=0.0)
    assert decoder.flush() == [] and decoder.malformed == 1
    assert "length" in decoder.last_error


def test_nan_readings_in_a_batch_are_counted() -> None:
    batch = _batch(4)
    batch.value[1] = np.nan
    decoder = Decoder()
    decoder.feed(TOPIC, encode_batch(batch, sent_s=0.0), received_s=0.0)
    (out,) = decoder.flush()
    assert len(out) == 3 and decoder.malformed == 1
