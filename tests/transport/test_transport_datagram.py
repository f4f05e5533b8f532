"""The UDP fragment codec and reassembler (sans-I/O): layout, checks, loss reports, bounds."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sciot.transport._datagram import (
    FLAG_END_OF_BURST,
    HEADER_BYTES,
    DatagramError,
    DatagramKind,
    Reassembler,
    decode_fragment,
    fragments,
    missing_from_bitmap,
    nack,
)

MAX = 1 << 22


def _reassemble(datagrams: list[bytes]) -> bytes | None:
    r = Reassembler(max_frame_bytes=MAX)
    out = None
    for d in datagrams:
        progress = r.add("peer", decode_fragment(d, max_frame_bytes=MAX), 0.0)
        if progress.frame is not None:
            out = progress.frame
    return out


@settings(max_examples=60, deadline=None)
@given(
    frame=st.binary(min_size=1, max_size=20_000),
    size=st.integers(min_value=HEADER_BYTES + 1, max_value=3000),
    order=st.randoms(use_true_random=False),
)
def test_any_frame_survives_fragmentation_in_any_order(frame: bytes, size: int, order) -> None:  # type: ignore[no-untyped-def]
    datagrams = fragments(DatagramKind.REQUEST, 7, frame, max_datagram_bytes=size)
    assert all(len(d) <= size for d in datagrams)
    order.shuffle(datagrams)
    assert _reassemble(datagrams + datagrams[:1]) == frame


def test_only_the_last_fragment_of_a_burst_is_flagged() -> None:
    datagrams = fragments(DatagramKind.REPLY, 1, b"x" * 5000, max_datagram_bytes=1000)
    flags = [decode_fragment(d, max_frame_bytes=MAX).flags for d in datagrams]
    assert flags == [0] * (len(datagrams) - 1) + [FLAG_END_OF_BURST]
    again = fragments(DatagramKind.REPLY, 1, b"x" * 5000, max_datagram_bytes=1000, indices=[1, 3])
    decoded = [decode_fragment(d, max_frame_bytes=MAX) for d in again]
    assert [f.index for f in decoded] == [1, 3]
    assert [f.flags for f in decoded] == [0, FLAG_END_OF_BURST]


def test_the_end_of_a_burst_reports_what_is_missing() -> None:
    datagrams = fragments(DatagramKind.REQUEST, 9, bytes(range(256)) * 40, max_datagram_bytes=524)
    r = Reassembler(max_frame_bytes=MAX)
    for i, d in enumerate(datagrams):
        if i in (2, 5):
            continue  # lost
        progress = r.add("peer", decode_fragment(d, max_frame_bytes=MAX), 0.0)
    assert progress.frame is None and progress.missing == [2, 5]
    report = decode_fragment(
        nack(DatagramKind.REQUEST_NACK, 9, 10240, progress.missing, len(datagrams)),
        max_frame_bytes=MAX,
    )
    assert missing_from_bitmap(report) == [2, 5]
    for i in (2, 5):
        progress = r.add("peer", decode_fragment(datagrams[i], max_frame_bytes=MAX), 0.0)
    assert progress.frame == bytes(range(256)) * 40


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d[:10], "shorter than its header"),
        (lambda d: b"XX" + d[2:], "not a sciot datagram"),
        (lambda d: d[:2] + b"\x09" + d[3:], "version"),
        (lambda d: d[:-1] + bytes([d[-1] ^ 1]), "CRC"),
        (lambda d: d + b"\x00", "header says"),
    ],
)
def test_broken_datagrams_are_refused_with_the_reason(mutate, match: str) -> None:  # type: ignore[no-untyped-def]
    (datagram,) = fragments(DatagramKind.REQUEST, 1, b"hello frame", max_datagram_bytes=1000)
    with pytest.raises(DatagramError, match=match):
        decode_fragment(mutate(datagram), max_frame_bytes=MAX)


def test_impossible_geometry_and_oversized_frames_are_refused() -> None:
    (datagram,) = fragments(DatagramKind.REQUEST, 1, b"a" * 100, max_datagram_bytes=1000)
    with pytest.raises(DatagramError, match="exceeds the limit"):
        decode_fragment(datagram, max_frame_bytes=99)
    # A fragment that claims index 3 of 2: re-sign it so only the geometry is wrong.
    from sciot.transport._datagram import Fragment, encode_fragment

    bad = encode_fragment(Fragment(DatagramKind.REQUEST, 1, 100, 3, 2, 0, b"a" * 50))
    with pytest.raises(DatagramError, match="impossible"):
        decode_fragment(bad, max_frame_bytes=MAX)
    short = encode_fragment(Fragment(DatagramKind.REQUEST, 1, 100, 0, 2, 0, b"a" * 10))
    with pytest.raises(DatagramError, match="needs 50"):
        decode_fragment(short, max_frame_bytes=MAX)


def test_fragments_that_disagree_drop_the_message() -> None:
    r = Reassembler(max_frame_bytes=MAX)
    a = fragments(DatagramKind.REQUEST, 1, b"a" * 3000, max_datagram_bytes=1024)
    b = fragments(DatagramKind.REQUEST, 1, b"b" * 5000, max_datagram_bytes=1024)
    r.add("p", decode_fragment(a[0], max_frame_bytes=MAX), 0.0)
    with pytest.raises(DatagramError, match="disagrees"):
        r.add("p", decode_fragment(b[1], max_frame_bytes=MAX), 0.0)
    assert r.partial_messages == 0


def test_partial_messages_are_bounded_and_expire() -> None:
    r = Reassembler(max_frame_bytes=MAX, max_partial=8, timeout_s=1.0)
    for message_id in range(100):  # a storm of first fragments that never complete
        (first, *_rest) = fragments(DatagramKind.REQUEST, message_id, b"z" * 4000)
        r.add(("p", message_id), decode_fragment(first, max_frame_bytes=MAX), 0.0)
    assert r.partial_messages == 8
    assert r.evicted == 92
    (first, *_rest) = fragments(DatagramKind.REQUEST, 1000, b"z" * 4000)
    r.add("late", decode_fragment(first, max_frame_bytes=MAX), 2.0)
    assert r.partial_messages == 1
    assert r.expired == 8


def test_a_frame_needing_too_many_fragments_is_refused_at_the_sender() -> None:
    with pytest.raises(DatagramError, match="raise the datagram size"):
        fragments(DatagramKind.REQUEST, 1, b"x" * 70_000, max_datagram_bytes=HEADER_BYTES + 1)
    header = struct.unpack_from("<2sBB", fragments(DatagramKind.REQUEST, 1, b"x")[0])
    assert header == (b"SD", 1, 1)
