"""Bytes <-> messages: the sans-I/O codec of wire format version 1 (layout in docs/wire.md).

:func:`encode` turns a message into one frame; :func:`decode` turns exactly one frame back,
checking every length against the header and against ``max_frame_bytes`` before allocating.
:class:`FrameDecoder` serves stream transports: feed it whatever ``recv`` returned and take
complete frames out. Anything a peer can send that breaks the format raises
:class:`~sciot.errors.RemoteProtocolError` (or its subclass :class:`FrameTooLargeError`), and
nothing else; asking to encode something unrepresentable raises
:class:`~sciot.errors.LocalProtocolError`.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from sciot.errors import LocalProtocolError, RemoteProtocolError
from sciot.wire._messages import (
    DeviceOnlyReport,
    DeviceProfile,
    ErrorCode,
    ErrorFrame,
    InferRequest,
    InferResponse,
    Message,
    OfflineAck,
    OfflineRecord,
    OfflineReport,
    Register,
    RegisterAck,
    TransferSample,
)
from sciot.wire._tensor import (
    CODE_DTYPES,
    CODE_OF_DTYPE,
    MAX_NDIM,
    Tensor,
    TensorEncoding,
    dequantise_int8,
    quantise_int8,
)

MAGIC = b"SC"
VERSION = 1
DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024
ZLIB_LEVEL = 1  # fastest: activations are small and latency matters more than the last byte
NO_CUT = 0xFFFF

# magic, version, type, frame_bytes, seq, model id, cut, flags, sent_at_s, device id length
_HEADER = struct.Struct("<2sBBIQ8sHHdB")
HEADER_BYTES = _HEADER.size  # 37, plus the device id
_PREFIX_BYTES = 8  # magic + version + type + frame_bytes: enough to know a frame's length

_FLAG_INT8 = 0x01
_FLAG_ZLIB = 0x02

_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_F64 = struct.Struct("<d")
_TENSOR_HEAD = struct.Struct("<BBB")  # dtype, flags, ndim
_TENSOR_QUANT = struct.Struct("<diI")  # scale, zero point, payload bytes
_TRANSFER = struct.Struct("<IId")
_RECORD_HEAD = struct.Struct("<QHdd")


class FrameTooLargeError(RemoteProtocolError):
    """A frame (or the tensors it would decompress to) exceeds the configured bound."""


class MessageType:
    """Wire codes of the message types (one byte in the header)."""

    REGISTER = 1
    REGISTER_ACK = 2
    INFER_REQUEST = 3
    INFER_RESPONSE = 4
    OFFLINE_REPORT = 5
    OFFLINE_ACK = 6
    ERROR = 7
    DEVICE_ONLY_REPORT = 8


_TYPE_OF: dict[type, int] = {
    Register: MessageType.REGISTER,
    RegisterAck: MessageType.REGISTER_ACK,
    InferRequest: MessageType.INFER_REQUEST,
    InferResponse: MessageType.INFER_RESPONSE,
    OfflineReport: MessageType.OFFLINE_REPORT,
    OfflineAck: MessageType.OFFLINE_ACK,
    ErrorFrame: MessageType.ERROR,
    DeviceOnlyReport: MessageType.DEVICE_ONLY_REPORT,
}


# --------------------------------------------------------------------------------- encoding


def _put_str(out: bytearray, text: str, length_format: struct.Struct) -> None:
    raw = text.encode("utf-8")
    out += length_format.pack(len(raw))
    out += raw


def _put_seconds(out: bytearray, values: tuple[float, ...]) -> None:
    out += _U16.pack(len(values))
    out += struct.pack(f"<{len(values)}d", *values)


def _tensor_payload(tensor: Tensor, encoding: TensorEncoding) -> tuple[int, float, int, bytes]:
    array = tensor.array
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    flags = 0
    scale, zero_point = tensor.scale, tensor.zero_point
    if encoding.quantised and array.dtype == np.float32 and scale == 0.0:
        payload, scale, zero_point = quantise_int8(array.astype(np.float32, copy=False))
        flags |= _FLAG_INT8
    else:
        payload = np.ascontiguousarray(array).tobytes()
    if encoding.compressed:
        payload = zlib.compress(payload, ZLIB_LEVEL)
        flags |= _FLAG_ZLIB
    return flags, scale, zero_point, payload


def _put_tensors(out: bytearray, tensors: tuple[Tensor, ...], encoding: TensorEncoding) -> None:
    if len(tensors) > 0xFFFF:
        raise LocalProtocolError(f"{len(tensors)} tensors in one message, at most 65535")
    out += _U16.pack(len(tensors))
    for tensor in tensors:
        flags, scale, zero_point, payload = _tensor_payload(tensor, encoding)
        _put_str(out, tensor.name, _U16)
        shape = tensor.array.shape
        out += _TENSOR_HEAD.pack(CODE_OF_DTYPE[tensor.array.dtype], flags, len(shape))
        if any(d >= 2**32 for d in shape):
            raise LocalProtocolError(f"tensor {tensor.name!r}: dimension >= 2**32")
        out += struct.pack(f"<{len(shape)}I", *shape)
        if not math.isfinite(scale) or not -(2**31) <= zero_point < 2**31:
            raise LocalProtocolError(f"tensor {tensor.name!r}: bad quantisation parameters")
        out += _TENSOR_QUANT.pack(scale, zero_point, len(payload))
        out += payload


def _put_transfer(out: bytearray, transfer: TransferSample | None) -> None:
    if transfer is None:
        out += _U8.pack(0)
    else:
        t = transfer
        out += _U8.pack(1) + _TRANSFER.pack(t.uplink_bytes, t.downlink_bytes, t.seconds)


def _put_records(
    out: bytearray, records: tuple[OfflineRecord, ...], encoding: TensorEncoding
) -> None:
    out += _U16.pack(len(records))
    for r in records:
        out += _RECORD_HEAD.pack(r.seq, r.cut, r.started_at_s, r.device_seconds)
        _put_seconds(out, r.device_op_seconds)
        _put_tensors(out, r.tensors, encoding)


def _body(msg: Message, encoding: TensorEncoding) -> bytearray:
    out = bytearray()
    if isinstance(msg, InferRequest):
        out += _F64.pack(msg.device_seconds)
        _put_seconds(out, msg.device_op_seconds)
        _put_transfer(out, msg.last_transfer)
        _put_tensors(out, msg.tensors, encoding)
    elif isinstance(msg, InferResponse):
        out += _U16.pack(msg.next_cut) + _F64.pack(msg.edge_seconds)
        _put_tensors(out, msg.tensors, encoding)
    elif isinstance(msg, Register):
        _put_str(out, msg.profile.kind, _U8)
        out += _F64.pack(msg.profile.speed_factor)
        _put_seconds(out, msg.profile.op_seconds)
    elif isinstance(msg, RegisterAck):
        out += _U16.pack(msg.num_ops) + _U32.pack(msg.max_frame_bytes)
    elif isinstance(msg, OfflineReport):
        _put_records(out, msg.records, encoding)
    elif isinstance(msg, DeviceOnlyReport):
        _put_transfer(out, msg.last_transfer)
        _put_records(out, msg.records, encoding)
    elif isinstance(msg, OfflineAck):
        out += _U32.pack(msg.accepted) + _U16.pack(msg.next_cut)
    else:
        out += _U16.pack(int(msg.code))
        _put_str(out, msg.reason, _U16)
    return out


def _header_cut(msg: Message) -> int:
    if isinstance(msg, InferRequest | InferResponse | RegisterAck):
        return msg.cut
    return NO_CUT


def encode(msg: Message, *, encoding: TensorEncoding = TensorEncoding.RAW) -> bytes:
    """One frame for ``msg``; ``encoding`` says how float32 tensors travel."""
    msg_type = _TYPE_OF.get(type(msg))
    if msg_type is None:
        raise LocalProtocolError(f"cannot encode {type(msg).__name__}: not a wire message")
    if not math.isfinite(msg.sent_at_s):
        raise LocalProtocolError(f"sent_at_s must be finite, got {msg.sent_at_s}")
    device_id = msg.device_id.encode("utf-8")
    body = _body(msg, encoding)
    frame_bytes = HEADER_BYTES + len(device_id) + len(body)
    if frame_bytes >= 2**32:
        raise LocalProtocolError(f"frame of {frame_bytes} bytes exceeds the 4 GiB format limit")
    header = _HEADER.pack(
        MAGIC,
        VERSION,
        msg_type,
        frame_bytes,
        msg.seq,
        bytes.fromhex(msg.model_id),
        _header_cut(msg),
        0,
        msg.sent_at_s,
        len(device_id),
    )
    return b"".join((header, device_id, body))


# --------------------------------------------------------------------------------- decoding


class _Reader:
    """Bounds-checked reads from one frame; every overrun is the peer's fault."""

    __slots__ = ("data", "max_tensor_bytes", "pos", "tensor_bytes")

    def __init__(self, data: bytes, pos: int, max_tensor_bytes: int) -> None:
        self.data = data
        self.pos = pos
        self.max_tensor_bytes = max_tensor_bytes
        self.tensor_bytes = 0

    def take(self, n: int, what: str) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise RemoteProtocolError(
                f"frame truncated: {what} needs {n} bytes at offset {self.pos}, "
                f"only {len(self.data) - self.pos} left"
            )
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def unpack(self, fmt: struct.Struct, what: str) -> tuple[Any, ...]:
        if self.pos + fmt.size > len(self.data):
            raise RemoteProtocolError(f"frame truncated inside {what} at offset {self.pos}")
        values = fmt.unpack_from(self.data, self.pos)
        self.pos += fmt.size
        return values

    def u8(self, what: str) -> int:
        return int(self.unpack(_U8, what)[0])

    def u16(self, what: str) -> int:
        return int(self.unpack(_U16, what)[0])

    def u32(self, what: str) -> int:
        return int(self.unpack(_U32, what)[0])

    def f64(self, what: str) -> float:
        return float(self.unpack(_F64, what)[0])

    def text(self, length: int, what: str) -> str:
        try:
            return self.take(length, what).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RemoteProtocolError(f"{what} is not valid UTF-8") from exc

    def seconds(self, what: str) -> tuple[float, ...]:
        count = self.u16(what)
        raw = self.take(8 * count, what)
        return struct.unpack(f"<{count}d", raw)

    def tensors(self) -> tuple[Tensor, ...]:
        return tuple(self.tensor() for _ in range(self.u16("tensor count")))

    def tensor(self) -> Tensor:
        name = self.text(self.u16("tensor name length"), "tensor name")
        dtype_code, flags, ndim = self.unpack(_TENSOR_HEAD, f"tensor {name!r} header")
        dtype = CODE_DTYPES.get(dtype_code)
        if dtype is None:
            raise RemoteProtocolError(f"tensor {name!r}: unknown dtype code {dtype_code}")
        if flags & ~(_FLAG_INT8 | _FLAG_ZLIB):
            raise RemoteProtocolError(f"tensor {name!r}: unknown flags 0x{flags:02x}")
        if ndim > MAX_NDIM:
            raise RemoteProtocolError(f"tensor {name!r}: {ndim} dimensions, at most {MAX_NDIM}")
        shape = struct.unpack(f"<{ndim}I", self.take(4 * ndim, f"tensor {name!r} shape"))
        scale, zero_point, payload_bytes = self.unpack(_TENSOR_QUANT, f"tensor {name!r} quant")
        count = math.prod(shape)
        quantised = bool(flags & _FLAG_INT8)
        if quantised and dtype != np.float32:
            raise RemoteProtocolError(f"tensor {name!r}: int8 carriage of a non-float32 tensor")
        carried_bytes = count * (1 if quantised else dtype.itemsize)
        self.tensor_bytes += count * dtype.itemsize
        if self.tensor_bytes > self.max_tensor_bytes:
            raise FrameTooLargeError(
                f"tensors decode to more than {self.max_tensor_bytes} bytes (tensor {name!r})"
            )
        payload = self.take(payload_bytes, f"tensor {name!r} payload")
        if flags & _FLAG_ZLIB:
            payload = _inflate(payload, carried_bytes, name)
        elif len(payload) != carried_bytes:
            raise RemoteProtocolError(
                f"tensor {name!r}: shape {shape} needs {carried_bytes} bytes, "
                f"payload has {len(payload)}"
            )
        return _make_tensor(name, dtype, shape, payload, quantised, scale, zero_point)


def _inflate(payload: bytes, expected_bytes: int, name: str) -> bytes:
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(payload, expected_bytes + 1)
    except zlib.error as exc:
        raise RemoteProtocolError(f"tensor {name!r}: corrupt zlib payload ({exc})") from exc
    if len(raw) != expected_bytes or not inflater.eof or inflater.unused_data:
        raise RemoteProtocolError(
            f"tensor {name!r}: zlib payload does not inflate to exactly {expected_bytes} bytes"
        )
    return raw


def _make_tensor(
    name: str,
    dtype: np.dtype[np.generic],
    shape: tuple[int, ...],
    payload: bytes,
    quantised: bool,
    scale: float,
    zero_point: int,
) -> Tensor:
    if quantised:
        try:
            array = dequantise_int8(payload, scale, zero_point).reshape(shape)
        except LocalProtocolError as exc:
            raise RemoteProtocolError(f"tensor {name!r}: {exc}") from None
        return Tensor(name=name, array=array)
    array = np.frombuffer(payload, dtype=dtype).reshape(shape)
    if dtype == np.bool_ and payload.translate(None, b"\x00\x01"):
        raise RemoteProtocolError(f"tensor {name!r}: bool payload holds bytes other than 0/1")
    return Tensor(name=name, array=array, scale=scale, zero_point=zero_point)


def _decode_register(r: _Reader, h: _Header) -> Message:
    kind = r.text(r.u8("profile kind length"), "profile kind")
    speed = r.f64("profile speed_factor")
    profile = DeviceProfile(kind=kind, speed_factor=speed, op_seconds=r.seconds("op seconds"))
    return Register(
        device_id=h.device_id,
        model_id=h.model_id,
        seq=h.seq,
        profile=profile,
        sent_at_s=h.sent_at_s,
    )


def _decode_register_ack(r: _Reader, h: _Header) -> Message:
    num_ops = r.u16("num_ops")
    return RegisterAck(
        device_id=h.device_id,
        model_id=h.model_id,
        seq=h.seq,
        num_ops=num_ops,
        cut=h.required_cut(),
        max_frame_bytes=r.u32("max_frame_bytes"),
        sent_at_s=h.sent_at_s,
    )


def _read_transfer(r: _Reader) -> TransferSample | None:
    has_transfer = r.u8("transfer flag")
    if has_transfer == 1:
        up, down, secs = r.unpack(_TRANSFER, "transfer sample")
        return TransferSample(uplink_bytes=up, downlink_bytes=down, seconds=secs)
    if has_transfer != 0:
        raise RemoteProtocolError(f"transfer flag must be 0 or 1, got {has_transfer}")
    return None


def _read_records(r: _Reader) -> tuple[OfflineRecord, ...]:
    records = []
    for _ in range(r.u16("record count")):
        seq, cut, started, device_s = r.unpack(_RECORD_HEAD, "offline record")
        records.append(
            OfflineRecord(
                seq=seq,
                cut=cut,
                started_at_s=started,
                device_seconds=device_s,
                device_op_seconds=r.seconds("offline op seconds"),
                tensors=r.tensors(),
            )
        )
    return tuple(records)


def _decode_infer_request(r: _Reader, h: _Header) -> Message:
    device_seconds = r.f64("device_seconds")
    op_seconds = r.seconds("device op seconds")
    transfer = _read_transfer(r)
    return InferRequest(
        device_id=h.device_id,
        model_id=h.model_id,
        seq=h.seq,
        cut=h.required_cut(),
        tensors=r.tensors(),
        device_seconds=device_seconds,
        device_op_seconds=op_seconds,
        last_transfer=transfer,
        sent_at_s=h.sent_at_s,
    )


def _decode_infer_response(r: _Reader, h: _Header) -> Message:
    next_cut = r.u16("next_cut")
    edge_seconds = r.f64("edge_seconds")
    return InferResponse(
        device_id=h.device_id,
        model_id=h.model_id,
        seq=h.seq,
        cut=h.required_cut(),
        next_cut=next_cut,
        tensors=r.tensors(),
        edge_seconds=edge_seconds,
        sent_at_s=h.sent_at_s,
    )


def _decode_offline_report(r: _Reader, h: _Header) -> Message:
    return OfflineReport(
        device_id=h.device_id,
        model_id=h.model_id,
        seq=h.seq,
        records=_read_records(r),
        sent_at_s=h.sent_at_s,
    )


def _decode_device_only_report(r: _Reader, h: _Header) -> Message:
    transfer = _read_transfer(r)
    return DeviceOnlyReport(
        device_id=h.device_id,
        model_id=h.model_id,
        seq=h.seq,
        records=_read_records(r),
        last_transfer=transfer,
        sent_at_s=h.sent_at_s,
    )


def _decode_offline_ack(r: _Reader, h: _Header) -> Message:
    accepted = r.u32("accepted")
    return OfflineAck(
        device_id=h.device_id,
        model_id=h.model_id,
        seq=h.seq,
        accepted=accepted,
        next_cut=r.u16("next_cut"),
        sent_at_s=h.sent_at_s,
    )


def _decode_error(r: _Reader, h: _Header) -> Message:
    raw_code = r.u16("error code")
    try:
        code = ErrorCode(raw_code)
    except ValueError:
        raise RemoteProtocolError(f"unknown error code {raw_code}") from None
    reason = r.text(r.u16("reason length"), "reason")
    return ErrorFrame(
        code=code,
        reason=reason,
        device_id=h.device_id,
        model_id=h.model_id,
        seq=h.seq,
        sent_at_s=h.sent_at_s,
    )


_DECODERS: dict[int, Callable[[_Reader, _Header], Message]] = {
    MessageType.REGISTER: _decode_register,
    MessageType.REGISTER_ACK: _decode_register_ack,
    MessageType.INFER_REQUEST: _decode_infer_request,
    MessageType.INFER_RESPONSE: _decode_infer_response,
    MessageType.OFFLINE_REPORT: _decode_offline_report,
    MessageType.OFFLINE_ACK: _decode_offline_ack,
    MessageType.ERROR: _decode_error,
    MessageType.DEVICE_ONLY_REPORT: _decode_device_only_report,
}


class _Header:
    __slots__ = ("cut", "device_id", "model_id", "sent_at_s", "seq")

    def __init__(self, seq: int, model_id: str, cut: int, sent_at_s: float, device_id: str):
        self.seq = seq
        self.model_id = model_id
        self.cut = cut
        self.sent_at_s = sent_at_s
        self.device_id = device_id

    def required_cut(self) -> int:
        if self.cut == NO_CUT:
            raise RemoteProtocolError("this message type needs a cut in the header")
        return self.cut


def check_prefix(prefix: bytes | bytearray, *, max_frame_bytes: int) -> int:
    """Validate a frame's first 8 bytes and return its total length in bytes.

    Lets a transport refuse a flood (or junk) before reading the rest of it.
    """
    if len(prefix) < _PREFIX_BYTES:
        raise RemoteProtocolError(f"frame of {len(prefix)} bytes is shorter than its prefix")
    if prefix[:2] != MAGIC:
        raise RemoteProtocolError(f"not a sciot frame: starts with {bytes(prefix[:2])!r}")
    if prefix[2] != VERSION:
        raise RemoteProtocolError(
            f"unsupported wire version {prefix[2]} (this build speaks version {VERSION})"
        )
    if prefix[3] not in _DECODERS:
        raise RemoteProtocolError(f"unknown message type {prefix[3]}")
    (frame_bytes,) = _U32.unpack_from(prefix, 4)
    if frame_bytes < HEADER_BYTES:
        raise RemoteProtocolError(f"frame length {frame_bytes} shorter than the header")
    if frame_bytes > max_frame_bytes:
        raise FrameTooLargeError(
            f"frame of {frame_bytes} bytes exceeds max_frame_bytes={max_frame_bytes}"
        )
    return int(frame_bytes)


def decode(
    data: bytes | bytearray | memoryview,
    *,
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    max_tensor_bytes: int | None = None,
) -> Message:
    """Exactly one frame -> its message. ``max_tensor_bytes`` (default 8x the frame bound)
    caps what compressed tensors may inflate to."""
    data = bytes(data)
    frame_bytes = check_prefix(data[:_PREFIX_BYTES], max_frame_bytes=max_frame_bytes)
    if frame_bytes != len(data):
        raise RemoteProtocolError(
            f"frame header says {frame_bytes} bytes but {len(data)} bytes were received"
        )
    limit = 8 * max_frame_bytes if max_tensor_bytes is None else max_tensor_bytes
    try:
        return _decode_checked(data, limit)
    except LocalProtocolError as exc:  # a field decoded fine but its value is invalid
        raise RemoteProtocolError(f"invalid message from peer: {exc}") from exc


def _decode_checked(data: bytes, max_tensor_bytes: int) -> Message:
    _, _, msg_type, _, seq, model_raw, cut, flags, sent_at_s, id_len = _HEADER.unpack_from(data)
    if flags != 0:
        raise RemoteProtocolError(f"reserved header flags must be 0, got 0x{flags:04x}")
    if not math.isfinite(sent_at_s):
        raise RemoteProtocolError(f"sent_at_s {sent_at_s} is not finite")
    reader = _Reader(data, HEADER_BYTES, max_tensor_bytes)
    device_id = reader.text(id_len, "device id")
    header = _Header(seq, model_raw.hex(), cut, sent_at_s, device_id)
    msg = _DECODERS[msg_type](reader, header)
    if reader.pos != len(data):
        raise RemoteProtocolError(f"{len(data) - reader.pos} unexpected bytes after the message")
    return msg


class FrameDecoder:
    """Feed bytes as they arrive, take whole frames out (h11 style, no I/O).

    Feeding one byte at a time yields the same frames as feeding everything at once. After a
    protocol error the stream cannot be resynchronised, so every later call raises it again.
    """

    def __init__(self, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self._buffer = bytearray()
        self._max_frame_bytes = max_frame_bytes
        self._error: RemoteProtocolError | None = None

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self._error is not None:
            raise self._error
        self._buffer += data

    def next_frame(self) -> Message | None:
        """The next complete message, or ``None`` until more bytes arrive."""
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except RemoteProtocolError as exc:
            self._error = exc
            raise

    def _next(self) -> Message | None:
        buffered = len(self._buffer)
        if buffered < _PREFIX_BYTES:
            if self._buffer[:2] != MAGIC[:buffered]:
                check_prefix(bytes(self._buffer).ljust(_PREFIX_BYTES, b"\0"), max_frame_bytes=0)
            return None
        frame_bytes = check_prefix(
            self._buffer[:_PREFIX_BYTES], max_frame_bytes=self._max_frame_bytes
        )
        if buffered < frame_bytes:
            return None
        frame = bytes(self._buffer[:frame_bytes])
        del self._buffer[:frame_bytes]
        return decode(frame, max_frame_bytes=self._max_frame_bytes)
