"""One device, two transports: the edge's planner keeps a link estimate for each and decides
with the one of the transport the device's latest frame came over."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from edge_testkit import Fomo, edge_config

from sciot.edge import EdgeApp, build_edge
from sciot.planner import DeviceState
from sciot.wire import DeviceProfile, InferResponse, Register, TransferSample, decode, encode

DEVICE = "cam-switch"
CUT = 3
FAST_RTT_S, FAST_BYTES_PER_S = 0.001, 50e6
SLOW_RTT_S, SLOW_BYTES_PER_S = 0.040, 1e6


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[EdgeApp]:
    # Not started: no planner thread, so the test runs each planner round itself.
    app = build_edge(edge_config(tmp_path))
    yield app
    app.stop()


def _sample(i: int, rtt_s: float, bytes_per_s: float) -> TransferSample:
    up = (2_000, 20_000)[i % 2]  # two sizes apart: enough to tell bandwidth from RTT
    return TransferSample(
        uplink_bytes=up, downlink_bytes=100, seconds=rtt_s + (up + 100) / bytes_per_s
    )


class _Device:
    def __init__(self, edge: EdgeApp, fomo: Fomo) -> None:
        self.edge, self.fomo, self.seq, self.now_s = edge, fomo, 0, 1000.0
        register = Register(device_id=DEVICE, model_id=fomo.graph.model_id, profile=DeviceProfile())
        assert edge.core.handle_frame(encode(register), self.now_s, transport="tcp").status == 200

    def infer(self, transport: str, sample: TransferSample) -> None:
        """One request over ``transport`` carrying the sample of the exchange before it."""
        self.seq += 1
        self.now_s += 0.1
        msg = replace(self.fomo.request(CUT, device_id=DEVICE, seq=self.seq), last_transfer=sample)
        reply = self.edge.core.handle_frame(encode(msg), self.now_s, transport=transport)
        assert reply.status == 200 and isinstance(decode(reply.frame), InferResponse)
        assert self.edge.core.plan_pending() == 1

    @property
    def state(self) -> DeviceState:
        return self.edge.core.planners[self.fomo.graph.model_id].state(DEVICE)


def _rtt_s(device: _Device, transport: str) -> float:
    return device.state.links[transport].estimate(device.now_s).rtt_s


def test_a_device_switching_transports_is_planned_with_each_ones_link(
    edge: EdgeApp, fomo: Fomo
) -> None:
    device = _Device(edge, fomo)
    for i in range(8):
        device.infer("tcp", _sample(i, FAST_RTT_S, FAST_BYTES_PER_S))
    assert device.state.transport == "tcp"
    assert device.state.link.estimate(device.now_s).rtt_s == pytest.approx(FAST_RTT_S, rel=0.2)

    # The first frame over MQTT still carries the last TCP exchange: it counts for TCP.
    device.infer("mqtt", _sample(8, FAST_RTT_S, FAST_BYTES_PER_S))
    tcp_samples = device.state.links["tcp"].estimate(device.now_s).samples
    assert tcp_samples == 9 and device.state.transport == "mqtt"
    for i in range(9, 17):
        device.infer("mqtt", _sample(i, SLOW_RTT_S, SLOW_BYTES_PER_S))
    slow = device.state.link.estimate(device.now_s)
    assert device.state.link is device.state.links["mqtt"]
    assert slow.identified and slow.rtt_s == pytest.approx(SLOW_RTT_S, rel=0.2)
    assert slow.bytes_per_s == pytest.approx(SLOW_BYTES_PER_S, rel=0.2)
    assert _rtt_s(device, "tcp") == pytest.approx(FAST_RTT_S, rel=0.2)  # untouched by MQTT's
    assert device.state.links["tcp"].estimate(device.now_s).samples == tcp_samples

    # Back over TCP: the fast estimates are there at once, the last MQTT sample goes to MQTT.
    device.infer("tcp", _sample(17, SLOW_RTT_S, SLOW_BYTES_PER_S))
    assert device.state.transport == "tcp"
    fast = device.state.link.estimate(device.now_s)
    assert fast.rtt_s == pytest.approx(FAST_RTT_S, rel=0.2)
    assert fast.bytes_per_s == pytest.approx(FAST_BYTES_PER_S, rel=0.2)
    assert _rtt_s(device, "mqtt") == pytest.approx(SLOW_RTT_S, rel=0.2)
