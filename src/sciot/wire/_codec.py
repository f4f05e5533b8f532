"""Messages -> bytes, and the frame layout both directions share (wire format version 1).

:func:`encode` turns a message into one frame (layout in ``docs/wire.md``); the constants and
``struct`` layouts here are the ones ``_decode`` reads back with. Asking to encode something
unrepresentable raises :class:`~sciot.errors.LocalProtocolError`.
"""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np

from sciot.errors import LocalProtocolError, RemoteProtocolError
from sciot.wire._messages import (
    DeviceOnlyReport,
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
from sciot.wire._tensor import CODE_OF_DTYPE, Tensor, TensorEncoding, quantise_int8

MAGIC = b"SC"
VERSION = 1
DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024
FLAG_PROBE = 0x0004
"""Header flag bit 2: a probe sent alongside a local inference (``InferRequest``), or a
next cut that is a probe (``RegisterAck``, ``InferResponse``, ``OfflineAck``)."""
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
        if msg.offline_backlog:  # optional trailer: a frame without it is the old layout
            out += _U32.pack(msg.offline_backlog)
    elif isinstance(msg, DeviceOnlyReport):
        _put_transfer(out, msg.last_transfer)
        _put_records(out, msg.records, encoding)
        if msg.offline_backlog:
            out += _U32.pack(msg.offline_backlog)
    elif isinstance(msg, OfflineAck):
        out += _U32.pack(msg.accepted) + _U16.pack(msg.next_cut)
    else:
        out += _U16.pack(int(msg.code))
        _put_str(out, msg.reason, _U16)
    return out


def _header_flags(msg: Message) -> int:
    if isinstance(msg, InferRequest):
        return FLAG_PROBE if msg.alongside else 0
    if isinstance(msg, InferResponse | OfflineAck):
        return FLAG_PROBE if msg.next_probe else 0
    if isinstance(msg, RegisterAck):
        return FLAG_PROBE if msg.probe else 0
    return 0


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
        _header_flags(msg),
        msg.sent_at_s,
        len(device_id),
    )
    return b"".join((header, device_id, body))
