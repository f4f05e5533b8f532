"""Live emulation: how faithfully the emulated transport realises the link, and live vs virtual.

Run: .venv/bin/python bench/bench_sim_live.py          (about 70 s)

Part 1, fidelity: requests of three sizes (a 1 kB frame, cut 6's 18 kB tensor, the 110 kB
edge-only input) go to a real edge on loopback through an EmulatedTransport with a 3 ms round
trip at 2.5 MB/s (20 Mbit/s). The wall time of each round trip is compared with the link
model's expectation (RTT + bytes / bandwidth); the baseline, measured in the same run, is the
same request on bare loopback, whose time the emulated one adds to. Part 2, live vs virtual:
the same scenarios and policies through ``run_simulation`` with ``emulation="live"`` (a real
edge and device client, wall time) and ``"virtual"`` (virtual clock), 6 s each.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from sciot.edge import EdgeConfig, start_edge
from sciot.sim import LinkModel, RunConfig, run_simulation
from sciot.transport import EmulatedTransport, HttpClientTransport

SIZES = (("1 kB frame", 1_000), ("cut 6 tensor", 18_432), ("edge-only input", 110_592))
REPEATS = 60
RTT_S = 0.003
BYTES_PER_S = 2.5e6
SCENARIOS = ("baseline", "network_delay_20ms", "bandwidth_drop")
POLICIES = ("adaptive", "oracle")
DURATION_S = 6.0


def _median_s(transport: HttpClientTransport | EmulatedTransport, payload: bytes) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        transport.request(payload, timeout_s=5.0)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def fidelity(tmp: Path) -> None:
    config = EdgeConfig.from_mapping(
        {"port": 0, "telemetry": {"path": str(tmp / "telemetry.sqlite")}}
    )
    server, _app = start_edge(config)
    link = LinkModel(rtt_s=RTT_S, bytes_per_s=BYTES_PER_S)
    bare = HttpClientTransport(server.http_url)
    emulated = EmulatedTransport(
        HttpClientTransport(server.http_url), link, rng=np.random.default_rng(0)
    )
    print(
        f"\n1. fidelity: {REPEATS} round trips per row, median, link {RTT_S * 1e3:g} ms + "
        f"bytes / {BYTES_PER_S / 1e6:g} MB/s"
    )
    print(
        "| request | loopback ms (baseline) | emulated ms | model ms | emulated - loopback"
        " vs model |"
    )
    print("|---|---:|---:|---:|---:|")
    try:
        for label, size in SIZES:
            payload = b"\x00" * size
            bare_s = _median_s(bare, payload)
            emulated_s = _median_s(emulated, payload)
            exchange = emulated.last_exchange
            assert exchange is not None
            model_s = link.expected_s(exchange.request_bytes + exchange.reply_bytes, 0.0)
            ratio = (emulated_s - bare_s) / model_s
            print(
                f"| {label} ({size:,} B) | {bare_s * 1e3:.3f} | {emulated_s * 1e3:.3f} | "
                f"{model_s * 1e3:.3f} | {ratio:.3f}x |"
            )
    finally:
        bare.close()
        emulated.close()
        server.stop()


def live_vs_virtual(tmp: Path) -> None:
    means: dict[str, dict[tuple[str, str], float]] = {}
    walls: dict[str, float] = {}
    for emulation in ("virtual", "live"):
        config = RunConfig(
            scenarios=SCENARIOS,
            policies=POLICIES,
            requests=5000,
            duration_s=DURATION_S,
            emulation=emulation,
        )
        result = run_simulation(config, tmp / emulation)
        walls[emulation] = result.wall_s
        means[emulation] = {
            (str(r["scenario"]), str(r["policy"])): float(r["mean_ms"])  # type: ignore[arg-type]
            for r in result.summary
        }
    print(f"\n2. live vs virtual: {DURATION_S:g} s per scenario and policy, ESP32-S3 profile")
    print("| scenario | policy | virtual mean ms (baseline) | live mean ms | live / virtual |")
    print("|---|---|---:|---:|---:|")
    for key, virtual_ms in means["virtual"].items():
        live_ms = means["live"][key]
        print(
            f"| {key[0]} | {key[1]} | {virtual_ms:.2f} | {live_ms:.2f} | "
            f"{live_ms / virtual_ms:.3f}x |"
        )
    print(f"\nwall time: virtual {walls['virtual']:.1f} s, live {walls['live']:.1f} s")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fidelity(Path(tmp))
        live_vs_virtual(Path(tmp))


if __name__ == "__main__":
    main()
