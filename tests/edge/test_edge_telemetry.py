"""Telemetry: batched SQLite rows, overflow counted (never silent), delays the planner sees."""

from __future__ import annotations

import time
from pathlib import Path

from edge_testkit import Fomo, edge_config

from sciot.edge import TELEMETRY_COLUMNS, build_edge, read_telemetry
from sciot.edge._telemetry import TelemetryRow, TelemetryWriter
from sciot.wire import InferResponse, Register, decode, encode


def _row(i: int, *, device_id: str = "d", seq: int | None = None) -> TelemetryRow:
    return TelemetryRow(
        float(i),
        device_id,
        "0" * 16,
        i if seq is None else seq,
        1,
        2,
        0.1,
        10,
        20,
        0.01,
        0.02,
        0.13,
        "adaptive",
        "split",
    )


def test_rows_are_written_in_batches_and_read_back(tmp_path: Path) -> None:
    writer = TelemetryWriter(tmp_path / "t.sqlite", flush_interval_s=10.0, max_pending_rows=100)
    for i in range(5):
        writer.append(_row(i))
    assert writer.counts().pending_rows == 5
    assert writer.flush() == 5
    writer.close()
    rows = read_telemetry(tmp_path / "t.sqlite")
    assert [r["seq"] for r in rows] == [0, 1, 2, 3, 4]
    assert set(rows[0]) == set(TELEMETRY_COLUMNS)


def test_overflow_is_counted_not_silent(tmp_path: Path) -> None:
    writer = TelemetryWriter(tmp_path / "t.sqlite", flush_interval_s=10.0, max_pending_rows=3)
    for i in range(10):
        writer.append(_row(i))
    counts = writer.counts()
    assert counts.pending_rows == 3 and counts.dropped_rows == 7
    writer.close()
    assert writer.counts().written_rows == 3


def test_simulated_computation_delay_is_inside_edge_seconds(tmp_path: Path, fomo: Fomo) -> None:
    delay = {"computation": {"enabled": True, "type": "static", "mean": 0.02}}
    app = build_edge(edge_config(tmp_path, delay_simulation=delay))
    app.start()
    try:
        core = app.core
        core.handle_frame(encode(Register(device_id="cam-1", model_id=fomo.graph.model_id)), 0.0)
        reply = decode(core.handle_frame(encode(fomo.request(10)), 1.0).frame)
    finally:
        app.stop()
    assert isinstance(reply, InferResponse)
    assert reply.edge_seconds >= 0.02  # the planner sees the delay through the edge's time


def test_a_row_sqlite_cannot_store_costs_only_itself(tmp_path: Path) -> None:
    writer = TelemetryWriter(tmp_path / "t.sqlite", flush_interval_s=10.0, max_pending_rows=100)
    for i in range(3):
        writer.append(_row(i, device_id="good"))
    writer.append(_row(99, device_id="bad", seq=2**63))  # beyond SQLite INTEGER
    for i in range(3, 6):
        writer.append(_row(i, device_id="good"))
    assert writer.flush() == 6
    writer.close()
    counts = writer.counts()
    assert (counts.written_rows, counts.dropped_rows, counts.pending_rows) == (6, 1, 0)
    rows = read_telemetry(tmp_path / "t.sqlite")
    assert [r["seq"] for r in rows] == [0, 1, 2, 3, 4, 5]
    assert {r["device_id"] for r in rows} == {"good"}


def test_the_writer_thread_keeps_writing_after_a_bad_row(tmp_path: Path) -> None:
    writer = TelemetryWriter(tmp_path / "t.sqlite", flush_interval_s=0.01, max_pending_rows=100)
    writer.start()
    try:
        writer.append(_row(0, device_id="bad", seq=2**64))
        deadline = time.monotonic() + 30.0
        while writer.counts().dropped_rows == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        writer.append(_row(1, device_id="good"))
        while writer.counts().written_rows == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        writer.close()
    assert writer.counts().written_rows == 1 and writer.counts().dropped_rows == 1
    assert [r["device_id"] for r in read_telemetry(tmp_path / "t.sqlite")] == ["good"]
