"""Fixtures for the device tests: the shipped demo model and an in-process wire peer.

:class:`WirePeer` is a minimal edge that speaks the real wire format and runs real tails
through LiteRT, so the client's protocol handling, fallback and upload logic can be tested
quickly and deterministically without sockets. It is the client's *peer*, not the client: the
end-to-end tests run the same scenarios against the real edge server over loopback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

from sciot.errors import TransportError
from sciot.model import ModelGraph, load_model, split_model
from sciot.model.zoo import demo_model_path, load_demo_input
from sciot.runtime import SegmentExecutor
from sciot.wire import (
    DeviceOnlyReport,
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
    Tensor,
    decode,
    encode,
)


@pytest.fixture(scope="session")
def fomo_graph() -> ModelGraph:
    return load_model(demo_model_path("fomo96"))


@pytest.fixture(scope="session")
def fomo_int8_graph() -> ModelGraph:
    return load_model(demo_model_path("fomo96_int8"))


@pytest.fixture(scope="session")
def fomo_input() -> np.ndarray:
    return np.asarray(load_demo_input("fomo96", 0))


@dataclass
class ManualClock:
    """A monotonic clock the test advances by hand."""

    now_s: float = 1000.0

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@dataclass
class WirePeer:
    """An in-process edge: decodes frames, runs tails, answers with the next cut."""

    graph: ModelGraph
    next_cut: Callable[[int], int] = lambda cut: cut
    next_probe: Callable[[int], bool] = lambda cut: False
    """Whether the next cut the peer answers with is a probe (the header's probe bit)."""
    refuse_alongside: bool = False
    start_cut: int = 0
    alive: bool = True
    garbage: bool = False
    models: set[str] = field(default_factory=set)
    max_frame_bytes: int = 4 << 20
    registered: set[str] = field(default_factory=set)
    requests: list[Message] = field(default_factory=list)
    records: list[OfflineRecord] = field(default_factory=list)
    device_only_records: list[OfflineRecord] = field(default_factory=list)
    payload_sizes: list[int] = field(default_factory=list)
    _tails: dict[int, SegmentExecutor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.models = self.models or {self.graph.model_id}

    def request(self, payload: bytes, *, timeout_s: float) -> bytes:
        assert timeout_s > 0
        if not self.alive:
            raise TransportError("edge at loopback peer refused the connection (not running?)")
        if self.garbage:
            return b"\x00garbage"
        message = decode(payload)
        if self.refuse_alongside and isinstance(message, InferRequest) and message.alongside:
            raise TransportError("edge at loopback peer dropped the probe (refuse_alongside)")
        self.requests.append(message)
        self.payload_sizes.append(len(payload))
        return encode(self._answer(message))

    def close(self) -> None:
        pass

    def _answer(self, message: Message) -> Message:
        if isinstance(message, Register):
            if message.model_id not in self.models:
                return ErrorFrame(
                    code=ErrorCode.UNKNOWN_MODEL,
                    reason=f"model {message.model_id} is not served here",
                    device_id=message.device_id,
                )
            self.registered.add(message.device_id)
            return RegisterAck(
                device_id=message.device_id,
                model_id=message.model_id,
                num_ops=self.graph.num_ops,
                cut=self.start_cut,
                max_frame_bytes=self.max_frame_bytes,
            )
        assert isinstance(message, InferRequest | OfflineReport | DeviceOnlyReport)
        if message.device_id not in self.registered:
            return ErrorFrame(
                code=ErrorCode.UNKNOWN_DEVICE,
                reason="register first",
                device_id=message.device_id,
            )
        if isinstance(message, DeviceOnlyReport):
            self.device_only_records.extend(message.records)
            return OfflineAck(
                device_id=message.device_id,
                model_id=message.model_id,
                accepted=len(message.records),
                next_cut=(cut := self.next_cut(self.graph.num_ops)),
                next_probe=self.next_probe(cut),
            )
        if isinstance(message, OfflineReport):
            self.records.extend(message.records)
            return OfflineAck(
                device_id=message.device_id,
                model_id=message.model_id,
                accepted=len(message.records),
                next_cut=self.start_cut,
            )
        return self._infer(message)

    def _infer(self, message: InferRequest) -> InferResponse:
        tensors: tuple[Tensor, ...] = ()
        if message.cut < self.graph.num_ops:
            tail = self._tails.get(message.cut)
            if tail is None:
                tail = SegmentExecutor(split_model(self.graph, message.cut).tail or b"")
                self._tails[message.cut] = tail
            outputs = tail.run({t.name: t.array for t in message.tensors})
            tensors = tuple(Tensor(name=n, array=a) for n, a in outputs.items())
        return InferResponse(
            device_id=message.device_id,
            model_id=message.model_id,
            seq=message.seq,
            cut=message.cut,
            next_cut=(cut := self.next_cut(message.cut)),
            tensors=tensors,
            edge_seconds=0.0,
            next_probe=self.next_probe(cut),
        )

    def infer_requests(self) -> list[InferRequest]:
        return [m for m in self.requests if isinstance(m, InferRequest)]

    def device_only_reports(self) -> list[DeviceOnlyReport]:
        return [m for m in self.requests if isinstance(m, DeviceOnlyReport)]


@pytest.fixture
def peer(fomo_graph: ModelGraph) -> WirePeer:
    return WirePeer(graph=fomo_graph)


@pytest.fixture
def make_peer(fomo_graph: ModelGraph) -> Callable[..., WirePeer]:
    def make(**kwargs: object) -> WirePeer:
        kwargs.setdefault("graph", fomo_graph)
        return WirePeer(**kwargs)  # type: ignore[arg-type]

    return make
