"""The device client against an in-process wire peer: results, fallback, upload, refusals.

The peer (see ``conftest.py``) decodes real frames and runs real tails, so these tests check
the client's whole protocol behaviour without sockets; ``test_device_e2e.py`` repeats the key
scenarios against the real edge server over loopback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sciot.device import (
    CutArtefacts,
    DeviceClient,
    DeviceConfig,
    InferenceMode,
    RegistrationRefused,
    SessionState,
)
from sciot.errors import ConfigError, ExecutionError
from sciot.model import ModelGraph
from sciot.runtime import SegmentExecutor
from sciot.wire import OfflineReport, Register


@pytest.fixture(scope="module")
def artefacts(fomo_graph: ModelGraph) -> CutArtefacts:
    return CutArtefacts(fomo_graph)


@pytest.fixture(scope="module")
def expected(fomo_graph: ModelGraph, fomo_input: np.ndarray) -> dict[str, np.ndarray]:
    return SegmentExecutor(fomo_graph.model_bytes).run({fomo_graph.inputs[0].name: fomo_input})


def _config(**overrides: Any) -> DeviceConfig:
    base: dict[str, Any] = {
        "device_id": "cam-1",
        "backoff": {"initial_s": 1.0, "max_s": 8.0, "factor": 2.0, "jitter": 0.0},
    }
    return DeviceConfig.from_mapping({**base, **overrides})


def _client(
    peer: Any, artefacts: CutArtefacts, clock: Callable[[], float], **overrides: Any
) -> DeviceClient:
    return DeviceClient(
        _config(**overrides), peer, artefacts=artefacts, clock=clock, sleep=lambda _s: None
    )


def _same(outputs: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> bool:
    return set(outputs) == set(expected) and all(
        np.array_equal(outputs[name], expected[name]) for name in expected
    )


def test_every_cut_gives_the_full_models_result_bit_for_bit(
    make_peer: Callable[..., Any],
    artefacts: CutArtefacts,
    clock: Any,
    fomo_input: np.ndarray,
    expected: dict[str, np.ndarray],
) -> None:
    num_ops = artefacts.num_ops
    # The peer walks the device through every cut, one inference each.
    peer = make_peer(next_cut=lambda cut: min(cut + 1, num_ops), start_cut=0)
    client = _client(peer, artefacts, clock)
    assert client.start()
    seen = []
    for _ in range(num_ops + 1):
        outcome = client.infer(fomo_input)
        seen.append(outcome.cut)
        assert _same(dict(outcome.outputs), expected), f"cut {outcome.cut} differs"
        split = outcome.cut < num_ops
        assert outcome.mode is (InferenceMode.SPLIT if split else InferenceMode.DEVICE_ONLY)
        # Device-only sends nothing on the inference's path (its report waits for the
        # batch) except right after a split, when its first record is reported at once.
        assert (outcome.payload_bytes > 0) is (split or outcome.cut == num_ops)
    assert seen == list(range(num_ops + 1))
    # Counted by cut as the edge counts them: cut 0 is edge-only, interior cuts are splits.
    assert client.stats().split == num_ops - 1
    assert client.stats().edge_only == 1
    assert client.stats().device_only == 1


def test_one_round_trip_per_inference_with_timings_and_transfer(
    peer: Any, artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    peer.start_cut = 7
    client = _client(peer, artefacts, clock, profile_fraction=0.0)
    client.start()
    for _ in range(3):
        client.infer(fomo_input)
    requests = peer.infer_requests()
    assert len(peer.requests) == 1 + 3  # register + one per inference
    register = peer.requests[0]
    assert isinstance(register, Register)
    assert len(register.profile.op_seconds) == artefacts.num_ops  # the planner's prior
    assert [r.cut for r in requests] == [7, 7, 7]
    # First use of a cut is profiled op by op; later ones are timed as a whole.
    assert len(requests[0].device_op_seconds) == 7
    assert requests[1].device_op_seconds == ()
    assert requests[0].last_transfer is None
    assert requests[1].last_transfer is not None
    assert requests[1].last_transfer.uplink_bytes == peer.payload_sizes[1]
    assert [t.name for t in requests[0].tensors] == list(artefacts.graph.cut(7).tensor_names)


def test_edge_down_falls_back_locally_backs_off_and_uploads_on_return(
    peer: Any,
    artefacts: CutArtefacts,
    clock: Any,
    fomo_input: np.ndarray,
    expected: dict[str, np.ndarray],
    caplog: pytest.LogCaptureFixture,
) -> None:
    peer.start_cut = 5
    client = _client(peer, artefacts, clock)
    client.start()
    assert client.infer(fomo_input).mode is InferenceMode.SPLIT

    peer.alive = False
    calls_before = len(peer.requests)
    with caplog.at_level(logging.INFO, logger="sciot.device"):
        failed = client.infer(fomo_input)
    assert failed.mode is InferenceMode.LOCAL
    assert "unreachable" in failed.reason
    assert _same(dict(failed.outputs), expected)
    assert client.state is SessionState.BACKOFF
    assert any("running locally" in r.getMessage() for r in caplog.records)

    # During the backoff wait nothing touches the network.
    attempts: list[int] = []
    original = peer.request

    def counting(payload: bytes, *, timeout_s: float) -> bytes:
        attempts.append(len(payload))
        return original(payload, timeout_s=timeout_s)

    peer.request = counting
    for _ in range(5):
        clock.advance(0.1)
        assert client.infer(fomo_input).mode is InferenceMode.LOCAL
    assert attempts == []
    assert len(peer.requests) == calls_before
    assert client.queued == 6

    # Edge back, wait over: register again, upload the 6 offline records, split again.
    peer.alive = True
    clock.advance(1.0)
    with caplog.at_level(logging.INFO, logger="sciot.device"):
        back = client.infer(fomo_input)
    assert any("edge back after 1.5 s offline" in r.getMessage() for r in caplog.records)
    assert back.mode is InferenceMode.SPLIT
    assert _same(dict(back.outputs), expected)
    assert len(peer.records) == 6
    assert all(_same({t.name: t.array for t in r.tensors}, expected) for r in peer.records)
    stats = client.stats()
    assert (stats.inferences, stats.split, stats.local_fallbacks) == (8, 2, 6)
    assert (stats.uploaded, stats.queued, stats.lost) == (6, 0, 0)
    assert stats.registrations == 2


def test_backoff_grows_while_the_edge_stays_down(
    peer: Any, artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    client = _client(peer, artefacts, clock)
    client.start()
    peer.alive = False
    attempts_at: list[float] = []
    original = peer.request

    def counting(payload: bytes, *, timeout_s: float) -> bytes:
        attempts_at.append(clock())
        return original(payload, timeout_s=timeout_s)

    peer.request = counting
    for _ in range(300):  # 30 s of inferences every 100 ms
        client.infer(fomo_input)
        clock.advance(0.1)
    gaps = np.diff(attempts_at)
    assert len(attempts_at) < 10
    assert list(np.round(gaps[:4])) == [1.0, 2.0, 4.0, 8.0]
    assert client.stats().local_fallbacks == 300


def test_wrong_model_is_refused_clearly(
    make_peer: Callable[..., Any], artefacts: CutArtefacts, clock: Any
) -> None:
    peer = make_peer(models={"0123456789abcdef"})
    client = _client(peer, artefacts, clock)
    with pytest.raises(RegistrationRefused, match="UNKNOWN_MODEL") as info:
        client.start()
    assert artefacts.model_id in str(info.value)
    assert "cam-1" in str(info.value)
    assert info.value.exit_code == ConfigError.exit_code


def test_unreachable_at_start_is_not_an_error(
    peer: Any, artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    peer.alive = False
    client = _client(peer, artefacts, clock)
    assert client.start() is False
    assert client.infer(fomo_input).mode is InferenceMode.LOCAL


def test_forgotten_device_registers_again(
    peer: Any, artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    peer.start_cut = 3
    client = _client(peer, artefacts, clock)
    client.start()
    peer.registered.clear()  # the edge restarted and lost its registry
    first = client.infer(fomo_input)
    assert first.mode is InferenceMode.LOCAL
    assert "UNKNOWN_DEVICE" in first.reason
    assert client.state is SessionState.OFFLINE
    second = client.infer(fomo_input)  # no backoff wait needed to re-register
    assert second.mode is InferenceMode.SPLIT
    assert len(peer.records) == 1


def test_garbage_reply_falls_back_without_crashing(
    peer: Any, artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    client = _client(peer, artefacts, clock)
    client.start()
    peer.garbage = True
    outcome = client.infer(fomo_input)
    assert outcome.mode is InferenceMode.LOCAL
    assert "malformed reply" in outcome.reason


def test_full_offline_queue_counts_what_it_drops(
    peer: Any, artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    client = _client(peer, artefacts, clock, offline_queue_size=3)
    client.start()
    peer.alive = False
    for _ in range(5):
        client.infer(fomo_input)
    peer.alive = True
    clock.advance(10.0)
    assert client.flush() == 3
    assert [r.seq for r in peer.records] == [3, 4, 5]
    stats = client.stats()
    assert (stats.lost, stats.uploaded, stats.local_fallbacks) == (2, 3, 5)


def test_upload_is_batched_and_close_flushes(
    peer: Any, artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    client = _client(peer, artefacts, clock, upload_batch=4)
    client.start()
    peer.alive = False
    for _ in range(10):
        client.infer(fomo_input)
    peer.alive = True
    clock.advance(10.0)
    client.close()
    reports = [m for m in peer.requests if isinstance(m, OfflineReport)]
    assert [len(r.records) for r in reports] == [4, 4, 2]
    assert [r.seq for r in peer.records] == list(range(1, 11))


def test_int8_crossing_is_smaller_and_agrees(
    make_peer: Callable[..., Any],
    artefacts: CutArtefacts,
    clock: Any,
    fomo_input: np.ndarray,
    expected: dict[str, np.ndarray],
) -> None:
    cut = 4
    raw_peer = make_peer(start_cut=cut)
    raw = _client(raw_peer, artefacts, clock)
    raw.start()
    raw_outcome = raw.infer(fomo_input)
    int8_peer = make_peer(start_cut=cut)
    int8 = _client(int8_peer, artefacts, clock, crossing={"int8": True, "compress": True})
    int8.start()
    int8_outcome = int8.infer(fomo_input)
    assert int8_outcome.payload_bytes * 3 < raw_outcome.payload_bytes
    (name,) = expected
    got = np.asarray(int8_outcome.outputs[name])
    agreement = np.mean(got.argmax(axis=-1) == expected[name].argmax(axis=-1))
    assert agreement >= 0.99


def test_forced_local_inference_profiles_the_whole_model(
    peer: Any, artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    peer.start_cut = 2
    client = _client(
        peer,
        artefacts,
        clock,
        local_inference={"enabled": True, "probability": 1},
        report_every=1,
    )
    client.start()
    outcome = client.infer(fomo_input)
    assert outcome.mode is InferenceMode.DEVICE_ONLY
    assert outcome.cut == artefacts.num_ops
    assert peer.infer_requests() == []
    (report,) = peer.device_only_reports()
    (record,) = report.records
    assert len(record.device_op_seconds) == artefacts.num_ops


def test_computation_delay_is_slept_and_reported(
    peer: Any, artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    slept: list[float] = []
    peer.start_cut = 6
    config = _config(computation_delay={"enabled": True, "type": "static", "mean": 0.002})
    client = DeviceClient(config, peer, artefacts=artefacts, clock=clock, sleep=slept.append)
    client.start()
    outcome = client.infer(fomo_input)
    assert slept == [pytest.approx(6 * 0.002)]
    (request,) = peer.infer_requests()
    assert len(request.device_op_seconds) == 6
    assert all(s >= 0.002 for s in request.device_op_seconds)
    # The first use of a cut is profiled: measured op times plus one delay draw per op.
    assert outcome.device_s == pytest.approx(sum(request.device_op_seconds))
    assert outcome.device_s >= 6 * 0.002


def test_speed_factor_emulates_a_slower_device_the_planner_can_see(
    peer: Any, artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    slept: list[float] = []
    peer.start_cut = 6
    config = _config(speed_factor=5.0)
    client = DeviceClient(config, peer, artefacts=artefacts, clock=clock, sleep=slept.append)
    client.start()
    (register,) = [m for m in peer.requests if isinstance(m, Register)]
    assert register.profile.speed_factor == 5.0
    assert len(register.profile.op_seconds) == artefacts.num_ops
    outcome = client.infer(fomo_input)
    (request,) = peer.infer_requests()
    # The first use of a cut is profiled: each op's measured time, five times over, of which
    # four fifths were slept.
    assert len(slept) == 1 and slept[0] > 0
    assert outcome.device_s == pytest.approx(slept[0] * 5.0 / 4.0)
    assert sum(request.device_op_seconds) == pytest.approx(outcome.device_s)
    # Cut 0 runs nothing on the device, so there is nothing to slow down.
    peer.start_cut = 0
    client._adopt_cut(0)
    client.infer(fomo_input)
    assert len(slept) == 1


def test_speed_factor_below_one_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="speed_factor"):
        _config(speed_factor=0.5)


def test_unusable_cut_from_the_edge_is_ignored(
    make_peer: Callable[..., Any], artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    peer = make_peer(start_cut=3, next_cut=lambda _cut: 9999)
    client = _client(peer, artefacts, clock)
    client.start()
    client.infer(fomo_input)
    assert client.cut == 3


def test_bad_input_and_bad_initial_cut_are_clear_errors(
    peer: Any, artefacts: CutArtefacts, clock: Any
) -> None:
    client = _client(peer, artefacts, clock)
    with pytest.raises(ExecutionError, match=r"shape \(1, 96, 96, 3\)"):
        client.infer(np.zeros((1, 32, 32, 3), dtype=np.float32))
    with pytest.raises(ExecutionError, match="dtype float32"):
        client.infer(np.zeros((1, 96, 96, 3), dtype=np.float64))
    with pytest.raises(ConfigError, match="initial_cut"):
        _client(peer, artefacts, clock, initial_cut=artefacts.num_ops + 1)


def test_stats_as_dict_is_json_ready(
    peer: Any, artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    import json

    peer.start_cut = 1
    client = _client(peer, artefacts, clock)
    client.start()
    client.infer(fomo_input)
    summary = json.loads(json.dumps(client.stats().as_dict()))
    assert summary["cuts"] == {"1": 1}
    assert summary["split_inferences"] == 1
    assert summary["lost"] == 0


def test_int8_model_is_bit_exact_at_every_cut(
    make_peer: Callable[..., Any], fomo_int8_graph: ModelGraph, clock: Any
) -> None:
    from sciot.model.zoo import load_demo_input

    artefacts = CutArtefacts(fomo_int8_graph)
    data = np.asarray(load_demo_input("fomo96_int8", 0))
    want = artefacts.run_full(data)
    num_ops = artefacts.num_ops
    peer = make_peer(graph=fomo_int8_graph, next_cut=lambda cut: min(cut + 1, num_ops))
    client = _client(peer, artefacts, clock, crossing={"int8": True})
    client.start()
    for cut in range(num_ops + 1):
        outcome = client.infer(data)
        assert outcome.cut == cut
        assert _same(dict(outcome.outputs), want), f"cut {cut} differs"
    # Natively int8 tensors travel with the model's own scale and zero point.
    request = peer.infer_requests()[3]
    info = fomo_int8_graph.cut(3).tensors[0]
    assert request.tensors[0].scale == pytest.approx(info.scale[0])
    assert request.tensors[0].array.dtype == np.int8


def test_configured_initial_cut_is_used_first_then_the_edges(
    make_peer: Callable[..., Any], artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    peer = make_peer(start_cut=9, next_cut=lambda _cut: 1)
    client = _client(peer, artefacts, clock, initial_cut=0)
    client.start()
    assert client.cut == 0
    assert client.infer(fomo_input).cut == 0
    assert client.infer(fomo_input).cut == 1


def test_close_uploads_even_during_a_backoff_wait(
    peer: Any, artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    client = _client(peer, artefacts, clock)
    client.start()
    peer.alive = False
    for _ in range(3):
        client.infer(fomo_input)
    peer.alive = True  # back, but the device is still waiting out its backoff
    assert client.state is SessionState.BACKOFF
    client.close()
    assert [r.seq for r in peer.records] == [1, 2, 3]
    assert client.stats().uploaded == 3


@settings(
    max_examples=25,
    deadline=None,
    # make_peer is a factory: every example builds its own peer.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    events=st.lists(
        st.sampled_from(["infer", "infer", "infer", "down", "up", "garbage", "forget", "wait"]),
        max_size=40,
    ),
    queue_size=st.integers(min_value=1, max_value=50),
)
def test_no_inference_lost_uncounted_and_no_crash(
    make_peer: Callable[..., Any],
    artefacts: CutArtefacts,
    fomo_input: np.ndarray,
    expected: dict[str, np.ndarray],
    events: list[str],
    queue_size: int,
) -> None:
    """Whatever the edge does, every inference returns the right result, and once the edge is
    back and the device closes, every local inference was uploaded or counted as lost."""
    peer = make_peer(start_cut=6, next_cut=lambda cut: (cut * 7 + 3) % 26)
    now_s = [0.0]
    client = DeviceClient(
        _config(offline_queue_size=queue_size, upload_batch=7),
        peer,
        artefacts=artefacts,
        clock=lambda: now_s[0],
        sleep=lambda _s: None,
    )
    client.start()
    for event in events:
        now_s[0] += 0.25
        if event == "infer":
            outcome = client.infer(fomo_input)
            assert _same(dict(outcome.outputs), expected)
        elif event == "down":
            peer.alive = False
        elif event == "up":
            peer.alive, peer.garbage = True, False
        elif event == "garbage":
            peer.garbage = True
        elif event == "forget":
            peer.registered.clear()
        else:
            now_s[0] += 10.0
    peer.alive, peer.garbage = True, False
    now_s[0] += 100.0
    client.close()
    stats = client.stats()
    assert stats.inferences == events.count("infer")
    assert stats.inferences == (
        stats.split + stats.edge_only + stats.device_only + stats.local_fallbacks
    )
    assert stats.queued == 0
    assert stats.uploaded + stats.lost == stats.local_fallbacks
    assert len(peer.records) == stats.uploaded
    assert len({r.seq for r in peer.records}) == len(peer.records)


def test_failed_upload_puts_the_batch_back_in_order(
    peer: Any, artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    client = _client(peer, artefacts, clock, upload_batch=4)
    client.start()
    peer.alive = False
    for _ in range(10):  # seq 1..10, all local
        client.infer(fomo_input)
    peer.alive = True
    clock.advance(10.0)
    assert client.infer(fomo_input).mode is InferenceMode.SPLIT  # uploads 1..4 first
    peer.garbage = True
    assert client.infer(fomo_input).mode is InferenceMode.LOCAL  # upload of 5..8 fails
    assert client.queued == 7  # 5..10 put back, plus seq 12
    peer.garbage = False
    clock.advance(10.0)
    client.close()
    assert [r.seq for r in peer.records] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12]
    assert client.stats().lost == 0


def test_a_cut_sent_as_a_probe_is_profiled_on_every_inference(
    peer: Any, artefacts: CutArtefacts, clock: Any, fomo_input: np.ndarray
) -> None:
    # A probe is there to measure: its head's ops are timed one by one each time, where a
    # plain cut is profiled on its first use only (profile_fraction 0).
    peer.start_cut = 7
    probing = [True, True, False, False]
    peer.next_probe = lambda cut: probing.pop(0) if probing else False
    client = _client(peer, artefacts, clock, profile_fraction=0.0)
    client.start()
    for _ in range(5):
        client.infer(fomo_input)
    timed = [len(r.device_op_seconds) for r in peer.infer_requests()]
    # The first use is profiled; the replies to it and the next said "probe"; then not.
    assert timed == [7, 7, 7, 0, 0]
