"""EmulatedTransport against a real edge on loopback: delays, bandwidth, outages, the planner."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sciot.delays import DelaySpec
from sciot.device import CutArtefacts, DeviceClient, DeviceConfig, InferenceMode
from sciot.edge import EdgeApp, EdgeConfig, RunningServer, start_edge
from sciot.errors import ConfigError, TransportError
from sciot.sim import LinkModel, Window
from sciot.transport import EmulatedTransport, HttpClientTransport, LinkEmulator


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, EdgeApp]]:
    path = tmp_path_factory.mktemp("emulated") / "telemetry.sqlite"
    config = EdgeConfig.from_mapping(
        {"host": "127.0.0.1", "port": 0, "telemetry": {"path": str(path)}}
    )
    server, app = start_edge(config)
    try:
        yield server, app
    finally:
        server.stop()


class _FakeTime:
    """A clock that only moves when slept on: the delays slept are recorded, never waited."""

    def __init__(self) -> None:
        self.now_s = 0.0
        self.slept_s: list[float] = []

    def clock(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        self.slept_s.append(seconds)
        self.now_s += seconds


def _emulated(
    server: RunningServer, link: LinkEmulator, fake: _FakeTime, seed: int = 0
) -> EmulatedTransport:
    return EmulatedTransport(
        HttpClientTransport(server.http_url),
        link,
        rng=np.random.default_rng(seed),
        clock=fake.clock,
        sleep=fake.sleep,
    )


def test_link_model_is_a_link_emulator() -> None:
    assert isinstance(LinkModel(rtt_s=0.01, bytes_per_s=1e6), LinkEmulator)


def test_delays_follow_the_distribution(edge: tuple[RunningServer, EdgeApp]) -> None:
    server, _ = edge
    jitter = DelaySpec.exponential(0.004)
    link = LinkModel(rtt_s=0.010, bytes_per_s=1e6, jitter=jitter)
    fake = _FakeTime()
    transport = _emulated(server, link, fake)
    payload = b"\x00" * 1000
    count = 400
    replies = [transport.request(payload, timeout_s=5.0) for _ in range(count)]
    transport.close()
    total_bytes = len(payload) + len(replies[0])
    expected_s = link.expected_s(total_bytes, 0.0)
    slept = np.array(fake.slept_s)
    # Mean within 4 standard errors of the exponential's (its std equals its mean).
    assert abs(slept.mean() - expected_s) < 4 * 0.004 / math.sqrt(count)
    assert slept.min() >= 0.010 + total_bytes / 1e6 - 1e-12
    assert slept.std() == pytest.approx(0.004, rel=0.2)


def test_bandwidth_makes_big_payloads_slower(edge: tuple[RunningServer, EdgeApp]) -> None:
    server, _ = edge
    fake = _FakeTime()
    transport = _emulated(server, LinkModel(rtt_s=0.002, bytes_per_s=2.5e6), fake)
    small = transport.request(b"\x01" * 100, timeout_s=5.0)
    small_s = fake.slept_s[-1]
    big = transport.request(b"\x01" * 200_000, timeout_s=5.0)
    big_s = fake.slept_s[-1]
    transport.close()
    assert big_s - small_s == pytest.approx((200_000 + len(big) - 100 - len(small)) / 2.5e6)
    assert big_s > 10 * small_s


def test_outage_is_a_dead_link(edge: tuple[RunningServer, EdgeApp]) -> None:
    server, app = edge
    fake = _FakeTime()
    link = LinkModel(rtt_s=0.001, bytes_per_s=1e6, outages=(Window(start_s=0.0, end_s=1.0),))
    transport = _emulated(server, link, fake)
    frames_before = app.core.frames
    with pytest.raises(TransportError, match="link down"):
        transport.request(b"\x00" * 10, timeout_s=0.25)
    assert fake.slept_s == [0.25]  # waited its timeout, as a real dead link makes it
    assert app.core.frames == frames_before  # nothing reached the edge
    assert transport.last_exchange is not None and transport.last_exchange.dropped
    fake.now_s = 1.0  # the outage is over
    transport.request(b"\x00" * 10, timeout_s=0.25)
    assert app.core.frames == frames_before + 1
    transport.close()


def test_too_slow_link_times_out(edge: tuple[RunningServer, EdgeApp]) -> None:
    server, _ = edge
    fake = _FakeTime()
    transport = _emulated(server, LinkModel(rtt_s=0.5, bytes_per_s=1e6), fake)
    with pytest.raises(TransportError, match="too slow"):
        transport.request(b"\x00", timeout_s=0.1)
    assert fake.slept_s == [0.1]
    transport.close()


def test_loss_probability_drops_about_that_share(edge: tuple[RunningServer, EdgeApp]) -> None:
    server, _ = edge
    fake = _FakeTime()
    transport = EmulatedTransport(
        HttpClientTransport(server.http_url),
        LinkModel(rtt_s=0.0, bytes_per_s=1e9),
        rng=np.random.default_rng(3),
        loss_probability=0.3,
        clock=fake.clock,
        sleep=fake.sleep,
    )
    lost = 0
    for _ in range(200):
        try:
            transport.request(b"\x00", timeout_s=0.01)
        except TransportError:
            lost += 1
    transport.close()
    assert 40 <= lost <= 80


def test_bad_settings_are_config_errors(edge: tuple[RunningServer, EdgeApp]) -> None:
    server, _ = edge
    inner = HttpClientTransport(server.http_url)
    link = LinkModel(rtt_s=0.0, bytes_per_s=1e6)
    with pytest.raises(ConfigError, match="loss_probability"):
        EmulatedTransport(inner, link, rng=np.random.default_rng(0), loss_probability=1.5)
    with pytest.raises(ConfigError, match="delay_s"):
        EmulatedTransport(inner, object(), rng=np.random.default_rng(0))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="timeout_s"):
        EmulatedTransport(inner, link, rng=np.random.default_rng(0)).request(b"", timeout_s=0)


@pytest.mark.slow
def test_device_client_measures_the_emulated_link(
    edge: tuple[RunningServer, EdgeApp], tmp_path: Path
) -> None:
    """Real sleeps on a real clock: the device's measured network time includes the link's
    delay, and the edge-only request (110 kB) pays the bandwidth on top of the round trip."""
    server, _ = edge
    link = LinkModel(rtt_s=0.008, bytes_per_s=5e6)
    transport = EmulatedTransport(
        HttpClientTransport(server.http_url), link, rng=np.random.default_rng(0)
    )
    config = DeviceConfig.from_mapping(
        {"device_id": "emulated-0", "edge_url": server.http_url, "initial_cut": 0}
    )
    client = DeviceClient(config, transport, artefacts=CutArtefacts.from_source("fomo96"))
    assert client.start()
    array = np.zeros(client.artefacts.graph.inputs[0].shape, dtype=np.float32)
    started = time.perf_counter()
    outcome = client.infer(array)
    assert time.perf_counter() - started >= outcome.network_s
    transport.close()
    assert outcome.mode is InferenceMode.SPLIT and outcome.cut == 0
    exchange = transport.last_exchange
    assert exchange is not None and not exchange.dropped
    assert exchange.request_bytes > 110_000
    emulated_s = 0.008 + (exchange.request_bytes + exchange.reply_bytes) / 5e6
    assert exchange.emulated_delay_s == pytest.approx(emulated_s)
    assert outcome.network_s >= emulated_s
