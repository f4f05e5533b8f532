"""Cutting a byte stream into frames, for the stream transports (TCP, serial).

:class:`FrameDecoder` is sans-I/O: feed it whatever ``recv`` returned and take complete
messages out. The 8-byte prefix says how long a frame is, so junk or an oversized length is
refused as soon as the prefix (or even its first byte) is wrong.
"""

from __future__ import annotations

from sciot.errors import RemoteProtocolError
from sciot.wire._codec import _PREFIX_BYTES, DEFAULT_MAX_FRAME_BYTES, MAGIC
from sciot.wire._decode import check_prefix, decode
from sciot.wire._messages import Message


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
