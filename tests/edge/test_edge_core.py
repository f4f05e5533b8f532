"""The edge's request logic without sockets: frames in, frames out, telemetry written."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from edge_testkit import Fomo, edge_config

from sciot.edge import EdgeApp, build_edge, read_telemetry
from sciot.wire import (
    DeviceOnlyReport,
    DeviceProfile,
    ErrorCode,
    ErrorFrame,
    InferResponse,
    Message,
    OfflineAck,
    OfflineRecord,
    OfflineReport,
    Register,
    RegisterAck,
    Tensor,
    TensorEncoding,
    TransferSample,
    decode,
    encode,
)


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeApp]:
    app = build_edge(edge_config(tmp_path_factory.mktemp("core")))
    app.start()
    yield app
    app.stop()


def _call(edge: EdgeApp, msg: Message, **kw: object) -> tuple[int, Message]:
    reply = edge.core.handle_frame(encode(msg, **kw), 1000.0)  # type: ignore[arg-type]
    return reply.status, decode(reply.frame)


def _register(edge: EdgeApp, fomo: Fomo, device_id: str = "cam-1") -> RegisterAck:
    status, ack = _call(edge, Register(device_id=device_id, model_id=fomo.graph.model_id))
    assert status == 200 and isinstance(ack, RegisterAck)
    return ack


def test_register_returns_model_shape_and_a_cut(edge: EdgeApp, fomo: Fomo) -> None:
    ack = _register(edge, fomo)
    assert ack.num_ops == fomo.graph.num_ops
    assert 0 <= ack.cut <= ack.num_ops
    assert ack.max_frame_bytes == 1 << 20


def test_result_equals_full_model_at_every_cut(edge: EdgeApp, fomo: Fomo) -> None:
    _register(edge, fomo)
    n = fomo.graph.num_ops
    for k in range(n + 1):
        status, reply = _call(edge, fomo.request(k, seq=k))
        assert status == 200 and isinstance(reply, InferResponse), reply
        assert reply.cut == k and reply.seq == k and 0 <= reply.next_cut <= n
        if k < n:
            assert np.array_equal(reply.tensors[0].array, fomo.expected), f"cut {k}"
            assert reply.edge_seconds > 0
        else:
            assert reply.tensors == ()


def test_int8_and_compressed_crossing_tensors(edge: EdgeApp, fomo: Fomo) -> None:
    _register(edge, fomo)
    k = fomo.graph.num_ops - 1
    status, reply = _call(edge, fomo.request(k), encoding=TensorEncoding.RAW_ZLIB)
    assert status == 200 and isinstance(reply, InferResponse)
    assert np.array_equal(reply.tensors[0].array, fomo.expected)
    status, reply = _call(edge, fomo.request(k), encoding=TensorEncoding.INT8)
    assert status == 200 and isinstance(reply, InferResponse)
    assert np.allclose(reply.tensors[0].array, fomo.expected, atol=0.05)


def test_unknown_model_is_refused_by_name(edge: EdgeApp) -> None:
    status, reply = _call(edge, Register(device_id="cam-x", model_id="f" * 16))
    assert status == 406 and isinstance(reply, ErrorFrame)
    assert reply.code is ErrorCode.UNKNOWN_MODEL
    assert "ffffffffffffffff" in reply.reason and "fomo96" in reply.reason


def test_unknown_device_is_told_to_register(edge: EdgeApp, fomo: Fomo) -> None:
    status, reply = _call(edge, fomo.request(3, device_id="never-registered"))
    assert status == 404 and isinstance(reply, ErrorFrame)
    assert reply.code is ErrorCode.UNKNOWN_DEVICE and "Register" in reply.reason


def test_bad_cut_and_bad_tensors(edge: EdgeApp, fomo: Fomo) -> None:
    _register(edge, fomo)
    request = fomo.request(3)
    wrong_cut = type(request)(**{**_fields(request), "cut": 999})
    status, reply = _call(edge, wrong_cut)
    assert status == 409 and isinstance(reply, ErrorFrame) and "999" in reply.reason
    wrong_shape = type(request)(
        **{
            **_fields(request),
            "tensors": (Tensor(name=request.tensors[0].name, array=np.zeros(3, np.float32)),),
        }
    )
    status, reply = _call(edge, wrong_shape)
    assert status == 422 and isinstance(reply, ErrorFrame) and "float32" in reply.reason
    wrong_name = type(request)(
        **{**_fields(request), "tensors": (Tensor(name="nope", array=request.tensors[0].array),)}
    )
    status, reply = _call(edge, wrong_name)
    assert status == 422 and isinstance(reply, ErrorFrame) and "nope" in reply.reason
    assert {s.device_id: s for s in edge.core.stats()}["cam-1"].errors >= 3


def _fields(msg: object) -> dict[str, object]:
    return {name: getattr(msg, name) for name in msg.__dataclass_fields__}  # type: ignore[attr-defined]


def test_malformed_and_oversized_frames(edge: EdgeApp, fomo: Fomo) -> None:
    reply = edge.core.handle_frame(b"GET / HTTP/1.1\r\n\r\n", 0.0)
    assert reply.status == 400
    error = decode(reply.frame)
    assert isinstance(error, ErrorFrame) and error.code is ErrorCode.MALFORMED
    big = encode(fomo.request(0)) + bytes(2 << 20)
    reply = edge.core.handle_frame(big, 0.0)
    assert reply.status == 413
    # A frame type the edge never accepts from a device:
    reply = edge.core.handle_frame(encode(ErrorFrame(code=ErrorCode.INTERNAL, reason="x")), 0.0)
    assert reply.status == 400


def test_offline_report_is_acknowledged_and_persisted(edge: EdgeApp, fomo: Fomo) -> None:
    _register(edge, fomo, "cam-offline")
    records = tuple(
        OfflineRecord(seq=i, cut=fomo.graph.num_ops, started_at_s=float(i), device_seconds=0.002)
        for i in range(1, 4)
    )
    report = OfflineReport(device_id="cam-offline", model_id=fomo.graph.model_id, records=records)
    status, ack = _call(edge, report)
    assert status == 200 and isinstance(ack, OfflineAck) and ack.accepted == 3
    stats = {s.device_id: s for s in edge.core.stats()}
    assert stats["cam-offline"].offline == 3
    assert edge.core.telemetry is not None
    edge.core.telemetry.flush()
    rows = read_telemetry(edge.core.telemetry.path)
    offline = [r for r in rows if r["device_id"] == "cam-offline"]
    assert [r["outcome"] for r in offline] == ["offline"] * 3


def test_an_offline_report_makes_the_planner_back_off_offloading(edge: EdgeApp, fomo: Fomo) -> None:
    """Records made offline mean the device's split attempts failed: the planner is told, and
    the device resumes device-only until its round trips show the link works again."""
    n = fomo.graph.num_ops
    slow = DeviceProfile(kind="slow", op_seconds=(0.01,) * n)
    _call(edge, Register(device_id="cam-flaky", model_id=fomo.graph.model_id, profile=slow))
    assert {s.device_id: s for s in edge.core.stats()}["cam-flaky"].next_cut < n
    record = OfflineRecord(seq=1, cut=n, started_at_s=999.0, device_seconds=0.1)
    report = OfflineReport(device_id="cam-flaky", model_id=fomo.graph.model_id, records=(record,))
    status, _ = _call(edge, report)
    assert status == 200
    next_cut = -1
    for _ in range(100):  # the planner worker may take the mailbox first: bounded wait
        edge.core.plan_pending()
        next_cut = {s.device_id: s for s in edge.core.stats()}["cam-flaky"].next_cut
        if next_cut == n:
            break
        time.sleep(0.01)
    assert next_cut == n
    status, reply = _call(edge, fomo.request(n, device_id="cam-flaky", seq=2))
    assert status == 200 and isinstance(reply, InferResponse) and reply.next_cut == n


def test_the_reply_to_a_probe_carries_a_decision_made_with_its_measurements(
    tmp_path: Path, fomo: Fomo
) -> None:
    """A published probe stays published until the next round: the reply to the request
    that ran it would carry the probe again (a device-only device that heard it in a
    report's ack would run it twice). The edge runs the device's round first instead."""
    app = build_edge(edge_config(tmp_path))  # not started: no planner thread runs rounds
    try:
        _register(app, fomo, "cam-probe")
        record = app.core.registry.devices["cam-probe"]
        app.core.registry.publish_cut("cam-probe", 6, True)
        planned = record.planned
        status, reply = _call(app, fomo.request(3, device_id="cam-probe", seq=1))
        assert status == 200 and isinstance(reply, InferResponse)
        assert reply.next_cut == 6 and record.planned == planned, "no round: the probe goes out"
        status, reply = _call(app, fomo.request(6, device_id="cam-probe", seq=2))
        assert isinstance(reply, InferResponse)
        assert record.planned == planned + 1, "the probe's request was planned with at once"
        assert reply.next_cut == record.next_cut
        assert app.core.mailbox.plan_now("cam-probe") is None, "its measurements were fed"
        app.core.registry.publish_cut("cam-probe", 6, False)  # a decision, not a probe
        status, reply = _call(app, fomo.request(6, device_id="cam-probe", seq=3))
        assert isinstance(reply, InferResponse) and reply.next_cut == 6
        assert record.planned == planned + 2, "no round of its own for a plain decision"
    finally:
        app.stop()


def test_a_wait_for_a_worker_is_edge_time_and_reaches_the_planner_apart(
    tmp_path: Path, fomo: Fomo
) -> None:
    """A frame that waited for a worker thread waited in the edge's queue: the reply counts
    the wait in its edge seconds (the device takes them out of its network time), and the
    planner gets it as a per-request wait, apart from the tail's run time."""
    app = build_edge(edge_config(tmp_path))
    try:
        _register(app, fomo, "cam-wait")
        frame = encode(fomo.request(6, device_id="cam-wait", seq=1))
        reply = decode(app.core.handle_frame(frame, 1000.0, waited_s=0.25).frame)
        assert isinstance(reply, InferResponse) and reply.edge_seconds >= 0.25
        app.core.plan_pending()
        state = app.core.mailbox.planners[fomo.graph.model_id].state("cam-wait")
        assert state.edge_wait_s == pytest.approx(0.25)
        assert float(state.edge.mean_s[6:].sum()) < 0.25, "the run time, not the wait"
    finally:
        app.stop()


def test_a_requests_latency_reaches_the_planner_with_its_own_network_time(
    tmp_path: Path, fomo: Fomo
) -> None:
    """A request carries the previous exchange's network time, so the planner gets a
    request's latency with the next message: cut 6's latency with cut 6's transfer, never
    with the one before it (a big cut-1 tensor's time charged to cut 6 made it look 20 ms
    slower than it was, and the device stayed local)."""
    app = build_edge(edge_config(tmp_path))
    try:
        _register(app, fomo, "cam-lat")
        state = app.core.mailbox.planners[fomo.graph.model_id].state("cam-lat")
        slow = TransferSample(uplink_bytes=150_000, downlink_bytes=2400, seconds=0.06)
        first = fomo.request(1, device_id="cam-lat", seq=1)
        _call(app, type(first)(**{**_fields(first), "last_transfer": slow}))
        app.core.plan_pending()
        assert state.latency_count == 0, "nothing was waiting for that transfer"
        quick = TransferSample(uplink_bytes=18_000, downlink_bytes=2400, seconds=0.004)
        second = fomo.request(6, device_id="cam-lat", seq=2)
        _call(app, type(second)(**{**_fields(second), "last_transfer": quick}))
        app.core.plan_pending()
        assert [cut for cut, _s, _at in state.latencies] == [1]
        cut, seconds, _at = state.latencies[-1]
        assert cut == 1 and 0.005 < seconds < 0.055, "cut 1's parts and its own transfer"
    finally:
        app.stop()


def test_planner_learns_from_measurements(edge: EdgeApp, fomo: Fomo) -> None:
    """The planner worker turns measurements into the next cut the replies carry."""
    n = fomo.graph.num_ops
    profile = DeviceProfile(kind="fast", op_seconds=(1e-6,) * n)
    status, _ = _call(
        edge, Register(device_id="cam-plan", model_id=fomo.graph.model_id, profile=profile)
    )
    assert status == 200
    for i in range(30):
        k = i % (n + 1)
        request = fomo.request(k, device_id="cam-plan", seq=i)
        request = type(request)(
            **{
                **_fields(request),
                "device_op_seconds": (1e-6,) * k,
                "last_transfer": TransferSample(
                    uplink_bytes=1000 * (k + 1), downlink_bytes=2400, seconds=0.01 + 1e-6 * k
                ),
            }
        )
        _call(edge, request)
        edge.core.plan_pending()
    stats = {s.device_id: s for s in edge.core.stats()}["cam-plan"]
    assert stats.planner_updates >= 1
    assert 0 <= stats.next_cut <= n


def test_telemetry_has_one_row_per_inference(tmp_path: Path, fomo: Fomo) -> None:
    app = build_edge(edge_config(tmp_path))
    app.start()
    try:
        _register(app, fomo, "cam-t")
        for k in (0, 5, fomo.graph.num_ops):
            _call(app, fomo.request(k, device_id="cam-t", seq=k))
    finally:
        app.stop()
    rows = read_telemetry(tmp_path / "telemetry.sqlite")
    assert [(r["cut"], r["outcome"]) for r in rows] == [
        (0, "edge_only"),
        (5, "split"),
        (fomo.graph.num_ops, "device_only"),
    ]
    assert all(r["policy"] == "adaptive" and r["uplink_bytes"] for r in rows)


def test_cheap_tails_run_inline_and_heavy_ones_on_workers(edge: EdgeApp, fomo: Fomo) -> None:
    core = edge.core
    n = fomo.graph.num_ops
    assert core.runs_inline(encode(Register(device_id="d", model_id=fomo.graph.model_id)))
    assert core.runs_inline(encode(fomo.request(n - 1)))  # one op left: cheaper than a hand-off
    assert not core.runs_inline(encode(fomo.request(0)))  # the whole model: off the loop
    assert not core.runs_inline(b"SC")


def test_inline_can_be_switched_off(tmp_path: Path, fomo: Fomo) -> None:
    app = build_edge(edge_config(tmp_path, inline_tail_max_s=0))
    app.start()
    try:
        assert not app.core.runs_inline(encode(fomo.request(fomo.graph.num_ops - 1)))
    finally:
        app.stop()


def test_peek_header_checks_magic_and_version(fomo: Fomo) -> None:
    from sciot.errors import RemoteProtocolError
    from sciot.wire import MessageType, peek_header

    frame = encode(fomo.request(7, seq=42))
    header = peek_header(frame)
    assert header.msg_type == MessageType.INFER_REQUEST and header.cut == 7
    assert header.seq == 42 and header.model_id == fomo.graph.model_id
    assert header.frame_bytes == len(frame)
    with pytest.raises(RemoteProtocolError, match="not a sciot frame"):
        peek_header(b"XX" + frame[2:])
    with pytest.raises(RemoteProtocolError, match="unsupported wire version 9"):
        peek_header(frame[:2] + bytes([9]) + frame[3:])
    with pytest.raises(RemoteProtocolError, match="shorter than"):
        peek_header(frame[:10])


def test_a_foreign_frame_is_never_served_inline(edge: EdgeApp, fomo: Fomo) -> None:
    frame = encode(Register(device_id="cam-x", model_id=fomo.graph.model_id))
    assert edge.core.runs_inline(frame)
    assert not edge.core.runs_inline(b"XX" + frame[2:])


def test_the_mailbox_merges_measurements_and_publishes_the_cut(edge: EdgeApp) -> None:
    """Sans-I/O: any transport posts measurements; one round plans each device once."""
    from sciot.edge._mailbox import MAX_PENDING_TRANSFERS, PlannerMailbox

    model = next(iter(edge.core.models.values()))
    published: list[tuple[str, int]] = []
    mailbox = PlannerMailbox(
        [model], "adaptive", seed=0, publish=lambda d, c, t: published.append((d, c))
    )
    first = mailbox.first_decision("cam-m", model, (1e-4,) * model.num_ops, 0.0)[0]
    assert 0 <= first <= model.num_ops
    for i in range(10):
        sample = TransferSample(uplink_bytes=1000 + i, downlink_bytes=100, seconds=0.001)
        mailbox.post("cam-m", model, float(i), device_op_seconds=[(2e-4,)], transfer=sample)
    assert mailbox.wakeup.is_set()
    pending = mailbox._pending["cam-m"]
    assert len(pending.transfers) == MAX_PENDING_TRANSFERS and pending.device_ops[0] == 2e-4
    assert mailbox.plan_pending() == 1 and [d for d, _ in published] == ["cam-m"]
    assert mailbox.plan_pending() == 0


def test_edge_counts_cuts_as_the_device_does(tmp_path: Path, fomo: Fomo) -> None:
    """Cut 0 is edge-only on both sides, interior cuts are splits (it was 'split 2' on the
    device against 'split_inferences: 0, edge_only: 2' on the edge)."""
    app = build_edge(edge_config(tmp_path))
    app.start()
    try:
        core = app.core
        core.handle_frame(encode(Register(device_id="cam-c", model_id=fomo.graph.model_id)), 0.0)
        for seq, cut in enumerate((0, 0, 10), start=1):
            reply = core.handle_frame(encode(fomo.request(cut, device_id="cam-c", seq=seq)), 1.0)
            assert reply.status == 200
        (stats,) = [s for s in core.stats() if s.device_id == "cam-c"]
    finally:
        app.stop()
    assert (stats.edge_only, stats.split_inferences, stats.inferences) == (2, 1, 3)
    assert stats.cuts == {0: 2, 10: 1}


def test_a_probe_alongside_is_measured_but_is_no_inference(tmp_path: Path, fomo: Fomo) -> None:
    """A device-only device hears a probe in an ack with the probe bit, and sends it alongside
    an inference it runs whole: the edge runs the tail and plans with it, but counts and
    records no inference (the device reports that one as device-only)."""
    app = build_edge(edge_config(tmp_path))  # not started: no planner thread runs rounds
    n = fomo.graph.num_ops
    try:
        _register(app, fomo, "cam-along")
        record = app.core.registry.devices["cam-along"]
        app.core.registry.publish_cut("cam-along", 6, True)
        assert app.core.registry.runs_probe(record, 6)
        assert not app.core.registry.runs_probe(record, 7)
        report = DeviceOnlyReport(
            device_id="cam-along",
            model_id=fomo.graph.model_id,
            records=(OfflineRecord(seq=1, cut=n, started_at_s=1.0, device_seconds=0.04),),
            seq=1,
        )
        app.core.registry.publish_cut("cam-along", 6, True)
        ack = decode(app.core.handle_frame(encode(report), 1000.0).frame)  # type: ignore[arg-type]
        assert isinstance(ack, OfflineAck)
        assert ack.next_probe is (ack.next_cut == record.next_cut and record.next_probe)
        app.core.registry.publish_cut("cam-along", 6, True)
        status, plain = _call(app, fomo.request(3, device_id="cam-along", seq=3))
        assert isinstance(plain, InferResponse) and (plain.next_cut, plain.next_probe) == (6, True)
        planned = record.planned
        probe = replace(fomo.request(6, device_id="cam-along", seq=4), alongside=True)
        status, reply = _call(app, probe)
        assert status == 200 and isinstance(reply, InferResponse)
        assert np.array_equal(reply.tensors[0].array, fomo.expected)
        assert record.planned == planned + 1, "planned with the probe's measurements at once"
        assert reply.next_probe is (record.next_probe and reply.next_cut == record.next_cut)
        (stats,) = app.core.registry.stats()
        assert stats.probes_alongside == 1 and stats.split_inferences == 1
        assert stats.inferences == 2, "the reported device-only one and the plain cut-3 one"
    finally:
        app.stop()
    rows = read_telemetry(tmp_path / "telemetry.sqlite")
    assert [(r["seq"], r["outcome"]) for r in rows] == [(1, "device_only"), (3, "split")]
