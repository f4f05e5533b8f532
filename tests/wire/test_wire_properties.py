"""Property tests of the codec: round trips, stream re-framing, and hostile bytes."""

from __future__ import annotations

import contextlib
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sciot.errors import LocalProtocolError, RemoteProtocolError
from sciot.wire import (
    DeviceOnlyReport,
    DeviceProfile,
    ErrorCode,
    ErrorFrame,
    FrameDecoder,
    FrameTooLargeError,
    InferRequest,
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
    dequantise_int8,
    encode,
    quantise_int8,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

device_ids = st.text(min_size=1, max_size=16)
model_ids = st.text(alphabet="0123456789abcdef", min_size=16, max_size=16)
seqs = st.integers(0, 2**63 - 1)
cuts = st.integers(0, 0xFFFE)
seconds = st.floats(0.0, 1e6, allow_nan=False)
timestamps = st.floats(0.0, 1e12, allow_nan=False, allow_infinity=False)
op_seconds = st.lists(seconds, max_size=8).map(tuple)
dtypes = st.sampled_from(["float32", "int8", "uint8", "int16", "int32", "int64", "float16", "bool"])


def _zero_points(dtype: np.dtype) -> st.SearchStrategy[int]:  # type: ignore[type-arg]
    info = np.iinfo(dtype)
    return st.integers(max(int(info.min), -(2**31)), min(int(info.max), 2**31 - 1))


@st.composite
def tensors(draw: st.DrawFn) -> Tensor:
    dtype = np.dtype(draw(dtypes))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))
    array = draw(hnp.arrays(dtype, shape))
    quantised = dtype.kind in "iu" and draw(st.booleans())
    return Tensor(
        name=draw(st.text(max_size=12)),
        array=array,
        scale=draw(st.floats(1e-6, 10.0)) if quantised else 0.0,
        zero_point=draw(_zero_points(dtype)) if quantised else 0,
    )


tensor_tuples = st.lists(tensors(), max_size=3).map(tuple)
transfers = st.none() | st.builds(
    TransferSample,
    uplink_bytes=st.integers(0, 2**32 - 1),
    downlink_bytes=st.integers(0, 2**32 - 1),
    seconds=seconds,
)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    common = {"device_id": draw(device_ids), "model_id": draw(model_ids), "seq": draw(seqs)}
    common["sent_at_s"] = draw(timestamps)
    kind = draw(st.integers(0, 7))
    if kind == 0:
        profile = DeviceProfile(
            kind=draw(st.text(max_size=8)), speed_factor=draw(seconds), op_seconds=draw(op_seconds)
        )
        return Register(**common, profile=profile)
    if kind == 1:
        num_ops = draw(cuts)
        cut = draw(st.integers(0, num_ops))
        frame_bytes = draw(st.integers(1, 2**32 - 1))
        return RegisterAck(**common, num_ops=num_ops, cut=cut, max_frame_bytes=frame_bytes)
    if kind == 2:
        return InferRequest(
            **common,
            cut=draw(cuts),
            tensors=draw(tensor_tuples),
            device_seconds=draw(seconds),
            device_op_seconds=draw(op_seconds),
            last_transfer=draw(transfers),
        )
    if kind == 3:
        return InferResponse(
            **common,
            cut=draw(cuts),
            next_cut=draw(cuts),
            tensors=draw(tensor_tuples),
            edge_seconds=draw(seconds),
        )
    if kind in (4, 7):
        record = st.builds(
            OfflineRecord,
            seq=seqs,
            cut=cuts,
            started_at_s=timestamps,
            device_seconds=seconds,
            device_op_seconds=op_seconds,
            tensors=tensor_tuples,
        )
        records = tuple(draw(st.lists(record, max_size=3)))
        if kind == 7:
            return DeviceOnlyReport(**common, records=records, last_transfer=draw(transfers))
        return OfflineReport(**common, records=records)
    if kind == 5:
        return OfflineAck(**common, accepted=draw(st.integers(0, 2**32 - 1)), next_cut=draw(cuts))
    return ErrorFrame(**common, code=draw(st.sampled_from(ErrorCode)), reason=draw(st.text()))


lossless = st.sampled_from([TensorEncoding.RAW, TensorEncoding.RAW_ZLIB])


@SETTINGS
@given(messages(), lossless)
def test_round_trip_is_exact(msg: Message, encoding: TensorEncoding) -> None:
    assert decode(encode(msg, encoding=encoding)) == msg


@SETTINGS
@given(st.lists(messages(), min_size=1, max_size=4), st.integers(1, 97))
def test_stream_decoder_any_chunking_gives_same_frames(msgs: list[Message], chunk: int) -> None:
    stream = b"".join(encode(m) for m in msgs)
    for size in (1, chunk):
        decoder = FrameDecoder()
        out: list[Message] = []
        for i in range(0, len(stream), size):
            decoder.feed(stream[i : i + size])
            while (frame := decoder.next_frame()) is not None:
                out.append(frame)
        assert out == msgs
        assert decoder.buffered_bytes == 0


finite_f32 = hnp.arrays(
    np.float32,
    hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
    elements=st.floats(-1e4, 1e4, width=32),
)


@SETTINGS
@given(finite_f32, st.booleans())
def test_int8_carriage_error_is_within_half_a_step(array: np.ndarray, compress: bool) -> None:
    encoding = TensorEncoding.INT8_ZLIB if compress else TensorEncoding.INT8
    msg = InferRequest(
        device_id="d", model_id="0" * 16, seq=1, cut=1, tensors=(Tensor(name="x", array=array),)
    )
    back = decode(encode(msg, encoding=encoding))
    assert isinstance(back, InferRequest)
    got = back.tensors[0].array
    assert got.dtype == np.float32 and got.shape == array.shape
    _, scale, _ = quantise_int8(array)
    assert np.max(np.abs(got - array)) <= scale * 0.5 + 1e-3 * scale + 1e-30


def test_int8_is_four_times_smaller_and_keeps_zero_exact() -> None:
    rng = np.random.default_rng(0)
    array = np.maximum(rng.standard_normal((1, 24, 24, 16)), 0).astype(np.float32)
    raw = encode(_request(array))
    small = encode(_request(array), encoding=TensorEncoding.INT8)
    assert len(raw) / len(small) > 3.9
    payload, scale, zero_point = quantise_int8(array)
    back = dequantise_int8(payload, scale, zero_point).reshape(array.shape)
    assert np.all(back[array == 0] == 0)


def _request(array: np.ndarray) -> InferRequest:
    return InferRequest(
        device_id="d", model_id="0" * 16, seq=1, cut=1, tensors=(Tensor(name="x", array=array),)
    )


def test_quantising_nan_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError, match="NaN"):
        encode(_request(np.array([np.nan], dtype=np.float32)), encoding=TensorEncoding.INT8)


# ------------------------------------------------------------------------- hostile bytes


def _decode_or_remote_error(data: bytes, max_frame_bytes: int = 1 << 20) -> None:
    with contextlib.suppress(RemoteProtocolError):
        decode(data, max_frame_bytes=max_frame_bytes)


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_remote_protocol_error(data: bytes) -> None:
    _decode_or_remote_error(data)
    _decode_or_remote_error(b"SC\x01" + data)


@SETTINGS
@given(messages(), st.data())
def test_mutated_frames_only_raise_remote_protocol_error(msg: Message, data: st.DataObject) -> None:
    frame = bytearray(encode(msg, encoding=data.draw(lossless)))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(frame) - 1))
        frame[i] = data.draw(st.integers(0, 255))
    _decode_or_remote_error(bytes(frame))
    cut = data.draw(st.integers(0, len(frame)))
    _decode_or_remote_error(bytes(frame[:cut]))
    decoder = FrameDecoder(max_frame_bytes=1 << 20)
    try:
        decoder.feed(bytes(frame))
        while decoder.next_frame() is not None:
            pass
    except RemoteProtocolError:
        with pytest.raises(RemoteProtocolError):  # the stream stays failed
            decoder.next_frame()


def _valid() -> bytes:
    return encode(_request(np.arange(6, dtype=np.float32)))


def test_unknown_version_is_named() -> None:
    frame = bytearray(_valid())
    frame[2] = 9
    with pytest.raises(RemoteProtocolError, match="unsupported wire version 9"):
        decode(bytes(frame))


def test_unknown_type_is_named() -> None:
    frame = bytearray(_valid())
    frame[3] = 200
    with pytest.raises(RemoteProtocolError, match="unknown message type 200"):
        decode(bytes(frame))


def test_oversized_frame_is_refused_before_reading_it() -> None:
    frame = _valid()
    with pytest.raises(FrameTooLargeError, match="max_frame_bytes=64"):
        decode(frame, max_frame_bytes=64)
    decoder = FrameDecoder(max_frame_bytes=64)
    decoder.feed(frame[:8])  # the prefix alone is enough to refuse
    with pytest.raises(FrameTooLargeError):
        decoder.next_frame()


def test_length_mismatch_and_trailing_bytes() -> None:
    frame = _valid()
    with pytest.raises(RemoteProtocolError, match="header says"):
        decode(frame + b"\0")
    with pytest.raises(RemoteProtocolError, match="header says"):
        decode(frame[:-1])


def test_zip_bomb_is_refused() -> None:
    huge = np.zeros((4096, 4096), dtype=np.float32)  # 64 MiB, a few KiB compressed
    frame = encode(_request(huge), encoding=TensorEncoding.RAW_ZLIB)
    assert len(frame) < 400_000
    with pytest.raises(FrameTooLargeError, match="decode to more than"):
        decode(frame, max_frame_bytes=1 << 20)


def test_corrupt_zlib_payload() -> None:
    frame = bytearray(
        encode(_request(np.arange(64, dtype=np.float32)), encoding=TensorEncoding.RAW_ZLIB)
    )
    compressed = zlib.compress(np.arange(64, dtype=np.float32).tobytes(), 1)
    start = bytes(frame).index(compressed)
    frame[start + 2] ^= 0xFF
    with pytest.raises(RemoteProtocolError, match="zlib"):
        decode(bytes(frame))


def test_junk_stream_fails_fast() -> None:
    decoder = FrameDecoder()
    decoder.feed(b"GE")
    with pytest.raises(RemoteProtocolError, match="not a sciot frame"):
        decoder.next_frame()


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Register(device_id="", model_id="0" * 16), "device_id"),
        (lambda: Register(device_id="d", model_id="XYZ"), "model_id"),
        (
            lambda: RegisterAck(
                device_id="d", model_id="0" * 16, num_ops=3, cut=4, max_frame_bytes=9
            ),
            "cut",
        ),
        (lambda: InferRequest(device_id="d", model_id="0" * 16, seq=-1, cut=0, tensors=()), "seq"),
        (lambda: Tensor(name="x", array=np.zeros(2, dtype=np.complex64)), "dtype"),
        (lambda: TransferSample(uplink_bytes=-1, downlink_bytes=0, seconds=0.0), "uplink_bytes"),
        (lambda: DeviceProfile(op_seconds=(float("nan"),)), "op_seconds"),
    ],
)
def test_invalid_messages_cannot_be_built(build: object, match: str) -> None:
    with pytest.raises(LocalProtocolError, match=match):
        build()  # type: ignore[operator]


def test_parse_encoding_names_choices() -> None:
    assert TensorEncoding.parse("int8+zlib") is TensorEncoding.INT8_ZLIB
    with pytest.raises(LocalProtocolError, match="raw, int8"):
        TensorEncoding.parse("gzip")
