"""Device client cost and resilience on the FOMO 96x96 model, against the real edge on loopback.

Measured in one run, one device at a time; the configurations are interleaved in short slices
over ``--rounds`` rounds (so load from other processes hits them alike) and the median per-round
rate is reported:

- baseline: the whole model with a bare prebuilt ``SegmentExecutor`` (all-local, no client);
- baseline: a prebuilt request frame for the middle cut over a bare HTTP transport (the edge
  still runs the tail), to show the client's own cost per split inference;
- the client with the edge unreachable (local fallback: full model + offline record);
- the client splitting with an in-process edge over HTTP and WebSocket at fixed cuts
  (edge-only, a middle cut, device-only) and with the edge's adaptive planner;
- an outage: the edge stopped for ``--outage`` seconds mid-run and restarted on the same port;
  reported: inferences made during the outage, lost, uploaded, and the time from the restart
  to the first split inference again.

The edge runs in this process (uvicorn in a thread), so split rates include the edge's work on
the same two cores. Run: ``.venv/bin/python bench/bench_device.py`` (about 30 s).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sciot.device import (
    CutArtefacts,
    DeviceClient,
    DeviceConfig,
    InferenceMode,
    open_transport,
)
from sciot.edge import EdgeConfig, start_edge
from sciot.model import load_model
from sciot.model.zoo import demo_model_path, load_demo_input
from sciot.runtime import SegmentExecutor
from sciot.transport import ClientTransport, HttpClientTransport
from sciot.wire import InferRequest, Register, Tensor, encode

Step = Callable[[], tuple[float, int, bool]]
"""One inference: (latency seconds, request bytes, went to the edge)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    name: str
    rate_per_s: float
    p50_ms: float
    payload_bytes: float
    split_share: float


def _edge_config(workdir: Path, policy: str) -> EdgeConfig:
    return EdgeConfig.from_mapping(
        {
            "host": "127.0.0.1",
            "port": 0,
            "planner": {"policy": policy},
            "telemetry": {"path": str(workdir / f"telemetry-{policy.replace(':', '_')}.sqlite")},
        }
    )


def _client_step(client: DeviceClient, data: np.ndarray) -> Step:
    def step() -> tuple[float, int, bool]:
        outcome = client.infer(data)
        return outcome.total_s, outcome.payload_bytes, outcome.mode is not InferenceMode.LOCAL

    return step


def _bare_local_step(graph_bytes: bytes, input_name: str, data: np.ndarray) -> Step:
    executor = SegmentExecutor(graph_bytes)
    feed = {input_name: data}

    def step() -> tuple[float, int, bool]:
        t0 = time.perf_counter()
        executor.run(feed)
        return time.perf_counter() - t0, 0, False

    return step


def _bare_round_trip_step(
    transport: ClientTransport, artefacts: CutArtefacts, data: np.ndarray, cut: int
) -> Step:
    """A prebuilt request frame for ``cut`` over a bare transport: no head run, no
    bookkeeping, the edge still decodes it and runs the tail."""
    transport.request(
        encode(Register(device_id="bare", model_id=artefacts.model_id)), timeout_s=5.0
    )
    head = artefacts.run_head(cut, data, profile=False, clock=time.perf_counter)
    tensors = tuple(Tensor(name=n, array=a) for n, a in head.tensors.items())
    frames = [
        encode(
            InferRequest(
                device_id="bare", model_id=artefacts.model_id, seq=seq, cut=cut, tensors=tensors
            )
        )
        for seq in range(1, 4)
    ]
    sent = [0]

    def step() -> tuple[float, int, bool]:
        frame = frames[sent[0] % 3]
        sent[0] += 1
        t0 = time.perf_counter()
        transport.request(frame, timeout_s=5.0)
        return time.perf_counter() - t0, len(frame), True

    return step


def _interleaved(steps: dict[str, Step], rounds: int, slice_s: float) -> list[Row]:
    for step in steps.values():  # warm-up: connections open, planner past its first probes
        for _ in range(50):
            step()
    rates: dict[str, list[float]] = {name: [] for name in steps}
    samples: dict[str, list[tuple[float, int, bool]]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            count = 0
            started = time.perf_counter()
            while time.perf_counter() - started < slice_s:
                samples[name].append(step())
                count += 1
            rates[name].append(count / (time.perf_counter() - started))
    rows = []
    for name in steps:
        latency_s, payload, split = zip(*samples[name], strict=True)
        rows.append(
            Row(
                name=name,
                rate_per_s=float(np.median(rates[name])),
                p50_ms=float(np.median(latency_s)) * 1e3,
                payload_bytes=float(np.mean(payload)),
                split_share=float(np.mean(split)),
            )
        )
    return rows


def _client(url: str, artefacts: CutArtefacts, **overrides: Any) -> DeviceClient:
    config = DeviceConfig.from_mapping({"device_id": "bench", "edge_url": url, **overrides})
    return DeviceClient(config, open_transport(config), artefacts=artefacts)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _outage(
    workdir: Path, artefacts: CutArtefacts, data: np.ndarray, outage_s: float
) -> dict[str, float]:
    config = _edge_config(workdir, "adaptive")
    server, _ = start_edge(config)
    client = _client(
        server.http_url, artefacts, backoff={"initial_s": 0.05, "max_s": 0.5}, timeout_s=1.0
    )
    try:
        client.start()
        for _ in range(200):
            client.infer(data)
        server.stop()
        down_at = time.perf_counter()
        during = 0
        while time.perf_counter() - down_at < outage_s:
            client.infer(data)
            during += 1
        server, _ = start_edge(config, port=server.port)
        back_at = time.perf_counter()
        while client.infer(data).mode is InferenceMode.LOCAL:
            if time.perf_counter() - back_at > 10.0:
                raise RuntimeError("device never returned to split inference")
        recovered_s = time.perf_counter() - back_at
        flush_at = time.perf_counter()
        client.flush()
        flush_s = time.perf_counter() - flush_at
        stats = client.stats()
        return {
            "during": float(during),
            "recovered_ms": recovered_s * 1e3,
            "lost": float(stats.lost),
            "uploaded": float(stats.uploaded),
            "local": float(stats.local_fallbacks),
            "failures": float(stats.failures),
            "queued": float(stats.queued),
            "flush_ms": flush_s * 1e3,
        }
    finally:
        client.close()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="per configuration")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--outage", type=float, default=1.0, help="edge down time, seconds")
    args = parser.parse_args()
    logging.getLogger("sciot").setLevel(logging.ERROR)
    seconds = min(max(args.seconds, 0.2), 10.0)
    rounds = min(max(args.rounds, 1), 50)

    graph = load_model(demo_model_path("fomo96"))
    data = np.asarray(load_demo_input("fomo96", 0))
    t0 = time.perf_counter()
    artefacts = CutArtefacts(graph)
    prepare_s = time.perf_counter() - t0
    mid = graph.num_ops // 2

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        dead = stack.enter_context(
            _client(
                f"http://127.0.0.1:{_closed_port()}",
                artefacts,
                backoff={"initial_s": 3600, "max_s": 3600},
            )
        )
        dead.start()
        steps: dict[str, Step] = {
            "baseline: bare full model, no client": _bare_local_step(
                graph.model_bytes, artefacts.input_name, data
            ),
            "client, edge unreachable (local fallback)": _client_step(dead, data),
        }
        policies = [
            ("fixed:0", "edge-only"),
            (f"fixed:{mid}", f"cut {mid}"),
            (f"fixed:{graph.num_ops}", "device-only"),
            ("adaptive", "adaptive"),
        ]
        for policy, label in policies:
            server, _ = start_edge(_edge_config(workdir, policy))
            stack.callback(server.stop)
            if policy == f"fixed:{mid}":
                bare = stack.enter_context(contextlib.closing(HttpClientTransport(server.http_url)))
                steps[f"baseline: bare HTTP round trip, prebuilt cut-{mid} frame"] = (
                    _bare_round_trip_step(bare, artefacts, data, mid)
                )
            variants: list[tuple[str, dict[str, Any]]] = [
                (f"split http, {label}", {"transport": "http"}),
                (f"split ws, {label}", {"transport": "ws"}),
            ]
            if policy == f"fixed:{mid}":
                variants.append((f"split http, {label}, int8", {"crossing": {"int8": True}}))
            for name, overrides in variants:
                client = stack.enter_context(_client(server.http_url, artefacts, **overrides))
                client.start()
                steps[name] = _client_step(client, data)
        rows = _interleaved(steps, rounds, seconds / rounds)
        outage = _outage(workdir, artefacts, data, args.outage)

    base = rows[0].rate_per_s
    print(f"FOMO 96x96, {graph.num_ops} ops; all cut artefacts prepared in {prepare_s:.3f} s")
    print()
    print("| configuration | inferences/s | vs bare local | p50 ms | request bytes | split share |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row.name} | {row.rate_per_s:,.0f} | {row.rate_per_s / base:.3f} | "
            f"{row.p50_ms:.3f} | {row.payload_bytes:,.0f} | {row.split_share:.2f} |"
        )
    print()
    print(
        f"outage of {args.outage:.1f} s: {outage['during']:.0f} inferences made locally during "
        f"it, {outage['local']:.0f} local in all, {outage['failures']:.0f} failed calls; back to "
        f"split {outage['recovered_ms']:.0f} ms after the restart; {outage['uploaded']:.0f} "
        f"uploaded ({outage['flush_ms']:.0f} ms to flush the rest), {outage['queued']:.0f} "
        f"still queued, {outage['lost']:.0f} lost"
    )


if __name__ == "__main__":
    main()
