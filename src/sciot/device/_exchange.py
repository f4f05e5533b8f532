"""Where the device's bytes hit the wire: one request frame out, one reply frame back.

Every exchange with the edge (registration, split inference, offline and device-only reports)
goes through :meth:`Exchange.send`, which enforces the edge's frame bound, times the round
trip and turns every failure (transport error, malformed reply, error frame) into
:class:`CallFailed`, so the callers handle one exception. It also keeps the newest transfer
measurement, which the next request carries to the edge's link estimator.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from sciot.errors import SciotError, TransportError, WireError
from sciot.transport import ClientTransport
from sciot.wire import (
    DEFAULT_MAX_FRAME_BYTES,
    TOKEN_BYTES,
    ErrorCode,
    ErrorFrame,
    Message,
    Register,
    TensorEncoding,
    TransferSample,
    announces_newer_model,
    decode,
    encode,
    frame_key,
    sign_frame,
)


class CallFailed(SciotError):
    """A round trip did not give a usable answer; ``forgotten`` means register again."""

    def __init__(self, reason: str, *, forgotten: bool = False) -> None:
        super().__init__(reason)
        self.forgotten = forgotten


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundTrip:
    reply: Message
    payload_bytes: int
    reply_bytes: int
    elapsed_s: float

    def transfer(self, edge_s: float = 0.0) -> TransferSample:
        """This exchange as a link measurement: its bytes and the seconds not spent at the
        edge (a report's ack carries no edge time, so all of it is the link's)."""
        return TransferSample(
            uplink_bytes=self.payload_bytes,
            downlink_bytes=self.reply_bytes,
            seconds=max(0.0, self.elapsed_s - edge_s),
        )


class Exchange:
    """The device's request/reply channel to the edge over one transport."""

    def __init__(
        self,
        transport: ClientTransport,
        *,
        timeout_s: float,
        clock: Callable[[], float],
        token: bytes | None = None,
    ) -> None:
        self.transport = transport
        self._token = token
        self._key = None if token is None else frame_key(token)
        self.timeout_s = timeout_s
        self._trailer_bytes = 0 if token is None else TOKEN_BYTES
        self.edge_max_frame_bytes = DEFAULT_MAX_FRAME_BYTES
        """The edge's bound, learnt at registration."""
        self.last_transfer: TransferSample | None = None
        self._clock = clock
        # A probe sent alongside a device-only inference makes its round trip on a thread of
        # its own: one request at a time goes over the transport (none is safe for more).
        self._one_at_a_time = threading.Lock()
        self.newer_model = False
        """Set once a reply carried the newer-model notice; the client clears it when it
        has moved to the newer version."""

    @property
    def max_frame_bytes(self) -> int:
        """How large an unsigned frame may be: the edge's bound less the room its
        authentication trailer takes (what callers size their reports by)."""
        return self.edge_max_frame_bytes - self._trailer_bytes

    @max_frame_bytes.setter
    def max_frame_bytes(self, edge_bound: int) -> None:
        self.edge_max_frame_bytes = edge_bound

    def round_trip(self, message: Message, encoding: TensorEncoding) -> RoundTrip:
        """Encode ``message`` and make one request/reply of it."""
        try:
            payload = encode(message, encoding=encoding)
        except WireError as exc:
            raise CallFailed(f"cannot encode {type(message).__name__}: {exc}") from exc
        return self.send(payload, type(message).__name__, register=isinstance(message, Register))

    def send(self, payload: bytes, what: str, *, register: bool = False) -> RoundTrip:
        """One request/reply; every failure becomes :class:`CallFailed`. Error frames are
        failures too, except in reply to a registration, where they are a refusal. With a
        token, the frame goes out with its authentication trailer (``docs/wire.md``)."""
        if self._token is not None:
            payload = sign_frame(payload, self._token, self._key)
        if len(payload) > self.edge_max_frame_bytes:
            raise CallFailed(
                f"{what} of {len(payload)} bytes exceeds the edge's "
                f"max_frame_bytes={self.edge_max_frame_bytes}"
            )
        with self._one_at_a_time:
            sent_s = self._clock()
            try:
                reply_bytes = self.transport.request(payload, timeout_s=self.timeout_s)
            except TransportError as exc:
                raise CallFailed(f"edge unreachable: {exc}") from exc
            elapsed_s = self._clock() - sent_s
        try:
            reply = decode(
                reply_bytes, max_frame_bytes=max(self.edge_max_frame_bytes, len(payload))
            )
        except WireError as exc:
            raise CallFailed(f"malformed reply from the edge: {exc}") from exc
        if announces_newer_model(reply_bytes):
            self.newer_model = True
        if isinstance(reply, ErrorFrame) and not register:
            # UNAUTHORIZED after registering: the edge restarted and lost this device's key.
            forgotten = reply.code in (ErrorCode.UNKNOWN_DEVICE, ErrorCode.UNAUTHORIZED)
            raise CallFailed(f"edge error {reply.code.name}: {reply.reason}", forgotten=forgotten)
        return RoundTrip(
            reply=reply,
            payload_bytes=len(payload),
            reply_bytes=len(reply_bytes),
            elapsed_s=elapsed_s,
        )

    def close(self) -> None:
        self.transport.close()


def describe(reply: Message) -> str:
    """A reply, named for an error message."""
    if isinstance(reply, ErrorFrame):
        return f"error {reply.code.name}: {reply.reason}"
    return type(reply).__name__


def largest_fitting_prefix(
    count: int, encode_prefix: Callable[[int], bytes], max_bytes: int
) -> tuple[bytes, int]:
    """The frame of the longest prefix of ``count`` records whose encoding fits ``max_bytes``
    (halving until it does), and that prefix's length; a lone record is returned even if it
    does not fit, for the caller to decide what to do with it."""
    while True:
        payload = encode_prefix(count)
        if len(payload) <= max_bytes or count <= 1:
            return payload, count
        count //= 2


__all__ = ["CallFailed", "Exchange", "RoundTrip", "describe", "largest_fitting_prefix"]
