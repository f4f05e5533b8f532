"""Device-only inference with a real edge on loopback: what the periodic reports cost.

When the planner chooses device-only, the device runs the whole model and needs nothing from
the edge. This bench measures a real :class:`sciot.device.DeviceClient` held at device-only by
an edge with the ``fixed:N`` policy, in three ways, each for ``--seconds``:

- ``local``: the whole model through the device's prepared interpreter, no client, no network
  (the baseline: what device-only should cost);
- ``report_every=1``: one report round trip per inference, the cost device-only had when every
  inference waited for the edge's reply;
- ``batched``: the defaults (a report every 64 inferences or 0.5 s).

Each runs on the bare loopback and behind an emulated link delay (``--delay-ms``, slept in a
thin transport wrapper before the real HTTP call). The edge runs in-process (uvicorn in a
thread), so its CPU shares the interpreter lock with the device: round trips look somewhat
dearer than between two machines, which only favours the per-inference variant's baseline.

    .venv/bin/python bench/bench_device_only.py [--seconds 2] [--delay-ms 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from sciot.device import CutArtefacts, DeviceClient, DeviceConfig
from sciot.edge import EdgeConfig, start_edge
from sciot.model import load_model
from sciot.model.zoo import demo_model_path, load_demo_input
from sciot.transport import HttpClientTransport


class DelayedLink:
    """The real HTTP transport behind a fixed one-way-sum delay per call."""

    def __init__(self, inner: HttpClientTransport, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s
        self.calls = 0

    def request(self, payload: bytes, *, timeout_s: float) -> bytes:
        self.calls += 1
        if self.delay_s > 0.0:
            time.sleep(self.delay_s)
        return self.inner.request(payload, timeout_s=timeout_s)

    def close(self) -> None:
        self.inner.close()


Row = tuple[float, float, float, int]  # inferences/s, p50 ms, p99 ms, network calls


def _summary(latencies: list[float], seconds: float, calls: int) -> Row:
    p50, p99 = np.percentile(latencies, [50, 99]) * 1e3
    return len(latencies) / seconds, float(p50), float(p99), calls


def _local(artefacts: CutArtefacts, x: np.ndarray, seconds: float) -> Row:
    latencies = []
    end_s = time.perf_counter() + seconds
    while time.perf_counter() < end_s:
        started = time.perf_counter()
        artefacts.run_full(x)
        latencies.append(time.perf_counter() - started)
    return _summary(latencies, seconds, 0)


def _client_run(
    url: str,
    artefacts: CutArtefacts,
    x: np.ndarray,
    seconds: float,
    delay_s: float,
    report_every: int,
    name: str,
) -> Row:
    config = DeviceConfig.from_mapping(
        {
            "device_id": name,
            "edge_url": url,
            "initial_cut": artefacts.num_ops,
            "report_every": report_every,
            "timeout_s": 10.0,
        }
    )
    link = DelayedLink(HttpClientTransport(url), delay_s)
    with DeviceClient(config, link, artefacts=artefacts) as client:
        client.start()
        for _ in range(20):  # warm-up
            client.infer(x)
        calls_before = link.calls
        latencies = []
        end_s = time.perf_counter() + seconds
        while time.perf_counter() < end_s:
            latencies.append(client.infer(x).total_s)
        calls = link.calls - calls_before
        assert client.stats().local_fallbacks == 0, "the edge was unreachable during the bench"
    return _summary(latencies, seconds, calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="measured seconds per row")
    parser.add_argument("--delay-ms", type=float, default=20.0, help="emulated link delay")
    args = parser.parse_args()
    graph = load_model(demo_model_path("fomo96"))
    artefacts = CutArtefacts(graph)
    x = np.asarray(load_demo_input("fomo96", 0))
    n = artefacts.num_ops
    with tempfile.TemporaryDirectory() as tmp:
        config = EdgeConfig.from_mapping(
            {
                "host": "127.0.0.1",
                "port": 0,
                "planner": {"policy": f"fixed:{n}"},
                "telemetry": {"path": str(Path(tmp) / "telemetry.sqlite")},
            }
        )
        server, _app = start_edge(config)
        rows = []
        try:
            base = _local(artefacts, x, args.seconds)
            rows.append(("local", "-", *base))
            for delay_ms in (0.0, args.delay_ms):
                for label, every in (("report_every=1", 1), ("batched", 64)):
                    result = _client_run(
                        server.http_url,
                        artefacts,
                        x,
                        args.seconds,
                        delay_ms / 1000.0,
                        every,
                        f"dev-{every}-{int(delay_ms)}",
                    )
                    rows.append((label, f"{delay_ms:g}", *result))
        finally:
            server.stop()
    print(f"model fomo96, device-only cut {n}, {args.seconds:g} s per row")
    header = (
        f"{'mode':<16}{'delay ms':>9}{'inf/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'calls':>7}"
        f"{'x local':>9}"
    )
    print(header)
    print("-" * len(header))
    for label, delay, rate, p50, p99, calls in rows:
        ratio = rate / base[0]
        print(f"{label:<16}{delay:>9}{rate:>10.0f}{p50:>9.3f}{p99:>9.3f}{calls:>7}{ratio:>9.2f}")
    print("x local: inferences per second relative to the model alone, measured in this run")


if __name__ == "__main__":
    main()
