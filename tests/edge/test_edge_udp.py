"""Split inference over UDP against the real edge: fragmentation, loss repair, refusals.

Loss is real loss: a relay between device and edge drops chosen datagrams, so recovery runs
through the actual NACK and retransmit paths over loopback sockets.
"""

from __future__ import annotations

import secrets
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from edge_testkit import Fomo, edge_config

from sciot.device import CutArtefacts, DeviceClient, DeviceConfig, InferenceMode
from sciot.edge import EdgeApp, RunningServer, start_edge
from sciot.edge._udp_listener import UdpListener
from sciot.errors import TransportError
from sciot.transport import UdpClientTransport, client_transport
from sciot.transport._datagram import DatagramKind, decode_fragment, fragments
from sciot.wire import (
    DeviceProfile,
    ErrorCode,
    ErrorFrame,
    InferResponse,
    Register,
    RegisterAck,
    decode,
    encode,
)

INTERIOR_CUT = 13  # 9 KiB: 7 fragments
BIG_CUT = 4  # 432 KiB: ~300 fragments


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[tuple[RunningServer, EdgeApp, UdpListener]]:
    server, app = start_edge(edge_config(tmp_path))
    listener = UdpListener(app.core).start()
    try:
        yield server, app, listener
    finally:
        listener.stop()
        server.stop()


def _register(device_id: str, fomo: Fomo) -> bytes:
    return encode(
        Register(device_id=device_id, model_id=fomo.graph.model_id, profile=DeviceProfile())
    )


def _device(
    url: str, fomo: Fomo, device_id: str, cut: int, timeout_s: float = 10.0
) -> DeviceClient:
    config = DeviceConfig.from_mapping(
        {"device_id": device_id, "timeout_s": timeout_s, "initial_cut": cut}
    )
    return DeviceClient(config, client_transport(url), artefacts=CutArtefacts(fomo.graph))


@pytest.mark.parametrize("cut", [INTERIOR_CUT, BIG_CUT])
def test_split_over_udp_equals_the_whole_model(
    edge: tuple[RunningServer, EdgeApp, UdpListener], fomo: Fomo, cut: int
) -> None:
    _, _, listener = edge
    with _device(listener.url, fomo, f"udp-{cut}", cut) as client:
        assert client.start()
        outcome = client.infer(np.asarray(fomo.crossing[0][0].array))
        assert outcome.mode is InferenceMode.SPLIT, outcome.reason
        assert outcome.cut == cut
        assert np.array_equal(next(iter(outcome.outputs.values())), fomo.expected)


class LossyRelay:
    """Forwards datagrams between one device and the edge, dropping those ``drop`` picks."""

    def __init__(self, edge_port: int, drop: Callable[[str, bytes], bool]) -> None:
        self._edge = ("127.0.0.1", edge_port)
        self._drop = drop
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind(("127.0.0.1", 0))
        for s in (self.front, self.back):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.dropped = 0
        self._device: tuple[str, int] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"udp://127.0.0.1:{self.front.getsockname()[1]}"

    def _run(self) -> None:
        deadline = time.monotonic() + 60.0
        while not self._stop.is_set() and time.monotonic() < deadline:
            ready, _, _ = select.select([self.front, self.back], [], [], 0.05)
            for s in ready:
                data, addr = s.recvfrom(70_000)
                if s is self.front:
                    self._device = addr
                    direction, target = "up", self._edge
                else:
                    direction, target = "down", self._device
                if self._drop(direction, data):
                    self.dropped += 1
                elif target is not None:
                    (self.back if s is self.front else self.front).sendto(data, target)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self.front.close()
        self.back.close()


def _first_time(
    direction: str, kind: DatagramKind, indices: set[int]
) -> Callable[[str, bytes], bool]:
    """Drop the first copy of each listed fragment index of one kind going one way."""
    seen: set[int] = set()

    def drop(way: str, data: bytes) -> bool:
        if way != direction:
            return False
        f = decode_fragment(data, max_frame_bytes=1 << 26)
        if f.kind is not kind or f.count < 2 or f.index not in indices or f.index in seen:
            return False
        seen.add(f.index)
        return True

    return drop


@pytest.mark.parametrize(
    ("direction", "kind", "indices"),
    [
        ("up", DatagramKind.REQUEST, {1, 4}),  # repaired by the edge's NACK
        ("up", DatagramKind.REQUEST, {6}),  # the flagged last one: by the retransmit timer
        ("down", DatagramKind.REPLY, {0}),  # a reply fragment: by the device's NACK
    ],
)
def test_lost_fragments_are_resent_and_the_result_is_still_exact(
    edge: tuple[RunningServer, EdgeApp, UdpListener],
    fomo: Fomo,
    direction: str,
    kind: DatagramKind,
    indices: set[int],
) -> None:
    _, app, listener = edge
    relay = LossyRelay(listener.port, _first_time(direction, kind, indices))
    transport = UdpClientTransport(relay.url + "?datagram_bytes=1400")
    try:
        ack = decode(transport.request(_register("lossy", fomo), timeout_s=5.0))
        assert isinstance(ack, RegisterAck)
        # The reply of cut 4 is small, so reply loss is exercised on the big request's echo:
        # use edge-only (cut 0, 110 KiB request) with a downlink of a few fragments instead.
        cut = INTERIOR_CUT if direction == "up" else 0
        # A 2 s timeout retransmits after 0.4 s when neither side can NACK.
        reply = decode(
            transport.request(encode(fomo.request(cut, device_id="lossy")), timeout_s=2.0)
        )
    finally:
        transport.close()
        relay.close()
    assert isinstance(reply, InferResponse)
    assert np.array_equal(reply.tensors[0].array, fomo.expected)
    assert relay.dropped >= 1
    assert app.core.devices["lossy"].inferences == 1  # repaired, never run twice


def test_a_fragment_that_never_arrives_times_out_and_the_device_runs_locally(
    edge: tuple[RunningServer, EdgeApp, UdpListener], fomo: Fomo
) -> None:
    _, app, listener = edge

    def always(way: str, data: bytes) -> bool:
        f = decode_fragment(data, max_frame_bytes=1 << 26)
        return way == "up" and f.kind is DatagramKind.REQUEST and f.count > 1 and f.index == 3

    relay = LossyRelay(listener.port, always)
    try:
        with _device(relay.url, fomo, "hole", INTERIOR_CUT, timeout_s=0.5) as client:
            assert client.start()  # registration fits one datagram
            outcome = client.infer(np.asarray(fomo.crossing[0][0].array))
    finally:
        relay.close()
    assert outcome.mode is InferenceMode.LOCAL
    assert "no whole reply" in (outcome.reason or "")
    assert np.array_equal(next(iter(outcome.outputs.values())), fomo.expected)
    assert app.core.devices["hole"].split == 0  # the tail never ran on a partial frame


def test_a_datagram_storm_is_absorbed_and_others_still_served(
    edge: tuple[RunningServer, EdgeApp, UdpListener], fomo: Fomo
) -> None:
    _, _, listener = edge
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as storm:
        target = ("127.0.0.1", listener.port)
        for n in range(3000):
            storm.sendto(secrets.token_bytes(64 + n % 900), target)  # junk
        for message_id in range(2000):  # first fragments that never complete
            storm.sendto(fragments(DatagramKind.REQUEST, message_id, b"q" * 8000)[0], target)
    transport = UdpClientTransport(listener.url)
    try:
        ack = decode(transport.request(_register("calm", fomo), timeout_s=10.0))
        assert isinstance(ack, RegisterAck)
        reply = decode(
            transport.request(encode(fomo.request(INTERIOR_CUT, device_id="calm")), timeout_s=10.0)
        )
        assert isinstance(reply, InferResponse)
    finally:
        transport.close()
    assert listener.rejected > 0
    assert listener.partial_messages <= 256


def test_unknown_device_and_oversized_frames_get_a_clear_refusal(
    tmp_path: Path, fomo: Fomo
) -> None:
    server, app = start_edge(edge_config(tmp_path, max_frame_bytes=64 * 1024))
    try:
        with UdpListener(app.core) as listener:
            transport = UdpClientTransport(listener.url)
            try:
                ghost = decode(
                    transport.request(
                        encode(fomo.request(INTERIOR_CUT, device_id="ghost")), timeout_s=5.0
                    )
                )
                assert isinstance(ghost, ErrorFrame) and ghost.code is ErrorCode.UNKNOWN_DEVICE
                assert isinstance(
                    decode(transport.request(_register("big", fomo), timeout_s=5.0)), RegisterAck
                )
                huge = decode(
                    transport.request(encode(fomo.request(BIG_CUT, device_id="big")), timeout_s=5.0)
                )
                assert isinstance(huge, ErrorFrame) and huge.code is ErrorCode.FRAME_TOO_LARGE
            finally:
                transport.close()
    finally:
        server.stop()


def test_nothing_listening_is_a_clear_transport_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    transport = UdpClientTransport(f"udp://127.0.0.1:{port}")
    with pytest.raises(TransportError, match=r"refused the datagram|no whole reply"):
        transport.request(b"x" * 40, timeout_s=0.5)
