"""Bytes -> messages: exactly one frame of wire format version 1 back into its message.

:func:`decode` checks every length against the header and against ``max_frame_bytes`` before
allocating, and every value against its range (the message types' own checks). Anything a
peer can send that breaks the format raises :class:`~sciot.errors.RemoteProtocolError` (or
its subclass :class:`~sciot.wire.FrameTooLargeError`), and nothing else.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from sciot.errors import LocalProtocolError, RemoteProtocolError
from sciot.wire._codec import (
    _F64,
    _FLAG_INT8,
    _FLAG_ZLIB,
    _HEADER,
    _PREFIX_BYTES,
    _RECORD_HEAD,
    _TENSOR_HEAD,
    _TENSOR_QUANT,
    _TRANSFER,
    _U8,
    _U16,
    _U32,
    DEFAULT_MAX_FRAME_BYTES,
    FLAG_PROBE,
    HEADER_BYTES,
    MAGIC,
    NO_CUT,
    VERSION,
    FrameTooLargeError,
    MessageType,
)
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
from sciot.wire._notice import FLAG_NEWER_MODEL, NOTICE_TYPES
from sciot.wire._tensor import CODE_DTYPES, MAX_NDIM, Tensor, dequantise_int8


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
        probe=h.probe,
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
        alongside=h.probe,
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
        next_probe=h.probe,
    )


def _decode_offline_report(r: _Reader, h: _Header) -> Message:
    records = _read_records(r)
    return OfflineReport(
        device_id=h.device_id,
        model_id=h.model_id,
        seq=h.seq,
        records=records,
        sent_at_s=h.sent_at_s,
        offline_backlog=_read_backlog(r),
    )


def _read_backlog(r: _Reader) -> int:
    """The optional trailing offline backlog of a report (absent in older frames: 0)."""
    return r.u32("offline_backlog") if r.pos < len(r.data) else 0


def _decode_device_only_report(r: _Reader, h: _Header) -> Message:
    transfer = _read_transfer(r)
    records = _read_records(r)
    return DeviceOnlyReport(
        device_id=h.device_id,
        model_id=h.model_id,
        seq=h.seq,
        records=records,
        last_transfer=transfer,
        sent_at_s=h.sent_at_s,
        offline_backlog=_read_backlog(r),
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
        next_probe=h.probe,
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


_PROBE_TYPES = frozenset(
    (
        MessageType.REGISTER_ACK,
        MessageType.INFER_REQUEST,
        MessageType.INFER_RESPONSE,
        MessageType.OFFLINE_ACK,
    )
)


class _Header:
    __slots__ = ("cut", "device_id", "model_id", "probe", "sent_at_s", "seq")

    def __init__(
        self,
        seq: int,
        model_id: str,
        cut: int,
        sent_at_s: float,
        device_id: str,
        probe: bool = False,
    ):
        self.seq = seq
        self.model_id = model_id
        self.cut = cut
        self.sent_at_s = sent_at_s
        self.device_id = device_id
        self.probe = probe

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
    # Bit 1 (the newer-model notice) is allowed on replies; see sciot.wire._notice. Bit 2
    # (a probe) on inference requests and on the replies that carry a cut.
    allowed = FLAG_NEWER_MODEL if msg_type in NOTICE_TYPES else 0
    if msg_type in _PROBE_TYPES:
        allowed |= FLAG_PROBE
    if flags & ~allowed:
        raise RemoteProtocolError(f"reserved header flags must be 0, got 0x{flags:04x}")
    if not math.isfinite(sent_at_s):
        raise RemoteProtocolError(f"sent_at_s {sent_at_s} is not finite")
    reader = _Reader(data, HEADER_BYTES, max_tensor_bytes)
    device_id = reader.text(id_len, "device id")
    header = _Header(seq, model_raw.hex(), cut, sent_at_s, device_id, bool(flags & FLAG_PROBE))
    msg = _DECODERS[msg_type](reader, header)
    if reader.pos != len(data):
        raise RemoteProtocolError(f"{len(data) - reader.pos} unexpected bytes after the message")
    return msg
