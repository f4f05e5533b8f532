"""A real link trace in the live path: EmulatedTransport over a TraceLink to a real edge."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sciot.edge import EdgeConfig, RunningServer, start_edge
from sciot.sim import PACKET_BYTES, Trace, TraceLink, read_trace
from sciot.transport import EmulatedTransport, HttpClientTransport, LinkEmulator


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    path = tmp_path_factory.mktemp("trace") / "telemetry.sqlite"
    config = EdgeConfig.from_mapping(
        {"host": "127.0.0.1", "port": 0, "telemetry": {"path": str(path)}}
    )
    running, _app = start_edge(config)
    try:
        yield running
    finally:
        running.stop()


class _FakeTime:
    """A clock that moves only when slept on: the emulated delays are recorded, not waited."""

    def __init__(self) -> None:
        self.now_s = 0.0
        self.slept_s: list[float] = []

    def clock(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        self.slept_s.append(seconds)
        self.now_s += seconds


def _every_ms() -> Trace:
    return Trace("every-ms", np.arange(10_000, dtype=np.int64), 10_000)


def test_the_trace_link_is_a_link_emulator() -> None:
    assert isinstance(TraceLink(_every_ms(), _every_ms()), LinkEmulator)


def test_request_and_reply_cross_their_own_direction(server: RunningServer) -> None:
    up = _every_ms()
    down = Trace("every-10ms", np.arange(0, 10_000, 10, dtype=np.int64), 10_000)
    link = TraceLink(up, down, one_way_s=0.004)
    fake = _FakeTime()
    transport = EmulatedTransport(
        HttpClientTransport(server.http_url),
        link,
        rng=np.random.default_rng(0),
        clock=fake.clock,
        sleep=fake.sleep,
    )
    payload = b"\x00" * (5 * PACKET_BYTES)
    reply = transport.request(payload, timeout_s=5.0)
    transport.close()
    # Up: 5 packets in ms 0..4, done at 5 ms, +4 ms. Down: the reply's packets from the first
    # 10 ms opportunity at or after 9 ms, one per 10 ms, +4 ms.
    packets_down = -(-len(reply) // PACKET_BYTES)
    expected = 0.005 + 0.004 + (10 * packets_down + 1) / 1e3 - 0.009 + 0.004
    assert fake.slept_s == [pytest.approx(expected)]


def test_two_devices_on_one_trace_link_queue_behind_each_other(server: RunningServer) -> None:
    link = TraceLink(_every_ms(), _every_ms(), one_way_s=0.0)
    fakes = [_FakeTime(), _FakeTime()]
    transports = [
        EmulatedTransport(
            HttpClientTransport(server.http_url),
            link,
            rng=np.random.default_rng(i),
            clock=fake.clock,
            sleep=fake.sleep,
        )
        for i, fake in enumerate(fakes)
    ]
    big = b"\x00" * (20 * PACKET_BYTES)
    transports[0].request(big, timeout_s=5.0)
    transports[1].request(big, timeout_s=5.0)  # sent at the same instant, behind the first
    for transport in transports:
        transport.close()
    first, second = fakes[0].slept_s[0], fakes[1].slept_s[0]
    assert first >= 0.020 and second >= first + 0.020


def test_a_shared_trace_slows_a_big_tensor_in_the_live_path(server: RunningServer) -> None:
    from reference_data import reference_dir

    root = reference_dir()
    up = None if root is None else root / "cellular-traces" / "Verizon-EVDO-driving.up"
    if up is None or not Path(up).is_file():
        pytest.skip("shared cellular traces not found")
    trace = read_trace(up)
    link = TraceLink(trace, trace, one_way_s=0.005)
    fake = _FakeTime()
    fake.now_s = 5.0
    transport = EmulatedTransport(
        HttpClientTransport(server.http_url),
        link,
        rng=np.random.default_rng(0),
        clock=fake.clock,
        sleep=fake.sleep,
    )
    transport.request(b"\x00" * 100, timeout_s=30.0)
    transport.request(b"\x00" * 110_592, timeout_s=30.0)
    transport.close()
    small, big = fake.slept_s
    # EV-DO carries ~100 kB/s: the 110 kB input takes about a second, a tiny frame a packet.
    assert big > 0.3 and big > 10 * small
