"""The newer-model notice: header flag bit 1 on an edge reply.

A model served under a label can be replaced while devices run (``sciot model deploy``). The
edge keeps answering a device on the old version with the old version's tail, and sets this
bit on each reply so the device learns, without any new message, that it should fetch the
newer version before its next decision. Only replies (``RegisterAck``, ``InferResponse``,
``OfflineAck``) may carry it; the frame's body and model id are unchanged.
"""

from __future__ import annotations

import struct

from sciot.errors import LocalProtocolError
from sciot.wire._codec import HEADER_BYTES, MessageType

FLAG_NEWER_MODEL = 0x0002
NOTICE_TYPES = frozenset(
    (MessageType.REGISTER_ACK, MessageType.INFER_RESPONSE, MessageType.OFFLINE_ACK)
)
_FLAGS = struct.Struct("<H")
_FLAGS_AT = 26


def mark_newer_model(frame: bytes) -> bytes:
    """``frame`` (an encoded reply) with the newer-model bit set."""
    if len(frame) < HEADER_BYTES or frame[3] not in NOTICE_TYPES:
        raise LocalProtocolError("only a RegisterAck, InferResponse or OfflineAck carries it")
    out = bytearray(frame)
    (flags,) = _FLAGS.unpack_from(out, _FLAGS_AT)
    _FLAGS.pack_into(out, _FLAGS_AT, flags | FLAG_NEWER_MODEL)
    return bytes(out)


def announces_newer_model(frame: bytes | bytearray | memoryview) -> bool:
    """Whether a received frame says the edge serves a newer version of its model."""
    if len(frame) < HEADER_BYTES:
        return False
    (flags,) = _FLAGS.unpack_from(frame, _FLAGS_AT)
    return bool(flags & FLAG_NEWER_MODEL) and frame[3] in NOTICE_TYPES


__all__ = ["FLAG_NEWER_MODEL", "announces_newer_model", "mark_newer_model"]
