"""Device-only reports at the edge: a decision recorded like any inference, not an outage."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import pytest
from edge_testkit import Fomo, edge_config

from sciot.edge import EdgeApp, build_edge, read_telemetry
from sciot.wire import (
    DeviceOnlyReport,
    ErrorCode,
    ErrorFrame,
    Message,
    OfflineAck,
    OfflineRecord,
    OfflineReport,
    Register,
    TransferSample,
    decode,
    encode,
)


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeApp]:
    app = build_edge(edge_config(tmp_path_factory.mktemp("device_only")))
    app.start()
    yield app
    app.stop()


def _call(edge: EdgeApp, msg: Message) -> tuple[int, Message]:
    reply = edge.core.handle_frame(encode(msg), 1000.0)
    return reply.status, decode(reply.frame)


def _records(cut: int, count: int, *, op_s: float = 0.0) -> tuple[OfflineRecord, ...]:
    ops = (op_s,) * cut if op_s else ()
    return tuple(
        OfflineRecord(
            seq=i,
            cut=cut,
            started_at_s=100.0 + i,
            device_seconds=0.002,
            device_op_seconds=ops,
        )
        for i in range(1, count + 1)
    )


def _stats(edge: EdgeApp, device_id: str) -> object:
    return {s.device_id: s for s in edge.core.stats()}[device_id]


def test_report_is_acknowledged_with_the_next_cut_and_one_row_per_inference(
    edge: EdgeApp, fomo: Fomo
) -> None:
    n = fomo.graph.num_ops
    _call(edge, Register(device_id="cam-do", model_id=fomo.graph.model_id))
    report = DeviceOnlyReport(
        device_id="cam-do",
        model_id=fomo.graph.model_id,
        records=_records(n, 5, op_s=0.001),
        last_transfer=TransferSample(uplink_bytes=100, downlink_bytes=50, seconds=0.01),
        seq=6,
    )
    status, ack = _call(edge, report)
    assert status == 200 and isinstance(ack, OfflineAck)
    assert ack.accepted == 5 and ack.seq == 6 and 0 <= ack.next_cut <= n
    stats = {s.device_id: s for s in edge.core.stats()}["cam-do"]
    assert (stats.inferences, stats.device_only, stats.offline) == (5, 5, 0)
    assert stats.cuts == {n: 5}
    assert stats.uplink_bytes == len(encode(report))
    assert edge.core.telemetry is not None
    edge.core.telemetry.flush()
    rows = [r for r in read_telemetry(edge.core.telemetry.path) if r["device_id"] == "cam-do"]
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5]
    assert {r["outcome"] for r in rows} == {"device_only"}
    assert all(r["cut"] == n and r["at_s"] >= 100.0 for r in rows)
    # The report's transfer sample reached the planner (SCIoT's estimate keeps the last one).
    for _ in range(100):  # the planner worker may take the mailbox first: bounded wait
        edge.core.plan_pending()
        state = edge.core.planners[fomo.graph.model_id].state("cam-do")
        if state.sciot_bytes_per_s is not None:
            break
        time.sleep(0.01)
    assert state.sciot_bytes_per_s == pytest.approx(150 / 0.01)


def test_a_device_only_report_is_not_an_outage(edge: EdgeApp, fomo: Fomo) -> None:
    """An offline report tells the planner the link failed; a device-only one must not, or
    choosing device-only would back offloading off by itself."""
    n = fomo.graph.num_ops
    model_id = fomo.graph.model_id
    planner = edge.core.planners[model_id]
    for device_id, report_type in (("cam-calm", DeviceOnlyReport), ("cam-down", OfflineReport)):
        _call(edge, Register(device_id=device_id, model_id=model_id))
        report = report_type(device_id=device_id, model_id=model_id, records=_records(n, 1))
        status, _ = _call(edge, report)
        assert status == 200
    for _ in range(100):  # the planner worker may take the mailbox first: bounded wait
        edge.core.plan_pending()
        if planner.state("cam-down").failures:
            break
        time.sleep(0.01)
    assert planner.state("cam-down").failures == 1
    assert planner.state("cam-calm").failures == 0
    assert planner.state("cam-calm").down_until_s == -math.inf
    assert _stats(edge, "cam-calm").offline == 0  # type: ignore[attr-defined]
    assert _stats(edge, "cam-down").offline == 1  # type: ignore[attr-defined]


def test_bad_reports_are_refused_by_name(edge: EdgeApp, fomo: Fomo) -> None:
    n = fomo.graph.num_ops
    stranger = DeviceOnlyReport(
        device_id="cam-never", model_id=fomo.graph.model_id, records=_records(n, 1)
    )
    status, reply = _call(edge, stranger)
    assert status == 404 and isinstance(reply, ErrorFrame)
    assert reply.code is ErrorCode.UNKNOWN_DEVICE

    _call(edge, Register(device_id="cam-bad", model_id=fomo.graph.model_id))
    split = DeviceOnlyReport(
        device_id="cam-bad", model_id=fomo.graph.model_id, records=_records(3, 1)
    )
    status, reply = _call(edge, split)
    assert status == 409 and isinstance(reply, ErrorFrame) and reply.code is ErrorCode.BAD_CUT
    assert "device-only is cut" in reply.reason and "InferRequest" in reply.reason
    assert _stats(edge, "cam-bad").inferences == 0  # type: ignore[attr-defined]


def test_reports_are_cheap_enough_to_serve_inline(edge: EdgeApp, fomo: Fomo) -> None:
    report = DeviceOnlyReport(
        device_id="cam-1", model_id=fomo.graph.model_id, records=_records(fomo.graph.num_ops, 64)
    )
    assert edge.core.runs_inline(encode(report)) is (edge.core.inline_tail_max_s > 0.0)


def test_a_device_only_report_tells_the_planner_the_executors_newest_timing(
    edge: EdgeApp, fomo: Fomo
) -> None:
    """The edge knows its executor from any device's tail: a device that avoids the edge
    hears of it with its report, so an overload's end is not left to a stale estimate."""
    n = fomo.graph.num_ops
    model_id = fomo.graph.model_id
    _call(edge, Register(device_id="cam-ex", model_id=model_id))
    # Another device's whole-model tail: 0.5 s run, after 0.2 s waiting for a worker.
    edge.core._executor[model_id] = (0, 0.5, 0.2, 999.0)
    report = DeviceOnlyReport(
        device_id="cam-ex", model_id=model_id, records=_records(n, 3, op_s=0.001), seq=4
    )
    status, _ = _call(edge, report)
    assert status == 200
    state = edge.core.planners[model_id].state("cam-ex")
    for _ in range(100):  # the planner worker may take the mailbox first: bounded wait
        edge.core.plan_pending()
        if (state.edge.count > 0).all():
            break
        time.sleep(0.01)
    assert float(state.edge.mean_s.sum()) == pytest.approx(0.5)
    assert state.edge_wait_s == pytest.approx(0.2)
