"""What a transport may read from a frame's fixed header without decoding it.

Transports sit beside ``wire`` in the layering and move frames as opaque bytes; but a stream
transport must know where a frame ends, and the MQTT and UDP transports route and correlate
by device and sequence number. Those fields sit at fixed offsets of the version-1 header
(``docs/wire.md``), so they are peeked at here instead of decoding whole frames.
"""

from __future__ import annotations

import struct

from sciot.errors import TransportError

MAGIC = b"SC"
PREFIX_BYTES = 8
"""The magic, version, type and ``u32`` frame length: enough to know how much to read."""
MIN_FRAME_BYTES = 37
"""The fixed header with an empty device id; nothing shorter is a frame."""

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_SEQ_OFFSET = 8
_DEVICE_OFFSET = 36


def frame_length(prefix: bytes | bytearray | memoryview, *, max_bytes: int) -> int:
    """The total length a frame's first 8 bytes declare; refuses junk and oversized lengths."""
    if len(prefix) < PREFIX_BYTES:
        raise TransportError(f"a frame needs {PREFIX_BYTES} prefix bytes, got {len(prefix)}")
    if bytes(prefix[:2]) != MAGIC:
        raise TransportError(f"not a sciot frame: starts with {bytes(prefix[:2])!r}")
    (length,) = _U32.unpack_from(prefix, 4)
    if length < MIN_FRAME_BYTES:
        raise TransportError(f"frame length {length} is shorter than a frame header")
    if length > max_bytes:
        raise TransportError(f"frame of {length} bytes exceeds the limit of {max_bytes} bytes")
    return int(length)


def frame_seq(frame: bytes | bytearray | memoryview) -> int:
    """The sender's sequence number (replies echo the request's)."""
    if len(frame) < MIN_FRAME_BYTES:
        raise TransportError(f"frame of {len(frame)} bytes is shorter than a frame header")
    return int(_U64.unpack_from(frame, _SEQ_OFFSET)[0])


# Which reply type answers which request type (docs/wire.md's type numbers).
_ANSWERED_BY = {1: 2, 3: 4, 5: 6, 8: 6}
_REPLY_TYPES = frozenset(_ANSWERED_BY.values())


def answers(request: bytes | bytearray | memoryview, reply: bytes | bytearray | memoryview) -> bool:
    """Whether ``reply`` may answer ``request``: anything but the reply type of *another*
    request type (an error frame answers any request; an echo server's copy is its own).
    Two frames of a device can share a sequence number (a report and the probe sent
    alongside the same inference), so a late copy of one's reply must not be taken for the
    other's."""
    if len(request) < MIN_FRAME_BYTES or len(reply) < MIN_FRAME_BYTES:
        return True  # not frames this check knows: the caller's matching stands
    expected = _ANSWERED_BY.get(request[3])
    return expected is None or reply[3] not in _REPLY_TYPES or reply[3] == expected


def frame_device_id(frame: bytes | bytearray | memoryview) -> str:
    """The device id of a frame's header (``''`` when it cannot be read)."""
    if len(frame) < MIN_FRAME_BYTES:
        return ""
    size = frame[_DEVICE_OFFSET]
    raw = bytes(frame[_DEVICE_OFFSET + 1 : _DEVICE_OFFSET + 1 + size])
    if len(raw) != size:
        return ""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return ""
