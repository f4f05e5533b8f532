"""Values a frame can carry but a receiver cannot use are refused at decode time.

Each case encodes a valid message, overwrites one field's bytes with an out-of-range value (a
sequence number a signed 64-bit column cannot hold, a corrupt clock, int8 carriage parameters
that would restore garbage or overflow float32) and expects a one-line ``RemoteProtocolError``
naming the field, never a message that fails later where it is stored or computed with.
"""

from __future__ import annotations

import struct
import warnings
from dataclasses import replace

import numpy as np
import pytest

from sciot.errors import LocalProtocolError, RemoteProtocolError
from sciot.wire import (
    FLAG_PROBE,
    DeviceOnlyReport,
    DeviceProfile,
    InferRequest,
    InferResponse,
    OfflineAck,
    OfflineRecord,
    Register,
    RegisterAck,
    Tensor,
    TensorEncoding,
    decode,
    dequantise_int8,
    encode,
    quantise_int8,
)

MODEL = "0123456789abcdef"
_SEQ_AT = 8  # header offsets (docs/wire.md)
_SENT_AT = 28


def _patch(frame: bytes, offset: int, raw: bytes) -> bytes:
    return frame[:offset] + raw + frame[offset + len(raw) :]


def _replace_once(frame: bytes, old: bytes, new: bytes) -> bytes:
    assert frame.count(old) == 1, "sentinel must occur exactly once"
    return frame.replace(old, new)


def _report(started_at_s: float = 1234.5, seq: int = 777) -> bytes:
    record = OfflineRecord(seq=seq, cut=3, started_at_s=started_at_s, device_seconds=0.25)
    return encode(DeviceOnlyReport(device_id="cam-1", model_id=MODEL, seq=5, records=(record,)))


@pytest.mark.parametrize("seq", [2**63, 2**64 - 1])
def test_header_seq_beyond_a_signed_64_bit_integer_is_refused(seq: int) -> None:
    frame = _patch(encode(Register(device_id="d", model_id=MODEL)), _SEQ_AT, struct.pack("<Q", seq))
    with pytest.raises(RemoteProtocolError, match=r"seq .* outside 0\.\.2\*\*63-1"):
        decode(frame)


def test_largest_signed_seq_still_travels() -> None:
    back = decode(encode(Register(device_id="d", model_id=MODEL, seq=2**63 - 1)))
    assert back.seq == 2**63 - 1


def test_record_seq_beyond_a_signed_64_bit_integer_is_refused() -> None:
    frame = _replace_once(_report(), struct.pack("<Q", 777), struct.pack("<Q", 2**63))
    with pytest.raises(RemoteProtocolError, match="offline record seq"):
        decode(frame)


@pytest.mark.parametrize("value", [-1.0, -1e-300, float("nan"), float("inf"), float("-inf")])
def test_corrupt_record_clock_is_refused(value: float) -> None:
    frame = _replace_once(_report(), struct.pack("<d", 1234.5), struct.pack("<d", value))
    with pytest.raises(RemoteProtocolError, match="started_at_s must be finite seconds >= 0"):
        decode(frame)


@pytest.mark.parametrize("value", [-5.0, float("nan"), float("inf")])
def test_corrupt_header_clock_is_refused(value: float) -> None:
    frame = _patch(
        encode(Register(device_id="d", model_id=MODEL)), _SENT_AT, struct.pack("<d", value)
    )
    with pytest.raises(RemoteProtocolError, match="sent_at_s"):
        decode(frame)


def _carried() -> tuple[bytes, bytes]:
    """An int8-carried request and its (scale, zero point) bytes as they sit in the frame."""
    array = np.linspace(-1.0, 3.0, 16, dtype=np.float32)
    _, scale, zero_point = quantise_int8(array)
    msg = InferRequest(
        device_id="d", model_id=MODEL, seq=1, cut=1, tensors=(Tensor(name="x", array=array),)
    )
    return encode(msg, encoding=TensorEncoding.INT8), struct.pack("<di", scale, zero_point)


@pytest.mark.parametrize(
    ("scale", "zero_point", "match"),
    [
        (0.0, 0, "scale"),
        (-0.5, 0, "scale"),
        (float("nan"), 0, "scale"),
        (float("inf"), 0, "scale"),
        (1e300, 0, "scale"),  # overflows float32
        (1e37, 0, "scale"),  # fits float32, but 255 steps of it do not
        (1e-50, 0, "scale"),  # rounds to 0 in float32
        (0.1, 128, "zero point 128"),
        (0.1, -129, "zero point -129"),
        (0.1, 2**31 - 1, "zero point"),
    ],
)
def test_insane_int8_carriage_is_refused_without_overflow(
    scale: float, zero_point: int, match: str
) -> None:
    frame, params = _carried()
    bad = _replace_once(frame, params, struct.pack("<di", scale, zero_point))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow in the cast would be a RuntimeWarning
        with pytest.raises(RemoteProtocolError, match=match):
            decode(bad)


def test_sane_int8_carriage_at_the_scale_bound_restores_finite_values() -> None:
    q = np.array([-128, 127], dtype=np.int8).tobytes()
    from sciot.wire._tensor import MAX_INT8_SCALE

    restored = dequantise_int8(q, MAX_INT8_SCALE, 127)
    assert np.all(np.isfinite(restored))


def _native(dtype: str, scale: float, zero_point: int) -> bytes:
    """A natively quantised tensor frame, built valid and then patched."""
    tensor = Tensor(name="q", array=np.zeros(4, dtype=dtype), scale=0.5, zero_point=0)
    frame = encode(InferRequest(device_id="d", model_id=MODEL, seq=1, cut=1, tensors=(tensor,)))
    return _replace_once(frame, struct.pack("<di", 0.5, 0), struct.pack("<di", scale, zero_point))


@pytest.mark.parametrize(
    ("dtype", "scale", "zero_point", "match"),
    [
        ("int8", -1.0, 0, "scale must be finite and >= 0"),
        ("int8", float("nan"), 0, "scale"),
        ("int8", 0.5, 200, "zero point 200 outside -128..127"),
        ("uint8", 0.5, -1, "zero point -1 outside 0..255"),
        ("int16", 0.5, 40000, "zero point 40000"),
    ],
)
def test_native_quantisation_outside_the_dtype_is_refused(
    dtype: str, scale: float, zero_point: int, match: str
) -> None:
    with pytest.raises(RemoteProtocolError, match=match):
        decode(_native(dtype, scale, zero_point))


def test_model_quantisation_in_range_travels_unchanged() -> None:
    tensor = Tensor(name="q", array=np.zeros(4, dtype=np.uint8), scale=0.0039, zero_point=255)
    back = decode(
        encode(InferRequest(device_id="d", model_id=MODEL, seq=1, cut=1, tensors=(tensor,)))
    )
    assert isinstance(back, InferRequest) and back.tensors[0] == tensor


@pytest.mark.parametrize(
    "build",
    [
        lambda: Register(device_id="\ud800", model_id=MODEL),
        lambda: Register(device_id="d", model_id=MODEL, profile=DeviceProfile(kind="\udcff")),
        lambda: Tensor(name="\ud800", array=np.zeros(1, dtype=np.float32)),
        lambda: OfflineRecord(seq=2**63, cut=0, started_at_s=0.0, device_seconds=0.0),
        lambda: OfflineRecord(seq=0, cut=0, started_at_s=-1.0, device_seconds=0.0),
        lambda: Register(device_id="d", model_id=MODEL, sent_at_s=float("nan")),
    ],
)
def test_a_sender_cannot_build_what_a_receiver_refuses(build: object) -> None:
    with pytest.raises(LocalProtocolError):
        build()  # type: ignore[operator]


def test_a_tensor_too_wide_for_int8_carriage_is_refused_at_the_sender() -> None:
    huge = np.array([-3e38, 3e38], dtype=np.float32)
    with pytest.raises(LocalProtocolError, match="too wide"):
        quantise_int8(huge)


@pytest.mark.parametrize("value", [1e300, 1.7e308, 1e6 * 1.5])
def test_implausibly_long_durations_are_refused(value: float) -> None:
    record = OfflineRecord(seq=1, cut=3, started_at_s=1.0, device_seconds=0.125)
    report = encode(DeviceOnlyReport(device_id="d", model_id=MODEL, records=(record,)))
    frame = _replace_once(report, struct.pack("<d", 0.125), struct.pack("<d", value))
    with pytest.raises(
        RemoteProtocolError, match=r"device_seconds must be finite, >= 0 and <= 1e\+06"
    ):
        decode(frame)
    profile = DeviceProfile(op_seconds=(0.125, 0.25))
    register = encode(Register(device_id="d", model_id=MODEL, profile=profile))
    frame = _replace_once(register, struct.pack("<d", 0.25), struct.pack("<d", value))
    with pytest.raises(RemoteProtocolError, match="op_seconds"):
        decode(frame)


_FLAGS_AT = 26


def test_the_probe_bit_travels_on_inference_frames_and_the_replies_with_a_cut_only() -> None:
    """Header flag bit 2 (docs/wire.md, "Probe bit"): set from the message's field, read back
    into it, and refused on every other type; frames without it are unchanged."""
    t = Tensor(name="x", array=np.zeros(3, np.float32))
    flagged = (
        InferRequest(device_id="d", model_id=MODEL, seq=1, cut=3, tensors=(t,), alongside=True),
        InferResponse(
            device_id="d", model_id=MODEL, seq=1, cut=3, next_cut=5, tensors=(t,), next_probe=True
        ),
        OfflineAck(device_id="d", model_id=MODEL, accepted=1, next_cut=4, next_probe=True),
        RegisterAck(
            device_id="d", model_id=MODEL, num_ops=9, cut=4, max_frame_bytes=99, probe=True
        ),
    )
    for message in flagged:
        frame = encode(message)
        assert struct.unpack_from("<H", frame, _FLAGS_AT)[0] == FLAG_PROBE
        assert decode(frame) == message
        plain = encode(replace(message, **{_probe_field(message): False}))
        assert struct.unpack_from("<H", plain, _FLAGS_AT)[0] == 0
        assert plain == _patch(frame, _FLAGS_AT, b"\x00\x00")
    register = encode(Register(device_id="d", model_id=MODEL))
    with pytest.raises(RemoteProtocolError, match="reserved header flags"):
        decode(_patch(register, _FLAGS_AT, struct.pack("<H", FLAG_PROBE)))


def _probe_field(message: object) -> str:
    if isinstance(message, RegisterAck):
        return "probe"
    return "alongside" if isinstance(message, InferRequest) else "next_probe"
