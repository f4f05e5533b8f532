"""The messages devices and the edge exchange, as frozen value types.

Every message shares the frame header fields (device id, sequence number, model id, cut,
send timestamp); each type adds its own body. The conversation is: ``Register`` ->
``RegisterAck`` (or an ``ErrorFrame`` refusal), then one ``InferRequest`` -> ``InferResponse``
round trip per inference at a split cut, ``DeviceOnlyReport`` -> ``OfflineAck`` now and then
to report a batch of device-only inferences (no round trip on the inference's own path), and
``OfflineReport`` -> ``OfflineAck`` to upload inferences made while the edge was unreachable.
Validation happens here, so an invalid message can never be encoded and a decoded one is
always well formed.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass, field

from sciot.errors import LocalProtocolError
from sciot.wire._tensor import Tensor

MAX_DEVICE_ID_BYTES = 64
_MODEL_ID = re.compile(r"[0-9a-f]{16}")
MAX_CUT = 0xFFFE  # 0xFFFF on the wire means "no cut"
# A u64 on the wire, but receivers store sequence numbers as signed 64-bit integers (SQLite
# INTEGER): a larger one would be accepted here and then fail where it is stored.
MAX_SEQ = 2**63 - 1
NO_MODEL = "0" * 16
MAX_SECONDS = 1e6  # about 11.6 days


class ErrorCode(enum.IntEnum):
    """Why the edge refused or failed a request; numbered like the HTTP status it maps to."""

    MALFORMED = 400
    UNAUTHORIZED = 401
    UNKNOWN_DEVICE = 404
    UNKNOWN_MODEL = 406
    BAD_CUT = 409
    FRAME_TOO_LARGE = 413
    BAD_TENSORS = 422
    INTERNAL = 500
    OVERLOADED = 503


def utf8(text: str, what: str) -> bytes:
    """``text`` as UTF-8, or a protocol error naming the field (lone surrogates cannot travel)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise LocalProtocolError(f"{what} {text[:20]!r} is not valid Unicode text") from None


def _check_common(
    device_id: str, seq: int, model_id: str, sent_at_s: float, *, allow_empty_id: bool
) -> None:
    raw = utf8(device_id, "device_id")
    if not raw and not allow_empty_id:
        raise LocalProtocolError("device_id must not be empty")
    if len(raw) > MAX_DEVICE_ID_BYTES:
        raise LocalProtocolError(
            f"device_id {device_id[:20]!r}... is {len(raw)} bytes, at most {MAX_DEVICE_ID_BYTES}"
        )
    if not 0 <= seq <= MAX_SEQ:
        raise LocalProtocolError(f"seq {seq} outside 0..2**63-1")
    if not isinstance(model_id, str) or _MODEL_ID.fullmatch(model_id) is None:
        raise LocalProtocolError(
            f"model_id must be 16 lower-case hex digits (ModelGraph.model_id), got {model_id!r}"
        )
    _check_timestamp("sent_at_s", sent_at_s)


def _check_timestamp(name: str, value: float) -> None:
    """Wall-clock seconds since the epoch: a negative or non-finite one is a corrupt clock."""
    if not math.isfinite(value) or value < 0.0:
        raise LocalProtocolError(f"{name} must be finite seconds >= 0, got {value}")


def _check_cut(name: str, cut: int) -> None:
    if not 0 <= cut <= MAX_CUT:
        raise LocalProtocolError(f"{name} {cut} outside 0..{MAX_CUT}")


def _check_seconds(name: str, values: tuple[float, ...]) -> None:
    """Durations (and the speed factor): an inference step, a transfer or a whole inference
    that took longer than ``MAX_SECONDS`` is a corrupt measurement, and squaring one near
    float64's limit (as variance estimates do) would overflow."""
    for v in values:
        if not 0.0 <= v <= MAX_SECONDS:  # also false for NaN
            raise LocalProtocolError(f"{name} must be finite, >= 0 and <= {MAX_SECONDS:g}, got {v}")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceProfile:
    """What a device says about itself at registration; the planner may use it as a prior."""

    kind: str = ""
    speed_factor: float = 1.0
    op_seconds: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if len(utf8(self.kind, "device profile kind")) > 255:
            raise LocalProtocolError("device profile kind longer than 255 bytes")
        _check_seconds("profile speed_factor", (self.speed_factor,))
        _check_seconds("profile op_seconds", self.op_seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferSample:
    """One measured exchange: bytes each way and the seconds the network took (RTT minus edge)."""

    uplink_bytes: int
    downlink_bytes: int
    seconds: float

    def __post_init__(self) -> None:
        for name, value in (
            ("uplink_bytes", self.uplink_bytes),
            ("downlink_bytes", self.downlink_bytes),
        ):
            if not 0 <= value < 2**32:
                raise LocalProtocolError(f"transfer {name} {value} outside 0..2**32-1")
        _check_seconds("transfer seconds", (self.seconds,))


@dataclass(frozen=True, slots=True, kw_only=True)
class Register:
    """A device announces itself and the model it runs (once per session)."""

    device_id: str
    model_id: str
    seq: int = 0
    profile: DeviceProfile = field(default_factory=DeviceProfile)
    sent_at_s: float = 0.0

    def __post_init__(self) -> None:
        _check_common(self.device_id, self.seq, self.model_id, self.sent_at_s, allow_empty_id=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterAck:
    """The edge accepts: the model's op count, the cut to start with, its frame size bound."""

    device_id: str
    model_id: str
    num_ops: int
    cut: int
    max_frame_bytes: int
    seq: int = 0
    sent_at_s: float = 0.0
    probe: bool = False
    """``cut`` is a probe (header flag bit 2): a device starting at device-only sends it
    alongside its first inference instead of moving there."""

    def __post_init__(self) -> None:
        _check_common(self.device_id, self.seq, self.model_id, self.sent_at_s, allow_empty_id=False)
        _check_cut("num_ops", self.num_ops)
        _check_cut("cut", self.cut)
        if self.cut > self.num_ops:
            raise LocalProtocolError(f"cut {self.cut} beyond num_ops {self.num_ops}")
        if not 0 < self.max_frame_bytes < 2**32:
            raise LocalProtocolError(f"max_frame_bytes {self.max_frame_bytes} outside 1..2**32-1")


@dataclass(frozen=True, slots=True, kw_only=True)
class InferRequest:
    """One inference at cut k: the device ran ops [0, k) and sends the crossing tensors.

    Cut 0 (edge-only) carries the raw model input; cut N (device-only) carries the model's
    outputs, so the edge still learns the device's timings and can move the cut back.
    ``device_op_seconds`` are this inference's per-op head timings; ``last_transfer`` is the
    previous round trip's network measurement.
    """

    device_id: str
    model_id: str
    seq: int
    cut: int
    tensors: tuple[Tensor, ...]
    device_seconds: float = 0.0
    device_op_seconds: tuple[float, ...] = ()
    last_transfer: TransferSample | None = None
    sent_at_s: float = 0.0
    alongside: bool = False
    """A probe sent alongside an inference the device ran whole: the edge measures the tail
    (and the reply's next cut stands) but it is no inference of its own, and the device
    does not wait for its result (header flag bit 2)."""

    def __post_init__(self) -> None:
        _check_common(self.device_id, self.seq, self.model_id, self.sent_at_s, allow_empty_id=False)
        _check_cut("cut", self.cut)
        _check_seconds("device_seconds", (self.device_seconds,))
        _check_seconds("device_op_seconds", self.device_op_seconds)
        if len(self.device_op_seconds) > MAX_CUT:
            raise LocalProtocolError("too many device_op_seconds")


@dataclass(frozen=True, slots=True, kw_only=True)
class InferResponse:
    """The edge ran ops [cut, N): the model's result, the edge's time and the cut to use next."""

    device_id: str
    model_id: str
    seq: int
    cut: int
    next_cut: int
    tensors: tuple[Tensor, ...]
    edge_seconds: float = 0.0
    sent_at_s: float = 0.0
    next_probe: bool = False
    """``next_cut`` is a probe: a device running device-only sends it alongside its next
    inference instead of moving there (header flag bit 2)."""

    def __post_init__(self) -> None:
        _check_common(self.device_id, self.seq, self.model_id, self.sent_at_s, allow_empty_id=False)
        _check_cut("cut", self.cut)
        _check_cut("next_cut", self.next_cut)
        _check_seconds("edge_seconds", (self.edge_seconds,))


@dataclass(frozen=True, slots=True, kw_only=True)
class OfflineRecord:
    """One inference the device made alone: while the edge was unreachable (in an
    ``OfflineReport``) or because device-only was chosen (in a ``DeviceOnlyReport``)."""

    seq: int
    cut: int
    started_at_s: float
    device_seconds: float
    device_op_seconds: tuple[float, ...] = ()
    tensors: tuple[Tensor, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.seq <= MAX_SEQ:
            raise LocalProtocolError(f"offline record seq {self.seq} outside 0..2**63-1")
        _check_cut("offline record cut", self.cut)
        _check_timestamp("offline record started_at_s", self.started_at_s)
        _check_seconds("offline device_seconds", (self.device_seconds,))
        _check_seconds("offline device_op_seconds", self.device_op_seconds)


def _check_backlog(backlog: int) -> None:
    """A device's offline backlog travels as a u32."""
    if isinstance(backlog, bool) or not isinstance(backlog, int) or not 0 <= backlog <= 0xFFFFFFFF:
        raise LocalProtocolError(f"offline_backlog {backlog!r} outside 0..2**32-1")


def _check_record_count(kind: str, records: tuple[OfflineRecord, ...]) -> None:
    """A report's record count travels as a u16."""
    if len(records) > 0xFFFF:
        raise LocalProtocolError(
            f"{len(records)} {kind} records in one report, at most 65535: split it"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OfflineReport:
    """A batch of offline inferences uploaded once the edge is back."""

    device_id: str
    model_id: str
    records: tuple[OfflineRecord, ...]
    seq: int = 0
    sent_at_s: float = 0.0
    offline_backlog: int = 0
    """Offline records still queued on the device after this report (an optional trailing
    field: frames without it decode as 0)."""

    def __post_init__(self) -> None:
        _check_common(self.device_id, self.seq, self.model_id, self.sent_at_s, allow_empty_id=False)
        _check_record_count("offline", self.records)
        _check_backlog(self.offline_backlog)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceOnlyReport:
    """A batch of inferences the device ran alone because device-only was the decision.

    Not a failure, unlike an ``OfflineReport``: the edge records the inferences and feeds the
    planner their timings and ``last_transfer`` (the previous round trip's measurement, often
    the previous report's), and its ``OfflineAck`` says which cut to use next, so exploration
    can move the device back to splitting. Records usually carry no tensors: the edge does not
    need device-only results.
    """

    device_id: str
    model_id: str
    records: tuple[OfflineRecord, ...]
    last_transfer: TransferSample | None = None
    seq: int = 0
    sent_at_s: float = 0.0
    offline_backlog: int = 0
    """Offline records queued on the device when it sent this report (optional, as above)."""

    def __post_init__(self) -> None:
        _check_common(self.device_id, self.seq, self.model_id, self.sent_at_s, allow_empty_id=False)
        _check_record_count("device-only", self.records)
        _check_backlog(self.offline_backlog)


@dataclass(frozen=True, slots=True, kw_only=True)
class OfflineAck:
    """The edge stored ``accepted`` records of an offline or device-only report; ``next_cut``
    is the cut to use next."""

    device_id: str
    model_id: str
    accepted: int
    next_cut: int
    seq: int = 0
    sent_at_s: float = 0.0
    next_probe: bool = False
    """As in ``InferResponse``: ``next_cut`` is a probe (header flag bit 2)."""

    def __post_init__(self) -> None:
        _check_common(self.device_id, self.seq, self.model_id, self.sent_at_s, allow_empty_id=False)
        _check_cut("next_cut", self.next_cut)
        if not 0 <= self.accepted < 2**32:
            raise LocalProtocolError(f"accepted {self.accepted} outside 0..2**32-1")


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorFrame:
    """A refusal or failure, as data: a code the caller can branch on and a readable reason.

    The edge answers a registration for a model it lacks with ``UNKNOWN_MODEL``, a request
    from a device it never registered with ``UNKNOWN_DEVICE`` (register again), and so on.
    """

    code: ErrorCode
    reason: str
    device_id: str = ""
    model_id: str = NO_MODEL
    seq: int = 0
    sent_at_s: float = 0.0

    def __post_init__(self) -> None:
        _check_common(self.device_id, self.seq, self.model_id, self.sent_at_s, allow_empty_id=True)
        if not isinstance(self.code, ErrorCode):
            raise LocalProtocolError(f"error code must be an ErrorCode, got {self.code!r}")
        if len(utf8(self.reason, "error reason")) > 0xFFFF:
            raise LocalProtocolError("error reason longer than 65535 bytes")


Message = (
    Register
    | RegisterAck
    | InferRequest
    | InferResponse
    | OfflineReport
    | OfflineAck
    | ErrorFrame
    | DeviceOnlyReport
)
