"""Device-only inferences make no round trip: their records are reported in periodic batches.

Against the in-process wire peer (real frames, real tails) with a hand-advanced clock, so the
triggers (``report_every``, ``report_interval_s``) and the failure path are exact;
``test_device_only_e2e.py`` checks the same against the real edge over loopback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from sciot.device import (
    CutArtefacts,
    DeviceClient,
    DeviceConfig,
    DeviceOnlyBatch,
    InferenceMode,
    SessionState,
)
from sciot.errors import ConfigError
from sciot.model import ModelGraph
from sciot.wire import DeviceOnlyReport, InferRequest, OfflineRecord, OfflineReport


@pytest.fixture(scope="module")
def artefacts(fomo_graph: ModelGraph) -> CutArtefacts:
    return CutArtefacts(fomo_graph)


def _client(peer: Any, artefacts: CutArtefacts, clock: Any, **overrides: Any) -> DeviceClient:
    config = DeviceConfig.from_mapping(
        {
            "device_id": "cam-do",
            "backoff": {"initial_s": 1.0, "max_s": 8.0, "jitter": 0.0},
            "report_interval_s": 100.0,
            **overrides,
        }
    )
    return DeviceClient(config, peer, artefacts=artefacts, clock=clock, sleep=lambda _s: None)


def _device_only_peer(make_peer: Callable[..., Any], artefacts: CutArtefacts) -> Any:
    return make_peer(start_cut=artefacts.num_ops)


def test_device_only_makes_no_call_until_the_batch_is_full(
    make_peer: Callable[..., Any], artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    peer = _device_only_peer(make_peer, artefacts)
    client = _client(peer, artefacts, clock, report_every=8)
    client.start()
    want = artefacts.run_full(fomo_input)
    calls = []
    for i in range(1, 25):
        outcome = client.infer(fomo_input)
        calls.append(len(peer.requests) - 1)  # minus the registration
        assert outcome.mode is InferenceMode.DEVICE_ONLY and outcome.cut == artefacts.num_ops
        assert all(np.array_equal(outcome.outputs[k], v) for k, v in want.items())
        assert (outcome.payload_bytes > 0) is (i % 8 == 0)
        assert outcome.edge_s == 0.0
    assert calls == [i // 8 for i in range(1, 25)]  # one report per 8 inferences, nothing else
    assert peer.infer_requests() == []
    reports = peer.device_only_reports()
    assert [len(r.records) for r in reports] == [8, 8, 8]
    assert [r.seq for r in peer.device_only_records] == list(range(1, 25))
    assert all(r.cut == artefacts.num_ops and r.tensors == () for r in peer.device_only_records)
    # The first use of the cut is profiled op by op and travels in the report.
    assert len(peer.device_only_records[0].device_op_seconds) == artefacts.num_ops
    # Each report carries the previous report's round trip for the link estimator.
    assert reports[0].last_transfer is None
    assert reports[1].last_transfer is not None
    assert reports[1].last_transfer.uplink_bytes == peer.payload_sizes[1]
    stats = client.stats()
    assert (stats.device_only, stats.reported, stats.lost, client.unreported) == (24, 24, 0, 0)


def test_interval_reports_a_slow_trickle(
    make_peer: Callable[..., Any], artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    peer = _device_only_peer(make_peer, artefacts)
    client = _client(peer, artefacts, clock, report_every=1000, report_interval_s=0.5)
    client.start()
    for _ in range(4):  # at 0.0, 0.2, 0.4 s nothing is due; at 0.6 s the oldest is 0.6 s old
        client.infer(fomo_input)
        clock.advance(0.2)
    (report,) = peer.device_only_reports()
    assert len(report.records) == 4
    assert client.unreported == 0


def test_the_ack_moves_the_device_back_to_splitting(
    make_peer: Callable[..., Any], artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    peer = _device_only_peer(make_peer, artefacts)
    client = _client(peer, artefacts, clock, report_every=4)
    client.start()
    peer.next_cut = lambda _cut: 6  # the planner wants to probe cut 6
    modes = [client.infer(fomo_input).mode for _ in range(6)]
    assert modes == [InferenceMode.DEVICE_ONLY] * 4 + [InferenceMode.SPLIT] * 2
    assert [r.cut for r in peer.infer_requests()] == [6, 6]


def test_a_failed_report_loses_nothing(
    make_peer: Callable[..., Any], artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    peer = _device_only_peer(make_peer, artefacts)
    client = _client(peer, artefacts, clock, report_every=4)
    client.start()
    for _ in range(3):
        client.infer(fomo_input)
    peer.alive = False
    failed = client.infer(fomo_input)  # its report fails: the batch is queued for upload
    assert failed.mode is InferenceMode.LOCAL and "unreachable" in failed.reason
    assert client.state is SessionState.BACKOFF
    assert (client.queued, client.unreported) == (4, 0)
    assert client.infer(fomo_input).mode is InferenceMode.LOCAL
    peer.alive = True
    clock.advance(2.0)  # past the backoff wait
    assert client.infer(fomo_input).mode is InferenceMode.DEVICE_ONLY
    # The edge has every inference: the failed batch and the local one as offline records.
    assert [r.seq for r in peer.records] == [1, 2, 3, 4, 5]
    assert peer.device_only_records == []
    assert client.stats().lost == 0


def test_flush_and_close_report_what_is_left(
    make_peer: Callable[..., Any], artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    peer = _device_only_peer(make_peer, artefacts)
    client = _client(peer, artefacts, clock, report_every=64)
    client.start()
    for _ in range(3):
        client.infer(fomo_input)
    assert client.flush() == 3
    client.infer(fomo_input)
    client.close()
    assert [r.seq for r in peer.device_only_records] == [1, 2, 3, 4]


def test_results_travel_only_when_asked(
    make_peer: Callable[..., Any], artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    peer = _device_only_peer(make_peer, artefacts)
    client = _client(peer, artefacts, clock, report_every=1, report_results=True)
    client.start()
    outcome = client.infer(fomo_input)
    (record,) = peer.device_only_records
    assert {t.name: t.array for t in record.tensors}.keys() == outcome.outputs.keys()
    for tensor in record.tensors:
        assert np.array_equal(tensor.array, outcome.outputs[tensor.name])


@pytest.mark.parametrize("max_frame_bytes", [6000, 1000])
def test_reports_split_to_fit_the_edges_frame_bound(
    make_peer: Callable[..., Any],
    artefacts: CutArtefacts,
    clock: Any,
    fomo_input: np.ndarray,
    max_frame_bytes: int,
) -> None:
    peer = make_peer(start_cut=artefacts.num_ops, max_frame_bytes=max_frame_bytes)
    client = _client(peer, artefacts, clock, report_every=8, report_results=True)
    client.start()
    for _ in range(8):
        client.infer(fomo_input)
    reports = peer.device_only_reports()
    assert len(reports) > 1
    assert max(peer.payload_sizes[1:]) <= max_frame_bytes
    assert [r.seq for r in peer.device_only_records] == list(range(1, 9))
    with_results = sum(bool(r.tensors) for r in peer.device_only_records)
    # Records fit with their results in the larger bound; alone and stripped in the smaller.
    assert with_results == (8 if max_frame_bytes == 6000 else 0)
    assert client.stats().lost == 0 and client.state is SessionState.REGISTERED


def test_an_edge_that_forgot_the_device_gets_the_records_after_registering_again(
    make_peer: Callable[..., Any], artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    peer = _device_only_peer(make_peer, artefacts)
    client = _client(peer, artefacts, clock, report_every=2)
    client.start()
    client.infer(fomo_input)
    peer.registered.clear()  # the edge restarted and forgot us...
    peer.start_cut = 3  # ...and now prefers cut 3
    refused = client.infer(fomo_input)  # the report is refused: register again, records queued
    assert refused.mode is InferenceMode.LOCAL and "UNKNOWN_DEVICE" in refused.reason
    assert client.state is SessionState.OFFLINE and client.queued == 2
    outcome = client.infer(fomo_input)
    assert outcome.mode is InferenceMode.SPLIT and outcome.cut == 3
    kinds = [type(m).__name__ for m in peer.requests]
    assert kinds[-3:] == ["Register", "OfflineReport", "InferRequest"]
    uploaded = [r for m in peer.requests if isinstance(m, OfflineReport) for r in m.records]
    assert [r.seq for r in uploaded] == [1, 2]
    assert client.stats().lost == 0
    last = peer.requests[-1]
    assert isinstance(last, InferRequest) and last.cut == 3


@pytest.mark.parametrize(
    ("key", "value"), [("report_every", 0), ("report_every", 70_000), ("report_interval_s", 0)]
)
def test_report_settings_are_validated(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=key):
        DeviceConfig.from_mapping({key: value})


def _record(seq: int) -> OfflineRecord:
    return OfflineRecord(seq=seq, cut=3, started_at_s=0.0, device_seconds=0.001)


def test_batch_is_due_on_count_or_age_whichever_first() -> None:
    batch = DeviceOnlyBatch(report_every=3, report_interval_s=1.0)
    assert not batch.due(0.0)
    batch.add(_record(1), 10.0)
    batch.add(_record(2), 10.5)
    assert not batch.due(10.9)
    assert batch.due(11.0)  # the oldest record is 1 s old
    batch.add(_record(3), 10.6)
    assert batch.due(10.6)  # three records
    assert [r.seq for r in batch.take()] == [1, 2, 3]
    assert len(batch) == 0 and not batch.due(100.0)
    with pytest.raises(ConfigError, match="report_every"):
        DeviceOnlyBatch(report_every=0, report_interval_s=1.0)
    with pytest.raises(ConfigError, match="report_interval_s"):
        DeviceOnlyBatch(report_every=1, report_interval_s=0.0)


def test_a_batch_hurried_reports_with_its_next_record() -> None:
    batch = DeviceOnlyBatch(report_every=100, report_interval_s=100.0)
    batch.hurry()
    assert not batch.due(0.0), "an empty batch is never due"
    batch.add(_record(1), 0.0)
    assert batch.due(0.0)
    assert [r.seq for r in batch.take()] == [1]
    batch.add(_record(2), 0.0)
    assert not batch.due(0.0), "taking the batch ends the hurry"


def test_a_report_whose_round_trip_moved_is_followed_by_one_at_once(
    make_peer: Callable[..., Any], artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    """The edge learns a report's network time only from the next report: when the round
    trip moved (a link that recovered), the next report goes with the next inference."""
    peer = _device_only_peer(make_peer, artefacts)
    round_trips = iter([0.001, 0.030, 0.030, 0.003, 0.003, 0.003])
    answer = peer.request

    def timed(payload: bytes, *, timeout_s: float) -> bytes:
        clock.advance(next(round_trips))  # registration, then each report
        return answer(payload, timeout_s=timeout_s)

    peer.request = timed
    client = _client(peer, artefacts, clock, report_every=4)
    client.start()
    for _ in range(13):
        client.infer(fomo_input)
    sizes = [len(r.records) for r in peer.device_only_reports()]
    # 30 ms, 30 ms (same), 3 ms (moved: the next report follows the next inference), 3 ms.
    assert sizes == [4, 4, 4, 1], sizes


def test_report_frames_are_device_only_reports(
    make_peer: Callable[..., Any], artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    peer = _device_only_peer(make_peer, artefacts)
    client = _client(peer, artefacts, clock, report_every=2)
    client.start()
    client.infer(fomo_input)
    client.infer(fomo_input)
    assert isinstance(peer.requests[-1], DeviceOnlyReport)
    assert peer.requests[-1].device_id == "cam-do"


def test_a_probe_told_a_device_only_device_goes_alongside_its_next_inference(
    make_peer: Callable[..., Any], artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    """The device keeps its own result and latency; the probe's tensors are the ones the
    head of that cut would send, and the edge's reply is taken in between inferences."""
    n = artefacts.num_ops
    peer = _device_only_peer(make_peer, artefacts)
    peer.next_cut = lambda cut: 6 if cut == n else n  # the ack: probe 6; its reply: stay
    peer.next_probe = lambda cut: cut == 6
    client = _client(peer, artefacts, clock, report_every=4)
    client.start()
    want = artefacts.run_full(fomo_input)
    outcomes = [client.infer(fomo_input) for _ in range(6)]  # the 4th's ack asks for it
    assert [o.mode for o in outcomes] == [InferenceMode.DEVICE_ONLY] * 6
    assert all(np.array_equal(o.outputs[k], v) for o in outcomes for k, v in want.items())
    assert client.cut == n
    client.flush()
    (probe,) = peer.infer_requests()
    assert probe.alongside and probe.cut == 6 and probe.device_op_seconds == ()
    head = artefacts.run_head(6, fomo_input, profile=False, clock=clock)
    assert [t.name for t in probe.tensors] == list(head.tensors)
    assert all(np.array_equal(t.array, head.tensors[t.name]) for t in probe.tensors)
    assert probe.device_seconds > 0
    # The probe went with the 5th inference, which ran op by op (its record says so), and its
    # reply's network time travels with the next report, as any exchange's does.
    fifth = peer.device_only_records[4]
    assert len(fifth.device_op_seconds) == n
    last = peer.device_only_reports()[-1]
    assert last.last_transfer is not None
    assert last.last_transfer.uplink_bytes == peer.payload_sizes[peer.requests.index(probe)]
    stats = client.stats()
    assert (stats.probes_alongside, stats.split, stats.device_only, stats.reported) == (1, 0, 6, 6)


def test_a_device_at_a_split_cut_moves_to_a_probe(
    make_peer: Callable[..., Any], artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    peer = make_peer(start_cut=6)
    peer.next_cut = lambda cut: 13
    peer.next_probe = lambda cut: True
    client = _client(peer, artefacts, clock)
    client.start()
    modes = [client.infer(fomo_input).mode for _ in range(2)]
    assert modes == [InferenceMode.SPLIT] * 2
    assert [(r.cut, r.alongside) for r in peer.infer_requests()] == [(6, False), (13, False)]


def test_a_probe_alongside_that_fails_is_a_failed_call_and_loses_nothing(
    make_peer: Callable[..., Any], artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    n = artefacts.num_ops
    peer = _device_only_peer(make_peer, artefacts)
    peer.next_cut = lambda cut: 0 if cut == n else n
    peer.next_probe = lambda cut: cut == 0
    peer.refuse_alongside = True
    client = _client(peer, artefacts, clock, report_every=2)
    client.start()
    for _ in range(3):  # the 2nd's ack asks for an edge-only probe; the 3rd sends it
        assert client.infer(fomo_input).mode is InferenceMode.DEVICE_ONLY
    client.flush()  # waits for the probe: it failed, so the session backs off
    assert client.state is SessionState.BACKOFF
    assert peer.infer_requests() == []
    outcome = client.infer(fomo_input)
    assert outcome.mode is InferenceMode.LOCAL  # backing off: its record waits in the queue
    stats = client.stats()
    assert (stats.probes_alongside, stats.failures, stats.lost) == (1, 1, 0)
    assert stats.reported + client.unreported + client.queued == 4
