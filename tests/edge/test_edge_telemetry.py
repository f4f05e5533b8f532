"""Telemetry: batched SQLite rows, overflow counted (never silent), delays the planner sees."""

from __future__ import annotations

from pathlib import Path

from edge_testkit import Fomo, edge_config

from sciot.edge import TELEMETRY_COLUMNS, build_edge, read_telemetry
from sciot.edge._telemetry import TelemetryWriter
from sciot.wire import InferResponse, Register, decode, encode


def _row(i: int) -> tuple:  # type: ignore[type-arg]
    return (float(i), "d", "0" * 16, i, 1, 2, 0.1, 10, 20, 0.01, 0.02, 0.13, "adaptive", "split")


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
