"""A frame's fixed header, read without decoding the frame.

A server routes and prioritises frames before it pays for decoding them (the edge serves
cheap frames on its event loop and hands heavy ones to worker threads); :func:`peek_header`
gives it the message type, model and cut from the first bytes, after checking that they are a
sciot frame of the version this build speaks. The byte layout is ``docs/wire.md``'s.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from sciot.errors import RemoteProtocolError
from sciot.wire._codec import MAGIC, VERSION

# magic, version, type, frame_bytes, seq, model id, cut: the header up to the cut field.
_PEEKED = struct.Struct("<2sBBIQ8sH")
PEEK_BYTES = _PEEKED.size  # 26


class FrameHeader(NamedTuple):
    """The routing fields of a frame's header (the body is not looked at)."""

    msg_type: int
    frame_bytes: int
    """What the header claims the whole frame is; :func:`~sciot.wire.decode` checks it."""
    seq: int
    model_id_raw: bytes
    """The 8 model-id bytes as sent (``.hex()`` is the model id)."""
    cut: int

    @property
    def model_id(self) -> str:
        return self.model_id_raw.hex()


def peek_header(data: bytes | bytearray | memoryview) -> FrameHeader:
    """The header fields of ``data``; a short frame, a foreign magic or another wire version
    is a :class:`~sciot.errors.RemoteProtocolError` naming what was wrong."""
    if len(data) < PEEK_BYTES:
        raise RemoteProtocolError(
            f"frame of {len(data)} bytes is shorter than the {PEEK_BYTES}-byte header"
        )
    magic, version, msg_type, frame_bytes, seq, model_raw, cut = _PEEKED.unpack_from(data)
    if magic != MAGIC:
        raise RemoteProtocolError(f"not a sciot frame: starts with {bytes(magic)!r}")
    if version != VERSION:
        raise RemoteProtocolError(
            f"unsupported wire version {version} (this build speaks version {VERSION})"
        )
    return FrameHeader(msg_type, frame_bytes, seq, model_raw, cut)


__all__ = ["PEEK_BYTES", "FrameHeader", "peek_header"]
