"""Split inference over raw TCP against the real edge, and what the listener refuses.

The edge runs in-process (uvicorn for HTTP, plus the TCP listener over the same core); the
device side is the real :class:`DeviceClient` over :class:`TcpClientTransport`, or a raw
socket where a test must send bytes no client would.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from edge_testkit import Fomo, edge_config

from sciot.device import CutArtefacts, DeviceClient, DeviceConfig, InferenceMode
from sciot.edge import EdgeApp, RunningServer, start_edge
from sciot.edge._tcp_listener import TcpListener
from sciot.errors import TransportError
from sciot.transport import TcpClientTransport, client_transport
from sciot.wire import (
    DeviceProfile,
    ErrorCode,
    ErrorFrame,
    FrameDecoder,
    InferResponse,
    Register,
    RegisterAck,
    decode,
    encode,
)

INTERIOR_CUT = 13


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[tuple[RunningServer, EdgeApp, TcpListener]]:
    server, app = start_edge(edge_config(tmp_path))
    listener = TcpListener(app.core).start()
    try:
        yield server, app, listener
    finally:
        listener.stop()
        server.stop()


def _device(url: str, fomo: Fomo, device_id: str, cut: int) -> DeviceClient:
    config = DeviceConfig.from_mapping(
        {"device_id": device_id, "timeout_s": 10.0, "initial_cut": cut}
    )
    return DeviceClient(config, client_transport(url), artefacts=CutArtefacts(fomo.graph))


def _input(fomo: Fomo) -> np.ndarray:
    return np.asarray(fomo.crossing[0][0].array)


def _register(device_id: str, fomo: Fomo) -> bytes:
    return encode(
        Register(device_id=device_id, model_id=fomo.graph.model_id, profile=DeviceProfile())
    )


def _read_frame(sock: socket.socket) -> bytes:
    decoder = FrameDecoder(max_frame_bytes=1 << 22)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
        decoder.feed(chunk)
        if decoder.next_frame() is not None:
            return data


def test_split_over_tcp_equals_the_whole_model(
    edge: tuple[RunningServer, EdgeApp, TcpListener], fomo: Fomo
) -> None:
    _, _, listener = edge
    with _device(listener.url, fomo, "tcp-cam", INTERIOR_CUT) as client:
        assert client.start()
        outcome = client.infer(_input(fomo))
        assert outcome.mode is InferenceMode.SPLIT, outcome.reason
        assert outcome.cut == INTERIOR_CUT
        (result,) = outcome.outputs.values()
        assert np.array_equal(result, fomo.expected)
        for _ in range(5):  # later inferences reuse the connection, whatever cut comes next
            again = client.infer(_input(fomo))
            assert again.mode is not InferenceMode.LOCAL, again.reason
            assert np.array_equal(next(iter(again.outputs.values())), fomo.expected)
    assert listener.connections == 1


def test_many_devices_at_once_each_get_their_own_answers(
    edge: tuple[RunningServer, EdgeApp, TcpListener], fomo: Fomo
) -> None:
    _, app, listener = edge
    failures: list[str] = []

    def run(n: int) -> None:
        transport = TcpClientTransport(listener.url)
        try:
            ack = decode(transport.request(_register(f"d{n}", fomo), timeout_s=10.0))
            if not isinstance(ack, RegisterAck) or ack.device_id != f"d{n}":
                failures.append(f"d{n}: {ack}")
                return
            for seq in range(1, 11):
                reply = decode(
                    transport.request(
                        encode(fomo.request(INTERIOR_CUT, device_id=f"d{n}", seq=seq)),
                        timeout_s=10.0,
                    )
                )
                if not isinstance(reply, InferResponse) or reply.seq != seq:
                    failures.append(f"d{n} seq {seq}: {reply}")
                    return
                if not np.array_equal(reply.tensors[0].array, fomo.expected):
                    failures.append(f"d{n} seq {seq}: wrong result")
        finally:
            transport.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60.0)
    assert failures == []
    assert {f"d{n}" for n in range(8)} <= set(app.core.devices)
    assert listener.connections == 8


def _raw(listener: TcpListener) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", listener.port), timeout=10.0)
    return sock


def _assert_still_serving(listener: TcpListener, fomo: Fomo) -> None:
    transport = TcpClientTransport(listener.url)
    try:
        reply = decode(transport.request(_register("healthy", fomo), timeout_s=10.0))
        assert isinstance(reply, RegisterAck)
    finally:
        transport.close()


def test_junk_is_refused_and_the_connection_closed(
    edge: tuple[RunningServer, EdgeApp, TcpListener], fomo: Fomo
) -> None:
    _, _, listener = edge
    with _raw(listener) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        reply = decode(_read_frame(sock))
        assert isinstance(reply, ErrorFrame)
        assert reply.code is ErrorCode.MALFORMED
        assert "not a sciot frame" in reply.reason
        assert sock.recv(1) == b""  # closed: a stream cannot resynchronise
    _assert_still_serving(listener, fomo)


def test_a_length_prefix_beyond_the_limit_is_refused_before_reading(
    edge: tuple[RunningServer, EdgeApp, TcpListener], fomo: Fomo
) -> None:
    _, app, listener = edge
    frame = bytearray(_register("big", fomo))
    struct.pack_into("<I", frame, 4, app.core.max_frame_bytes + 1)
    with _raw(listener) as sock:
        sock.sendall(frame[:8])  # the prefix alone is enough to refuse
        reply = decode(_read_frame(sock))
        assert isinstance(reply, ErrorFrame)
        assert reply.code is ErrorCode.FRAME_TOO_LARGE
    _assert_still_serving(listener, fomo)


def test_a_wrong_length_prefix_is_refused_not_misread(
    edge: tuple[RunningServer, EdgeApp, TcpListener], fomo: Fomo
) -> None:
    _, _, listener = edge
    frame = bytearray(_register("short", fomo))
    struct.pack_into("<I", frame, 4, len(frame) - 3)  # claims 3 bytes fewer than it has
    with _raw(listener) as sock:
        sock.sendall(frame)
        reply = decode(_read_frame(sock))
        assert isinstance(reply, ErrorFrame)
        assert reply.code is ErrorCode.MALFORMED
    _assert_still_serving(listener, fomo)


def test_a_truncated_frame_times_out_with_a_refusal(tmp_path: Path, fomo: Fomo) -> None:
    server, app = start_edge(edge_config(tmp_path))
    try:
        with TcpListener(app.core, frame_timeout_s=0.3) as listener:
            frame = _register("cut-short", fomo)
            with _raw(listener) as sock:
                sock.sendall(frame[: len(frame) - 5])
                reply = decode(_read_frame(sock))
                assert isinstance(reply, ErrorFrame)
                assert reply.code is ErrorCode.MALFORMED
                assert "stopped arriving" in reply.reason
            with _raw(listener) as sock:  # a peer that hangs up mid-frame: nothing to answer
                sock.sendall(frame[:20])
            _assert_still_serving(listener, fomo)
    finally:
        server.stop()


def test_an_unknown_device_is_refused_and_the_connection_kept(
    edge: tuple[RunningServer, EdgeApp, TcpListener], fomo: Fomo
) -> None:
    _, _, listener = edge
    transport = TcpClientTransport(listener.url)
    try:
        request = encode(fomo.request(INTERIOR_CUT, device_id="stranger"))
        reply = decode(transport.request(request, timeout_s=10.0))
        assert isinstance(reply, ErrorFrame)
        assert reply.code is ErrorCode.UNKNOWN_DEVICE
        ack = decode(transport.request(_register("stranger", fomo), timeout_s=10.0))
        assert isinstance(ack, RegisterAck)
    finally:
        transport.close()
    assert listener.connections == 1


def test_the_client_names_an_edge_that_is_not_listening() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    transport = TcpClientTransport(f"tcp://127.0.0.1:{port}")
    with pytest.raises(TransportError, match="refused the connection"):
        transport.request(b"x" * 40, timeout_s=1.0)
