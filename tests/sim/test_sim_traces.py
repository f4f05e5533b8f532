"""Mahimahi traces and the FIFO bottleneck link: exact delivery times, queueing, real traces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sim_testkit import TINY

from reference_data import reference_dir
from sciot.errors import ConfigError
from sciot.sim import PACKET_BYTES, RunConfig, Trace, TraceLink, read_trace, run_simulation
from sciot.sim.scenarios import TRACE_SCENARIOS

RNG = np.random.default_rng(0)


def _trace(ms: list[int], name: str = "t") -> Trace:
    return Trace(name, np.asarray(ms, dtype=np.int64), max(ms[-1], 1))


def _every_ms(length_ms: int = 1000) -> Trace:
    """One 1500-byte opportunity per millisecond: 1.5 MB/s."""
    return _trace(list(range(length_ms)))


def test_a_message_takes_one_opportunity_per_packet() -> None:
    link = TraceLink(_every_ms(), _every_ms(), one_way_s=0.0)
    # 3000 B = 2 packets, in ms 0 and 1: delivered at the end of ms 1.
    assert link.expected_exchange_s(3000, 0, 0.0, 0.0) == pytest.approx(0.002)
    # 3001 B = 3 packets; a big tensor waits behind its own packets.
    assert link.expected_exchange_s(3001, 0, 0.0, 0.0) == pytest.approx(0.003)
    assert link.expected_exchange_s(150_000, 0, 0.0, 0.0) == pytest.approx(0.100)


def test_propagation_edge_time_and_the_reply_direction() -> None:
    up = _every_ms()
    down = _trace(list(range(0, 1000, 10)))  # one packet per 10 ms downlink
    link = TraceLink(up, down, one_way_s=0.005)
    # Up: 1 packet, done at 1 ms, +5 ms; the edge takes 2 ms (8 ms); down: the next
    # opportunity at or after 8 ms is at 10 ms, done at 11 ms, +5 ms = 16 ms. Network = 14 ms.
    assert link.exchange_s(1000, 1000, 0.0, 0.002, RNG) == pytest.approx(0.014)


def test_fifo_queue_makes_the_second_message_wait_for_the_first() -> None:
    link = TraceLink(_every_ms(), _every_ms(), one_way_s=0.0)
    first = link.exchange_s(15_000, 0, 0.0)  # 10 packets: ms 0..9
    second = link.exchange_s(3000, 0, 0.0)  # 2 packets queued behind them: ms 10, 11
    assert first == pytest.approx(0.010)
    assert second == pytest.approx(0.012)
    # Looking ahead does not join the queue; a reset empties it.
    assert link.expected_exchange_s(1500, 0, 0.0, 0.0) == pytest.approx(0.013)
    assert link.expected_exchange_s(1500, 0, 0.0, 0.0) == pytest.approx(0.013)
    link.reset()
    assert link.exchange_s(1500, 0, 0.0) == pytest.approx(0.001)


def test_a_stall_in_the_trace_delays_delivery_and_the_trace_loops() -> None:
    trace = _trace([0, 1, 2, 500, 501, 1000])  # a 500 ms stall after 3 packets
    link = TraceLink(trace, trace, one_way_s=0.0)
    assert link.expected_exchange_s(4500, 0, 0.0, 0.0) == pytest.approx(0.003)
    assert link.expected_exchange_s(6000, 0, 0.0, 0.0) == pytest.approx(0.501)
    # After its end (1000 ms) the trace starts over: 1001 ms is opportunity 0 of loop 2.
    assert link.expected_exchange_s(1500, 0, 1.0005, 0.0) == pytest.approx(0.0015, abs=1e-9)
    assert trace.capacity_bytes_per_s(0.0, 0.1) == 3 * PACKET_BYTES / 0.1


def test_cross_traffic_takes_its_share_of_the_opportunities() -> None:
    trace = _every_ms(10_000)
    link = TraceLink(trace, trace, cross_traffic=0.5, seed=4)
    kept = len(link.uplink.opportunities_ms) / len(trace.opportunities_ms)
    assert 0.47 < kept < 0.53
    slow = link.expected_exchange_s(150_000, 0, 0.0, 0.0)
    assert 0.17 < slow - 2 * link.one_way_s < 0.23  # 100 packets at half the rate
    with pytest.raises(ConfigError, match="cross-traffic"):
        TraceLink(trace, trace, cross_traffic=1.0)


def test_reading_names_the_file_and_the_bad_line(tmp_path: Path) -> None:
    good = tmp_path / "good.up"
    good.write_text("1\n1\n3\n")
    trace = read_trace(good)
    assert trace.opportunities_ms.tolist() == [1, 1, 3] and trace.period_ms == 3
    bad = tmp_path / "bad.up"
    bad.write_text("1\n2\nfast\n")
    with pytest.raises(ConfigError, match=r"bad.up line 3: 'fast' is not a whole number"):
        read_trace(bad)
    back = tmp_path / "back.up"
    back.write_text("5\n4\n")
    with pytest.raises(ConfigError, match="line 2: times must be >= 0 and never decrease"):
        read_trace(back)
    empty = tmp_path / "empty.up"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match="no delivery opportunities"):
        read_trace(empty)
    with pytest.raises(ConfigError, match="cannot read link trace"):
        read_trace(tmp_path / "missing.up")


def _shared_trace(name: str) -> tuple[Path, Path]:
    root = reference_dir()
    if root is None or not (root / "cellular-traces" / f"{name}.up").is_file():
        pytest.skip("shared cellular traces not found")
    return root / "cellular-traces" / f"{name}.up", root / "cellular-traces" / f"{name}.down"


def test_shared_lte_trace_capacity_varies_and_a_big_tensor_costs_more() -> None:
    up, down = _shared_trace("TMobile-LTE-short")
    trace = read_trace(up)
    assert trace.period_ms == 140_000 and 1.5e6 < trace.mean_bytes_per_s < 1.8e6
    windows = [trace.capacity_bytes_per_s(t, 0.5) for t in np.arange(0, 60, 0.5)]
    assert max(windows) > 3 * min(windows), "a cellular link's capacity varies"
    link = TraceLink(trace, read_trace(down), one_way_s=0.005)
    small = [link.expected_exchange_s(2304, 0, t, 0.0) for t in range(60)]
    big = [link.expected_exchange_s(110_592, 0, t, 0.0) for t in range(60)]
    assert all(b >= s for b, s in zip(big, small, strict=True))
    assert np.mean(big) > 5 * np.mean(small)


def test_trace_scenarios_run_over_the_shared_trace(tmp_path: Path) -> None:
    up, down = _shared_trace("Verizon-EVDO-driving")
    with pytest.raises(ConfigError, match="--uplink-trace"):
        RunConfig(scenarios=("trace",))
    config = RunConfig(
        scenarios=("trace", "trace_multi_client"),
        policies=("adaptive", "edge-only", "oracle", "oracle-dynamic"),
        requests=300,
        duration_s=8.0,
        uplink_trace=str(up),
        downlink_trace=str(down),
    )
    result = run_simulation(config, tmp_path, model=TINY)
    means = {(r["scenario"], r["policy"]): r for r in result.summary}
    # EV-DO carries ~100 kB/s: the 110 kB input would take about a second, so nearly every
    # edge-only request times out (200 ms) and the device finishes it alone.
    edge_only = means[("trace", "edge-only")]
    assert int(edge_only["failed"]) > 0.9 * int(edge_only["inferences"])  # type: ignore[call-overload]
    assert float(edge_only["mean_ms"]) > 200  # type: ignore[arg-type]
    assert float(means[("trace", "oracle-dynamic")]["regret_dynamic"]) == 1.0  # type: ignore[arg-type]
    # The per-request bound offloads only what the trace lets through in time.
    assert float(means[("trace", "oracle-dynamic")]["mean_ms"]) < 0.5 * float(  # type: ignore[arg-type]
        edge_only["mean_ms"]  # type: ignore[arg-type]
    )
    assert set(TRACE_SCENARIOS) >= {"trace", "trace_multi_client", "trace_thermal"}


def test_a_trace_cannot_stand_in_for_a_bandwidth_step(tmp_path: Path) -> None:
    trace = tmp_path / "t.up"
    trace.write_text("\n".join(str(i) for i in range(100)))
    config = RunConfig(
        scenarios=("bandwidth_drop",), uplink_trace=str(trace), downlink_trace=str(trace)
    )
    with pytest.raises(ConfigError, match="bandwidth_drop"):
        run_simulation(config, tmp_path / "out", model=TINY)
    with pytest.raises(ConfigError, match="both --uplink-trace and --downlink-trace"):
        RunConfig(uplink_trace=str(trace))
    with pytest.raises(ConfigError, match="--downlink-trace: link trace"):
        RunConfig(uplink_trace=str(trace), downlink_trace=str(tmp_path / "nope"))
