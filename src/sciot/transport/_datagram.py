"""Frames over UDP datagrams, sans-I/O: fragments, reassembly and loss reports.

A frame larger than one datagram travels as numbered fragments of one message; each fragment
carries the message's id, its index and count, the frame's total length and a CRC-32, so a
receiver can place it, check it and tell when the frame is whole. Loss is repaired
selectively: the last fragment of a burst is flagged, and a receiver that sees that flag with
fragments still missing answers with a bitmap of the missing ones (a NACK), which the sender
resends. A lost flag or NACK is covered by the sender's retransmit timer. Layout: the "UDP"
section of ``docs/wire.md``.

Nothing here touches a socket; :mod:`sciot.transport._udp` (device) and
:mod:`sciot.edge._udp_listener` (edge) do the I/O.
"""

from __future__ import annotations

import enum
import struct
import zlib
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field

from sciot.errors import TransportError

DATAGRAM_MAGIC = b"SD"
DATAGRAM_VERSION = 1
HEADER = struct.Struct("<2sBBIIHHHHI")
HEADER_BYTES = HEADER.size  # 24
MAX_FRAGMENTS = 0xFFFF
FLAG_END_OF_BURST = 0x0001
DEFAULT_DATAGRAM_BYTES = 1472
"""An Ethernet MTU (1500) minus IPv4 and UDP headers: no IP fragmentation on real links."""


class DatagramKind(enum.IntEnum):
    REQUEST = 1
    """A fragment of a request frame, device to edge."""
    REPLY = 2
    """A fragment of the reply frame, edge to device (same message id as the request)."""
    REQUEST_NACK = 3
    """Edge to device: these request fragments are missing, resend them."""
    REPLY_NACK = 4
    """Device to edge: these reply fragments are missing, resend them."""


class DatagramError(TransportError):
    """A datagram that is not a valid fragment (junk, corrupted, inconsistent)."""


@dataclass(frozen=True, slots=True)
class Fragment:
    """One decoded datagram."""

    kind: DatagramKind
    message_id: int
    total_bytes: int
    index: int
    count: int
    flags: int
    payload: bytes


def chunk_bytes(total_bytes: int, count: int) -> int:
    """Payload size of every fragment but the last: the total spread evenly over the count."""
    return -(-total_bytes // count)


def fragment_count(total_bytes: int, max_datagram_bytes: int) -> int:
    per = max_datagram_bytes - HEADER_BYTES
    if per <= 0:
        raise DatagramError(f"datagram size {max_datagram_bytes} leaves no room for a payload")
    count = max(1, -(-total_bytes // per))
    if count > MAX_FRAGMENTS:
        raise DatagramError(
            f"a frame of {total_bytes} bytes needs {count} fragments of {per} bytes "
            f"(at most {MAX_FRAGMENTS}); raise the datagram size"
        )
    return count


def encode_fragment(fragment: Fragment) -> bytes:
    head = HEADER.pack(
        DATAGRAM_MAGIC,
        DATAGRAM_VERSION,
        fragment.kind,
        fragment.message_id,
        fragment.total_bytes,
        fragment.index,
        fragment.count,
        fragment.flags,
        len(fragment.payload),
        0,
    )
    crc = zlib.crc32(fragment.payload, zlib.crc32(head[:20]))
    return head[:20] + crc.to_bytes(4, "little") + fragment.payload


def fragments(
    kind: DatagramKind,
    message_id: int,
    frame: bytes,
    *,
    max_datagram_bytes: int = DEFAULT_DATAGRAM_BYTES,
    indices: list[int] | None = None,
) -> list[bytes]:
    """The datagrams of one frame (only ``indices`` when given); the last one ends the burst."""
    total = len(frame)
    count = fragment_count(total, max_datagram_bytes)
    chunk = chunk_bytes(total, count)
    wanted = range(count) if indices is None else indices
    out: list[bytes] = []
    for n, i in enumerate(wanted):
        flags = FLAG_END_OF_BURST if n == len(wanted) - 1 else 0
        payload = frame[i * chunk : (i + 1) * chunk]
        out.append(encode_fragment(Fragment(kind, message_id, total, i, count, flags, payload)))
    return out


def nack(
    kind: DatagramKind, message_id: int, total_bytes: int, missing: list[int], count: int
) -> bytes:
    """A loss report: bit ``i`` of the bitmap (byte ``i // 8``, LSB first) = fragment i missing."""
    bitmap = bytearray(-(-count // 8))
    for i in missing:
        bitmap[i // 8] |= 1 << (i % 8)
    return encode_fragment(Fragment(kind, message_id, total_bytes, 0, count, 0, bytes(bitmap)))


def missing_from_bitmap(fragment: Fragment) -> list[int]:
    bitmap = fragment.payload
    if len(bitmap) != -(-fragment.count // 8):
        raise DatagramError(
            f"NACK bitmap of {len(bitmap)} bytes does not fit {fragment.count} fragments"
        )
    return [i for i in range(fragment.count) if bitmap[i // 8] >> (i % 8) & 1]


def decode_fragment(datagram: bytes, *, max_frame_bytes: int) -> Fragment:
    """Check and decode one datagram; every inconsistency is a :class:`DatagramError`."""
    if len(datagram) < HEADER_BYTES:
        raise DatagramError(f"datagram of {len(datagram)} bytes is shorter than its header")
    magic, version, kind, message_id, total, index, count, flags, size, crc = HEADER.unpack_from(
        datagram
    )
    if magic != DATAGRAM_MAGIC:
        raise DatagramError(f"not a sciot datagram: starts with {magic!r}")
    if version != DATAGRAM_VERSION:
        raise DatagramError(f"unsupported datagram version {version}")
    if len(datagram) != HEADER_BYTES + size:
        raise DatagramError(
            f"datagram of {len(datagram)} bytes but its header says {HEADER_BYTES + size}"
        )
    payload = datagram[HEADER_BYTES:]
    if zlib.crc32(payload, zlib.crc32(datagram[:20])) != crc:
        raise DatagramError("datagram CRC-32 mismatch (corrupted)")
    try:
        kind_value = DatagramKind(kind)
    except ValueError:
        raise DatagramError(f"unknown datagram kind {kind}") from None
    if flags & ~FLAG_END_OF_BURST:
        raise DatagramError(f"unknown datagram flags 0x{flags:04x}")
    if total > max_frame_bytes:
        raise DatagramError(f"frame of {total} bytes exceeds the limit of {max_frame_bytes}")
    if count == 0 or index >= count or count > max(1, total):
        raise DatagramError(f"fragment {index} of {count} is impossible for {total} bytes")
    if kind_value in (DatagramKind.REQUEST, DatagramKind.REPLY):
        chunk = chunk_bytes(total, count)
        expected = min(chunk, total - index * chunk)
        if expected <= 0 or size != expected:
            raise DatagramError(
                f"fragment {index} of {count} carries {size} bytes; a {total}-byte frame in "
                f"{count} fragments needs {max(expected, 0)}"
            )
    return Fragment(kind_value, message_id, total, index, count, flags, payload)


@dataclass(slots=True)
class _Partial:
    total: int
    count: int
    started_s: float
    parts: dict[int, bytes] = field(default_factory=dict)

    def missing(self) -> list[int]:
        return [i for i in range(self.count) if i not in self.parts]


@dataclass(frozen=True, slots=True)
class Progress:
    """What one fragment did to its message: complete frame, or what is still missing."""

    frame: bytes | None
    missing: list[int]
    """Indices still missing, filled only when the fragment ended a burst (time to NACK)."""


class Reassembler:
    """Collects fragments into frames, within a bound on partial messages and their bytes.

    Partial messages older than ``timeout_s`` are dropped (their sender has given up or will
    retransmit); beyond ``max_partial`` or ``max_partial_bytes`` the oldest is evicted, so a
    storm of fragments that never complete cannot exhaust memory. Evictions are counted.
    """

    def __init__(
        self,
        *,
        max_frame_bytes: int,
        timeout_s: float = 5.0,
        max_partial: int = 256,
        max_partial_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.timeout_s = timeout_s
        self.max_partial = max_partial
        self.max_partial_bytes = max_partial_bytes
        self._partial: OrderedDict[Hashable, _Partial] = OrderedDict()
        self._bytes = 0
        self.evicted = 0
        self.expired = 0

    @property
    def partial_messages(self) -> int:
        return len(self._partial)

    def add(self, key: Hashable, fragment: Fragment, now_s: float) -> Progress:
        """Place one data fragment (``key`` names sender and message)."""
        self._expire(now_s)
        if fragment.count == 1:
            return Progress(frame=fragment.payload, missing=[])
        partial = self._partial.get(key)
        if partial is not None and (
            partial.total != fragment.total_bytes or partial.count != fragment.count
        ):
            self._drop(key)
            raise DatagramError(
                f"fragment of message {fragment.message_id} disagrees with earlier ones "
                f"({fragment.count} x / {fragment.total_bytes} B vs {partial.count} x / "
                f"{partial.total} B); message dropped"
            )
        if partial is None:
            partial = _Partial(total=fragment.total_bytes, count=fragment.count, started_s=now_s)
            self._partial[key] = partial
            self._bytes += partial.total
            self._bound()
        if fragment.index not in partial.parts:
            partial.parts[fragment.index] = fragment.payload
        if len(partial.parts) == partial.count:
            self._drop(key)
            return Progress(
                frame=b"".join(partial.parts[i] for i in range(partial.count)), missing=[]
            )
        ended = bool(fragment.flags & FLAG_END_OF_BURST)
        return Progress(frame=None, missing=partial.missing() if ended else [])

    def missing(self, key: Hashable) -> list[int] | None:
        partial = self._partial.get(key)
        return None if partial is None else partial.missing()

    def shape(self, key: Hashable) -> tuple[int, int]:
        """Total bytes and fragment count of a partial message."""
        partial = self._partial[key]
        return partial.total, partial.count

    def forget(self, key: Hashable) -> None:
        if key in self._partial:
            self._drop(key)

    def _drop(self, key: Hashable) -> None:
        partial = self._partial.pop(key)
        self._bytes -= partial.total

    def _bound(self) -> None:
        while len(self._partial) > self.max_partial or (
            self._bytes > self.max_partial_bytes and len(self._partial) > 1
        ):
            self._drop(next(iter(self._partial)))
            self.evicted += 1

    def _expire(self, now_s: float) -> None:
        while self._partial:
            key, oldest = next(iter(self._partial.items()))
            if now_s - oldest.started_s <= self.timeout_s:
                return
            self._drop(key)
            self.expired += 1
