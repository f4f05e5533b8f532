"""What one client may cost the others: report size, rate and plausibility, the telemetry
writer's fair share, the registry bound, and the robustness fixes of the fuzz run.

Each test counts what the limit protects: an honest device's accepted inferences and rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from edge_testkit import Fomo, edge_config

from sciot.edge import EdgeApp, build_edge, read_telemetry
from sciot.edge._mailbox import PlannerMailbox
from sciot.edge._models import ServedModel
from sciot.edge._telemetry import TelemetryRow, TelemetryWriter
from sciot.wire import (
    DeviceOnlyReport,
    ErrorCode,
    ErrorFrame,
    InferResponse,
    Message,
    OfflineAck,
    OfflineRecord,
    OfflineReport,
    Register,
    RegisterAck,
    decode,
    encode,
)

T0 = 1_000_000.0


def _edge(tmp_path: Path, **limits: object) -> EdgeApp:
    return build_edge(edge_config(tmp_path, limits=limits))


def _call(app: EdgeApp, msg: Message, now_s: float = T0) -> Message:
    return decode(app.core.handle_frame(encode(msg), now_s).frame)


def _register(app: EdgeApp, fomo: Fomo, device_id: str, now_s: float = T0) -> Message:
    return _call(app, Register(device_id=device_id, model_id=fomo.graph.model_id), now_s)


def _records(fomo: Fomo, n: int, *, start_s: float, every_s: float, seq0: int = 0) -> tuple:
    cut = fomo.graph.num_ops
    return tuple(
        OfflineRecord(
            seq=seq0 + i, cut=cut, started_at_s=start_s + i * every_s, device_seconds=0.0005
        )
        for i in range(n)
    )


def _report(fomo: Fomo, device_id: str, records: tuple) -> DeviceOnlyReport:
    return DeviceOnlyReport(device_id=device_id, model_id=fomo.graph.model_id, records=records)


def test_offline_report_beyond_the_model_is_bad_cut(tmp_path: Path, fomo: Fomo) -> None:
    app = _edge(tmp_path)
    try:
        _register(app, fomo, "cam")
        bogus = OfflineRecord(
            seq=1, cut=fomo.graph.num_ops + 7, started_at_s=T0, device_seconds=0.01
        )
        reply = _call(
            app, OfflineReport(device_id="cam", model_id=fomo.graph.model_id, records=(bogus,))
        )
        assert isinstance(reply, ErrorFrame) and reply.code is ErrorCode.BAD_CUT
        assert app.core.devices["cam"].offline == 0
    finally:
        app.stop()


def test_one_failing_device_does_not_lose_the_planner_round(fomo_served: ServedModel) -> None:
    published: dict[str, int] = {}

    def publish(device_id: str, cut: int, _probe: bool) -> None:
        if device_id == "broken":
            raise ValueError("a bug for this device only")
        published[device_id] = cut

    mailbox = PlannerMailbox([fomo_served], "adaptive", seed=0, publish=publish)
    for device_id in ("a", "broken", "b"):
        mailbox.post(device_id, fomo_served, T0, device_op_seconds=[(0.001,) * 3])
    assert mailbox.plan_pending() == 3
    assert set(published) == {"a", "b"}


def test_implausible_and_oversized_reports_are_refused(tmp_path: Path, fomo: Fomo) -> None:
    app = _edge(tmp_path, max_report_records=1000, plausible_inferences_per_s=1000.0)
    try:
        _register(app, fomo, "attacker")
        # 500 inferences claimed within 5 ms: a device runs them one after another.
        crowded = _call(app, _report(fomo, "attacker", _records(fomo, 500, start_s=T0, every_s=0)))
        assert isinstance(crowded, ErrorFrame) and crowded.code is ErrorCode.MALFORMED
        assert "implausible" in crowded.reason
        big = _call(app, _report(fomo, "attacker", _records(fomo, 1001, start_s=T0, every_s=1)))
        assert isinstance(big, ErrorFrame) and big.code is ErrorCode.FRAME_TOO_LARGE
        assert app.core.devices["attacker"].inferences == 0
        honest = _call(app, _report(fomo, "attacker", _records(fomo, 50, start_s=T0, every_s=0.01)))
        assert isinstance(honest, OfflineAck) and honest.accepted == 50
    finally:
        app.stop()


def test_a_fast_tiny_head_is_plausible_under_the_default_limits(tmp_path: Path, fomo: Fomo) -> None:
    # A device-only batch seen from an honest client on a fast host: 8 inferences of a tiny
    # model, 175 us apart, reported with a near-zero device time.
    app = _edge(tmp_path)
    try:
        _register(app, fomo, "fast")
        cut = fomo.graph.num_ops
        records = tuple(
            OfflineRecord(seq=i, cut=cut, started_at_s=T0 + i * 0.000175, device_seconds=0.00015)
            for i in range(8)
        )
        reply = _call(app, _report(fomo, "fast", records))
        assert isinstance(reply, OfflineAck) and reply.accepted == 8
    finally:
        app.stop()


def test_a_flooding_device_is_held_to_its_rate_and_costs_an_honest_one_nothing(
    tmp_path: Path, fomo: Fomo
) -> None:
    app = _edge(tmp_path, max_records_per_s=1000.0, record_burst=2000)
    try:
        _register(app, fomo, "attacker")
        _register(app, fomo, "honest")
        accepted = {"attacker": 0, "honest": 0}
        overloaded = 0
        seq = 0
        for step in range(100):  # 10 s of edge time, 10 reports of 1000 records a second
            now_s = T0 + step * 0.1
            records = _records(fomo, 1000, start_s=now_s - 2.0, every_s=0.002, seq0=seq)
            seq += 1000
            reply = _call(app, _report(fomo, "attacker", records), now_s)
            if isinstance(reply, OfflineAck):
                accepted["attacker"] += reply.accepted
            else:
                assert isinstance(reply, ErrorFrame) and reply.code is ErrorCode.OVERLOADED
                overloaded += 1
            if step % 5 == 0:
                mine = _records(fomo, 20, start_s=now_s - 0.5, every_s=0.02, seq0=step * 20)
                ack = _call(app, _report(fomo, "honest", mine), now_s)
                assert isinstance(ack, OfflineAck), ack
                accepted["honest"] += ack.accepted
        # The bucket: its burst plus 1000 records/s over the ~10 s.
        assert accepted["attacker"] <= 2000 + 1000 * 10
        assert overloaded >= 85
        assert accepted["honest"] == 20 * 20
        app.core.telemetry.flush()  # type: ignore[union-attr]
        rows = read_telemetry(Path(app.core.config.telemetry.path))
        assert sum(r["device_id"] == "honest" for r in rows) == 400
        assert sum(r["device_id"] == "attacker" for r in rows) == accepted["attacker"]
    finally:
        app.stop()


def _row(device_id: str, seq: int) -> TelemetryRow:
    return TelemetryRow(
        T0, device_id, "m", seq, 3, None, 0.001, None, None, None, None, 0.001, "p", "offline"
    )


def test_the_telemetry_writer_gives_each_device_a_fair_share(tmp_path: Path) -> None:
    writer = TelemetryWriter(
        tmp_path / "t.sqlite", flush_interval_s=60.0, max_pending_rows=100, device_share=0.25
    )
    try:
        kept = sum(writer.append(_row("flood", i)) for i in range(1000))
        honest = sum(writer.append(_row("honest", i)) for i in range(20))
        assert (kept, honest) == (25, 20)
        assert not writer.room_for("flood", 1) and writer.room_for("honest", 5)
        assert writer.flush() == 45
        assert writer.counts().dropped_rows == 975
    finally:
        writer.close()


def test_the_registry_is_bounded_and_evicts_idle_devices(tmp_path: Path, fomo: Fomo) -> None:
    app = _edge(tmp_path, max_devices=3, device_idle_s=60.0)
    try:
        for i in range(3):
            assert isinstance(_register(app, fomo, f"d{i}"), RegisterAck)
        refused = _register(app, fomo, "newcomer", T0 + 10)
        assert isinstance(refused, ErrorFrame) and refused.code is ErrorCode.OVERLOADED
        # d0 stays active; d1, d2 fall silent and are evicted to make room.
        assert isinstance(_register(app, fomo, "d0", T0 + 50), RegisterAck)
        assert isinstance(_register(app, fomo, "newcomer", T0 + 70), RegisterAck)
        assert set(app.core.devices) == {"d0", "newcomer"}
        assert app.core.registry.evicted == 2
        # An evicted device is told to register again, like after an edge restart.
        gone = _call(app, _report(fomo, "d1", _records(fomo, 1, start_s=T0, every_s=0)), T0 + 71)
        assert isinstance(gone, ErrorFrame) and gone.code is ErrorCode.UNKNOWN_DEVICE
        for planner in app.core.planners.values():
            assert "d1" not in planner.devices()
    finally:
        app.stop()


def test_an_acknowledged_report_is_committed_before_the_ack(tmp_path: Path, fomo: Fomo) -> None:
    config = edge_config(
        tmp_path, telemetry={"path": str(tmp_path / "t.sqlite"), "flush_interval_s": 60}
    )
    app = build_edge(config)
    app.start()
    try:
        _register(app, fomo, "cam")
        ack = _call(app, _report(fomo, "cam", _records(fomo, 64, start_s=T0, every_s=0.01)))
        assert isinstance(ack, OfflineAck) and ack.accepted == 64
        # Read by another connection while the writer's next flush is a minute away.
        assert len(read_telemetry(tmp_path / "t.sqlite")) == 64
    finally:
        app.stop()


@pytest.fixture(scope="module")
def fomo_served() -> ServedModel:
    from sciot.edge._config import ModelConfig
    from sciot.edge._models import load_served_model

    return load_served_model(ModelConfig(demo="fomo96"), workers=1)


def test_the_offline_backlog_travels_in_reports_and_shows_in_stats(
    tmp_path: Path, fomo: Fomo
) -> None:
    from sciot.edge._metrics import stats_json

    records = _records(fomo, 3, start_s=T0, every_s=0.01)
    plain = OfflineReport(device_id="cam", model_id=fomo.graph.model_id, records=records)
    with_backlog = OfflineReport(
        device_id="cam", model_id=fomo.graph.model_id, records=records, offline_backlog=4321
    )
    # Without a backlog the frame is the old layout; the trailer adds one u32.
    assert len(encode(with_backlog)) == len(encode(plain)) + 4
    assert decode(encode(plain)).offline_backlog == 0  # type: ignore[union-attr]
    assert decode(encode(with_backlog)).offline_backlog == 4321  # type: ignore[union-attr]
    app = _edge(tmp_path)
    try:
        _register(app, fomo, "cam")
        assert isinstance(_call(app, with_backlog), OfflineAck)
        entry = next(d for d in stats_json(app.core)["devices"] if d["device_id"] == "cam")
        assert entry["offline_backlog"] == 4321 and entry["offline"] == 3
        report = _report(fomo, "cam", _records(fomo, 2, start_s=T0 + 1, every_s=0.01))
        assert isinstance(_call(app, report), OfflineAck)  # caught up: no trailer, backlog 0
        assert app.core.devices["cam"].offline_backlog == 0
    finally:
        app.stop()


def test_inference_requests_beyond_a_devices_rate_are_refused(tmp_path: Path, fomo: Fomo) -> None:
    app = _edge(tmp_path, max_frames_per_s=100.0, frame_burst=50)
    try:
        _register(app, fomo, "fast")
        _register(app, fomo, "calm")
        cut = fomo.graph.num_ops  # the edge runs nothing: only the limit is measured
        served = [
            isinstance(_call(app, fomo.request(cut, device_id="fast", seq=i)), InferResponse)
            for i in range(200)
        ]
        assert sum(served) == 50
        refused = _call(app, fomo.request(cut, device_id="fast"))
        assert isinstance(refused, ErrorFrame) and refused.code is ErrorCode.OVERLOADED
        calm = [_call(app, fomo.request(cut, device_id="calm", seq=i)) for i in range(20)]
        assert all(isinstance(r, InferResponse) for r in calm)
        later = [_call(app, fomo.request(cut, device_id="fast"), T0 + 1.0) for _ in range(150)]
        assert sum(isinstance(r, InferResponse) for r in later) == 50  # the burst bound again
        assert app.core.devices["fast"].inferences == 100
    finally:
        app.stop()


def test_stats_list_the_most_recent_devices_and_total_them_all(tmp_path: Path, fomo: Fomo) -> None:
    from sciot.edge._metrics import STATS_MAX_DEVICES, stats_json

    app = _edge(tmp_path)
    try:
        count = STATS_MAX_DEVICES + 44
        for i in range(count):
            _register(app, fomo, f"d{i:03d}", T0 + i)
        report = _report(fomo, "d000", _records(fomo, 5, start_s=T0, every_s=0.01))
        assert isinstance(_call(app, report, T0 + count), OfflineAck)  # d000 seen last
        doc = stats_json(app.core)
        listed = {d["device_id"] for d in doc["devices"]}
        assert doc["devices_total"] == count and doc["devices_listed"] == STATS_MAX_DEVICES
        assert len(listed) == STATS_MAX_DEVICES and "d000" in listed and "d001" not in listed
        assert doc["inferences"] == 5
    finally:
        app.stop()
