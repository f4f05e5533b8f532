"""Device tokens at the frame router: the two impersonation attacks replayed against a victim.

Attack 1 sends fake timings, device-only and offline reports under the victim's id; attack 2
re-registers the victim's id (under another served model, and under the same one). With
tokens on, every such frame is refused with UNAUTHORIZED, and the victim's counters, planner
state and telemetry are exactly what its own frames made them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from edge_testkit import Fomo, edge_config

from sciot.edge import EdgeApp, TokenStore, build_edge
from sciot.model import load_model
from sciot.model.zoo import demo_model_path
from sciot.wire import (
    DeviceOnlyReport,
    ErrorCode,
    ErrorFrame,
    InferResponse,
    Message,
    OfflineRecord,
    OfflineReport,
    Register,
    RegisterAck,
    decode,
    encode,
    sign_frame,
)

VICTIM, MALLORY = "cam-victim", "cam-mallory"


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[EdgeApp, dict[str, bytes], Path]]:
    tokens = tmp_path / "tokens.json"
    store = TokenStore(tokens)
    issued = {VICTIM: store.create(VICTIM), MALLORY: store.create(MALLORY)}
    config = edge_config(
        tmp_path,
        models=[{"demo": "fomo96"}, {"demo": "fomo96_int8"}],
        auth={"mode": "tokens", "token_file": str(tokens)},
    )
    app = build_edge(config)
    yield app, issued, tokens
    if app.core.telemetry is not None:
        app.core.telemetry.close()


def _send(app: EdgeApp, msg: Message, token: bytes | None, now_s: float = 1000.0) -> Message:
    frame = encode(msg)
    if token is not None:
        frame = sign_frame(frame, token)
    reply = app.core.handle_frame(frame, now_s, transport="tcp")
    return decode(reply.frame)


def _refused(reply: Message) -> bool:
    return isinstance(reply, ErrorFrame) and reply.code is ErrorCode.UNAUTHORIZED


def _telemetry_rows(app: EdgeApp) -> int:
    assert app.core.telemetry is not None
    counts = app.core.telemetry.counts()
    return counts.written_rows + counts.pending_rows + counts.dropped_rows


def _victim_view(app: EdgeApp) -> dict[str, object]:
    (stats,) = [s for s in app.core.stats() if s.device_id == VICTIM]
    record = app.core.devices[VICTIM]
    return {
        "stats": stats,
        "registered_at_s": record.registered_at_s,
        "model": record.model.model_id,
        "next_cut": record.next_cut,
    }


def _records(count: int, cut: int) -> tuple[OfflineRecord, ...]:
    return tuple(
        OfflineRecord(seq=i, cut=cut, started_at_s=999.0, device_seconds=0.0001)
        for i in range(count)
    )


def test_both_impersonation_attacks_leave_the_victim_untouched(
    secured: tuple[EdgeApp, dict[str, bytes], Path], fomo: Fomo
) -> None:
    app, issued, _ = secured
    model_id, n = fomo.graph.model_id, fomo.graph.num_ops
    other_model = load_model(demo_model_path("fomo96_int8")).model_id
    token = issued[VICTIM]
    assert isinstance(_send(app, Register(device_id=VICTIM, model_id=model_id), token), RegisterAck)
    for seq in range(1, 21):
        reply = _send(app, fomo.request(n - 1, device_id=VICTIM, seq=seq), token)
        assert isinstance(reply, InferResponse), reply
    app.core.plan_pending()
    before, rows_before = _victim_view(app), _telemetry_rows(app)
    assert before["stats"].inferences == 20  # type: ignore[attr-defined]
    assert before["stats"].transport == "tcp"  # type: ignore[attr-defined]

    fake_infer = fomo.request(n - 1, device_id=VICTIM, seq=500)
    fake_only = DeviceOnlyReport(device_id=VICTIM, model_id=model_id, records=_records(264, n))
    fake_offline = OfflineReport(device_id=VICTIM, model_id=model_id, records=_records(64, n))
    attacks: list[tuple[Message, bytes | None]] = []
    # Attack 1: fake timings and reports, unsigned, signed with another device's token, and
    # signed with a token of the right size that nobody issued.
    for forged in (None, issued[MALLORY], os.urandom(32)):
        attacks += [(fake_infer, forged), (fake_only, forged), (fake_offline, forged)]
    # Attack 2: re-register the victim's id under another served model, and under its own.
    for forged in (None, issued[MALLORY], os.urandom(32)):
        attacks += [
            (Register(device_id=VICTIM, model_id=other_model), forged),
            (Register(device_id=VICTIM, model_id=model_id), forged),
        ]
    refused = sum(_refused(_send(app, msg, forged)) for msg, forged in attacks)

    assert refused == len(attacks) == 15
    assert app.core.plan_pending() == 0  # nothing reached the planner
    assert _victim_view(app) == before  # counters, registration, model and cut unchanged
    assert _telemetry_rows(app) == rows_before
    assert app.core.rejected.get("unauthorized") == 15
    # The victim carries on as if nothing happened: same registration, next frame accepted.
    assert isinstance(
        _send(app, fomo.request(n - 1, device_id=VICTIM, seq=21), token), InferResponse
    )
    assert app.core.devices[VICTIM].inferences == 21


def test_unknown_device_and_missing_token_are_refused_with_a_reason(
    secured: tuple[EdgeApp, dict[str, bytes], Path], fomo: Fomo
) -> None:
    app, _, _ = secured
    model_id = fomo.graph.model_id
    stranger = _send(app, Register(device_id="cam-stranger", model_id=model_id), os.urandom(32))
    assert _refused(stranger) and "no token" in stranger.reason  # type: ignore[union-attr]
    bare = _send(app, Register(device_id=VICTIM, model_id=model_id), None)
    assert _refused(bare) and "requires device tokens" in bare.reason  # type: ignore[union-attr]
    assert "cam-stranger" not in app.core.devices and VICTIM not in app.core.devices


def test_a_revoked_device_is_refused_within_the_reload_interval(
    secured: tuple[EdgeApp, dict[str, bytes], Path], fomo: Fomo
) -> None:
    app, issued, tokens = secured
    token, n = issued[VICTIM], fomo.graph.num_ops
    ack = _send(app, Register(device_id=VICTIM, model_id=fomo.graph.model_id), token, 1000.0)
    assert isinstance(ack, RegisterAck)
    assert TokenStore(tokens).revoke(VICTIM)
    # The store is re-read at most once a second: two seconds later the key is gone.
    late = _send(app, fomo.request(n - 1, device_id=VICTIM, seq=2), token, 1002.0)
    assert _refused(late) and "unknown or revoked" in late.reason  # type: ignore[union-attr]
    again = _send(app, Register(device_id=VICTIM, model_id=fomo.graph.model_id), token, 1003.0)
    assert _refused(again)


def test_development_mode_accepts_signed_and_unsigned_frames(tmp_path: Path, fomo: Fomo) -> None:
    app = build_edge(edge_config(tmp_path))
    try:
        model_id, n = fomo.graph.model_id, fomo.graph.num_ops
        signed = sign_frame(encode(Register(device_id=VICTIM, model_id=model_id)), os.urandom(32))
        assert isinstance(decode(app.core.handle_frame(signed, 1.0).frame), RegisterAck)
        reply = app.core.handle_frame(encode(fomo.request(n, device_id=VICTIM)), 1.0)
        assert isinstance(decode(reply.frame), InferResponse)
        assert app.core.stats()[0].transport == ""  # no transport named, none recorded
    finally:
        assert app.core.telemetry is not None
        app.core.telemetry.close()


def test_a_tampered_or_truncated_signed_frame_is_refused(
    secured: tuple[EdgeApp, dict[str, bytes], Path], fomo: Fomo
) -> None:
    app, issued, _ = secured
    token, n = issued[VICTIM], fomo.graph.num_ops
    assert isinstance(
        _send(app, Register(device_id=VICTIM, model_id=fomo.graph.model_id), token), RegisterAck
    )
    signed = bytearray(sign_frame(encode(fomo.request(n, device_id=VICTIM, seq=7)), token))
    assert isinstance(decode(app.core.handle_frame(bytes(signed), 1000.0).frame), InferResponse)
    signed[-20] ^= 0x01  # one bit of the last tensor payload: the tag no longer matches
    assert _refused(decode(app.core.handle_frame(bytes(signed), 1000.0).frame))
    register = sign_frame(encode(Register(device_id=VICTIM, model_id=fomo.graph.model_id)), token)
    short = bytearray(register[:40])
    short[4:8] = (40).to_bytes(4, "little")
    reply = decode(app.core.handle_frame(bytes(short), 1000.0).frame)
    assert isinstance(reply, ErrorFrame) and reply.code is ErrorCode.MALFORMED
    assert app.core.devices[VICTIM].inferences == 1
