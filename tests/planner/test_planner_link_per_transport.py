"""Network estimates per device and transport: each transport's transfers teach its own link,
and a decision uses the link of the transport the device talks over now."""

from __future__ import annotations

import pytest

from sciot.errors import PlannerError
from sciot.planner import Planner, Round, SplitSpace, Transfer, feed_round

SPACE = SplitSpace(num_ops=4, crossing_bytes=(4000, 3000, 2000, 1000, 0), result_bytes=10)
DEVICE_OPS = {op: 10e-3 for op in range(4)}  # a slow device: 40 ms alone
EDGE_OPS = {op: 0.1e-3 for op in range(4)}


def _transfers(transport: str, rtt_s: float, bytes_per_s: float) -> list[Transfer]:
    sizes = (500, 4000, 500, 4000, 500, 4000)
    return [Transfer(b, 10, rtt_s + (b + 10) / bytes_per_s, transport) for b in sizes]


def _round(transport: str, rtt_s: float, bytes_per_s: float) -> Round:
    transfers = _transfers(transport, rtt_s, bytes_per_s)
    return Round(device_ops=DEVICE_OPS, edge_ops=EDGE_OPS, transfers=transfers, transport=transport)


def test_a_device_is_planned_with_the_link_of_its_current_transport() -> None:
    planner = Planner(SPACE, "explore-greedy")
    planner.count_inferences("cam", SPACE.num_ops + 1)  # past its exploring: greedy from here
    fast = feed_round(planner, "cam", 1.0, _round("tcp", 1e-3, 50e6))
    assert fast.cut == 0  # over a fast link, offloading everything wins
    slow = feed_round(planner, "cam", 2.0, _round("lora", 0.2, 5e3))
    assert slow.cut == SPACE.num_ops  # over a slow one, the device runs alone
    state = planner.state("cam")
    assert set(state.links) == {"tcp", "lora"} and state.transport == "lora"
    assert state.links["tcp"].estimate(2.0).rtt_s == pytest.approx(1e-3, rel=0.1)

    # Back on TCP with nothing new measured: TCP's estimates decide at once.
    back = feed_round(planner, "cam", 3.0, Round(transport="tcp"))
    assert back.cut == 0 and state.link is state.links["tcp"]
    assert state.links["lora"].estimate(3.0).rtt_s == pytest.approx(0.2, rel=0.1)


def test_without_transport_names_one_link_is_kept() -> None:
    planner = Planner(SPACE, "neurosurgeon")
    for t in _transfers("tcp", 1e-3, 50e6):
        planner.observe_transfer(
            "cam", uplink_bytes=t.uplink_bytes, downlink_bytes=10, seconds=t.seconds, now_s=1.0
        )
    assert set(planner.state("cam").links) == {""}
    assert planner.state("cam").link.estimate(1.0).samples == 6


def test_a_transport_name_must_be_a_short_string() -> None:
    planner = Planner(SPACE, "neurosurgeon")
    with pytest.raises(PlannerError, match="transport must be a short name"):
        planner.use_transport("cam", "x" * 100)
