"""Readings lost on the way (our full inbox, the broker) are not sensor dropouts.

A sensor that goes quiet leaves a gap in time with its sequence numbers unbroken; readings
dropped after it sent them leave a hole in ``seq``, or, for senders without ``seq``, follow
a drop the inbox recorded. Only the first is a dropout alert; the others are counted.
"""

from __future__ import annotations

import numpy as np
import pytest

from sciot.sensors import (
    Decoder,
    Inbox,
    IngestStage,
    InProcessPubSub,
    ReadingBatch,
    SensorInfo,
    WindowBuilder,
    encode_json,
    parse_config,
)

INFO = SensorInfo(sensor_id="t1", sensor_type="temperature", unit="C", location="x")
TOPIC = "sensors/t1/data"
T0 = 1_800_000_000.0


def _batch(index: np.ndarray, seq: np.ndarray | None = None) -> ReadingBatch:
    n = index.shape[0]
    rng = np.random.default_rng(4)
    return ReadingBatch(
        info=INFO,
        timestamp_s=T0 + index.astype(np.float64),
        value=20.0 + rng.normal(0.0, 0.1, n),
        seq=np.arange(n, dtype=np.int64) if seq is None else seq,
        sent_s=np.zeros(n),
        received_s=np.zeros(n),
    )


def test_inbox_flags_the_first_message_after_a_drop() -> None:
    inbox = Inbox(2)
    for topic in ("a", "b", "a", "b", "b"):
        inbox.offer(topic, b"p")
    assert inbox.dropped == 3
    assert [(t, lost) for t, _, _, lost in inbox.drain(10, 0.0)] == [("a", False), ("b", False)]
    inbox.offer("a", b"p")
    inbox.offer("b", b"p")
    assert [(t, lost) for t, _, _, lost in inbox.drain(10, 0.0)] == [("a", True), ("b", True)]
    inbox.offer("b", b"p")
    assert [(t, lost) for t, _, _, lost in inbox.drain(10, 0.0)] == [("b", False)]


def test_seq_hole_excuses_the_gap_but_a_quiet_sensor_is_a_dropout() -> None:
    index = np.concatenate([np.arange(100), np.arange(140, 300)])
    builder = WindowBuilder(window=32, step=8)
    lost_on_the_way = builder.push(_batch(index, seq=index.astype(np.int64)))
    assert lost_on_the_way is not None
    assert lost_on_the_way.column("gap_ratio").max() == pytest.approx(1.0)
    assert lost_on_the_way.column("lost").max() == 1.0
    assert builder.counts.missing_seq == 40
    quiet = WindowBuilder(window=32, step=8).push(_batch(index))  # seq unbroken
    assert quiet is not None
    assert quiet.column("gap_ratio").max() == pytest.approx(41.0)
    assert quiet.column("lost").max() == 0.0


def test_out_of_range_readings_do_not_make_a_dropout() -> None:
    batch = _batch(np.arange(200))
    value = batch.value.copy()
    value[100:130] = 500.0  # rejected, but the sensor did send them
    builder = WindowBuilder(window=32, step=8, ranges={"t1": (-40.0, 85.0)})
    out = builder.push(
        ReadingBatch(
            info=INFO,
            timestamp_s=batch.timestamp_s,
            value=value,
            seq=batch.seq,
            sent_s=batch.sent_s,
            received_s=batch.received_s,
        )
    )
    assert out is not None and builder.counts.out_of_range == 30
    assert out.column("gap_ratio").max() == pytest.approx(1.0)


def test_the_excuse_survives_batch_boundaries() -> None:
    index = np.concatenate([np.arange(100), np.arange(140, 300)])
    seq = index.astype(np.int64)
    whole = WindowBuilder(window=32, step=8).push(_batch(index, seq))
    split = WindowBuilder(window=32, step=8)
    parts = [split.push(_batch(index, seq).slice(lo, lo + 50)) for lo in range(0, 260, 50)]
    values = np.vstack([p.values for p in parts if p is not None])
    assert whole is not None
    np.testing.assert_allclose(values, whole.values)


def test_decoder_marks_readings_after_a_local_drop() -> None:
    decoder = Decoder()
    payloads = encode_json(_batch(np.arange(4)), sent_s=0.0)
    decoder.feed(TOPIC, payloads[0], 0.0)
    decoder.feed(TOPIC, payloads[2], 0.0, lost_before=True)
    decoder.feed(TOPIC, payloads[3], 0.0)
    (batch,) = decoder.flush()
    assert len(batch) == 3 and decoder.messages == 3
    marks = decoder.lost_before("t1")
    assert marks is not None and marks.tolist() == [T0 + 2.0]
    assert decoder.lost_before("other") is None
    decoder.flush()
    assert decoder.lost_before("t1") is None


def _stage(queue_messages: int) -> tuple[IngestStage, InProcessPubSub]:
    config = parse_config(
        {
            "sensors": [{"id": "t1", "type": "temperature", "rate_hz": 1.0}],
            "processing": {"queue_messages": queue_messages, "group": None},
            "detection": {"warmup_windows": 10},
            "alerts": {"cooldown_s": 0.0},
        }
    )
    bus = InProcessPubSub()
    return IngestStage(config, bus), bus


@pytest.mark.parametrize("with_seq", [True, False])
def test_local_overload_raises_no_dropout_alert(with_seq: bool) -> None:
    # Rounds of 100 one-reading messages into an inbox of 60: 40 of each round are dropped.
    stage, bus = _stage(queue_messages=60)
    index = np.arange(2000)
    seq = index.astype(np.int64) if with_seq else np.full(2000, -1, dtype=np.int64)
    payloads = encode_json(_batch(index, seq), sent_s=0.0)
    for lo in range(0, 2000, 100):
        for payload in payloads[lo : lo + 100]:
            bus.publish(TOPIC, payload)
        while stage.step(timeout_s=0.0):
            pass
    counts = stage.counts
    assert counts.dropped == 20 * 40
    assert counts.readings == 20 * 60
    assert counts.missing_seq == (19 * 40 if with_seq else 0)  # the last round's loss: no later
    assert [a for a in stage.alerts if a.kind == "dropout"] == []


@pytest.mark.parametrize("with_seq", [True, False])
def test_a_sensor_that_goes_quiet_is_still_a_dropout(with_seq: bool) -> None:
    stage, bus = _stage(queue_messages=10_000)
    index = np.concatenate([np.arange(600), np.arange(660, 1200)])
    seq = np.arange(index.shape[0], dtype=np.int64) if with_seq else np.full(1140, -1)
    for payload in encode_json(_batch(index, seq), sent_s=0.0):
        bus.publish(TOPIC, payload)
    while stage.step(timeout_s=0.0):
        pass
    dropouts = [a for a in stage.alerts if a.kind == "dropout"]
    assert dropouts and stage.counts.dropped == 0
    # Every window spanning the gap fires (no cool-down here), and nothing else does.
    assert all(T0 + 660 <= a.timestamp_s <= T0 + 660 + 32 for a in dropouts)
    assert "gap of 61.0" in dropouts[0].reason
