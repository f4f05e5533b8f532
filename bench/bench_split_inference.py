"""Split inference end to end on loopback: throughput, edge CPU per inference, edge memory.

The edge runs as a subprocess (``python -m sciot serve``) so its CPU time and resident memory
can be read from ``/proc/<pid>`` without touching the devices' share. Devices are real
:class:`sciot.device.DeviceClient` instances (head on the device, tail on the edge, one round
trip per inference) spread over worker processes so the devices' own Python does not serialise
on one interpreter lock. The baseline, measured in the same run, is all-local inference: the
whole model in LiteRT on the same machine, with the same number of concurrent devices.

    .venv/bin/python bench/bench_split_inference.py [--seconds 5] [--cut 24]

Every phase is bounded in time; the whole run takes about a minute.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CLK_TCK = os.sysconf("SC_CLK_TCK")
MODEL = "fomo96"


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def proc_rss_mb(pid: int) -> tuple[float, float]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


@dataclass
class Edge:
    process: subprocess.Popen[str]
    url: str

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_edge(workdir: Path, policy: str) -> Edge:
    cmd = [
        sys.executable,
        "-m",
        "sciot",
        "serve",
        "--port",
        "0",
        "--policy",
        policy,
        "--telemetry",
        str(workdir / f"telemetry-{time.monotonic_ns()}.sqlite"),
    ]
    process = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    line = ""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if " on http://" in line or not line:
            break
    if " on http://" not in line:
        process.kill()
        raise SystemExit(f"edge did not start: {line!r}")
    url = line.split(" on ", 1)[1].split()[0]
    return Edge(process=process, url=url)


def device_worker(
    first: int,
    count: int,
    url: str,
    transport: str,
    cut: int,
    seconds: float,
    ready: Any,
    go: Any,
    results: Any,
) -> None:
    """Run ``count`` device clients in threads, each in a loop for ``seconds`` after ``go``."""
    from sciot.device import DeviceClient, DeviceConfig, open_transport, sample_input

    clients = []
    for i in range(first, first + count):
        config = DeviceConfig.from_mapping(
            {
                "device_id": f"bench-{i:03d}",
                "edge_url": url,
                "transport": transport,
                "model": MODEL,
                "initial_cut": cut,
                "seed": i,
            }
        )
        client = DeviceClient(config, open_transport(config))
        client.start()
        clients.append((client, sample_input(client.artefacts, MODEL, i)))
    counts = {"inferences": 0, "split": 0, "local": 0}
    latencies: list[float] = []
    lock = threading.Lock()

    def loop(client: Any, data: np.ndarray) -> None:
        mine = {"inferences": 0, "split": 0, "local": 0}
        lat: list[float] = []
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            outcome = client.infer(data)
            mode = str(outcome.mode)
            mine["inferences"] += 1
            if mode in ("split", "local"):
                mine[mode] += 1
            lat.append(outcome.total_s)
        with lock:
            for key, value in mine.items():
                counts[key] += value
            latencies.extend(lat)

    ready.release()
    go.wait()
    threads = [threading.Thread(target=loop, args=c) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client, _ in clients:
        client.close()
    results.put((counts, latencies))


def replay_worker(
    first: int,
    count: int,
    url: str,
    transport: str,
    cut: int,
    seconds: float,
    ready: Any,
    go: Any,
    results: Any,
) -> None:
    """Devices reduced to their network side: the head output is computed once and replayed,
    so the edge, not the devices' Python, is what saturates the machine."""
    from sciot.model import load_model, split_model
    from sciot.model.zoo import demo_model_path, load_demo_input
    from sciot.runtime import SegmentExecutor
    from sciot.transport import client_transport
    from sciot.wire import InferRequest, InferResponse, Register, Tensor, decode, encode

    graph = load_model(demo_model_path(MODEL))
    head = split_model(graph, cut).head
    assert head is not None
    values = SegmentExecutor(head).run({graph.inputs[0].name: load_demo_input(MODEL, 0)})
    tensors = tuple(Tensor(name=n, array=values[n]) for n in graph.cut(cut).tensor_names)
    if transport == "ws":
        url = url.replace("http://", "ws://")
    sessions = []
    for i in range(first, first + count):
        device_id = f"replay-{i:03d}"
        t = client_transport(url)
        t.request(encode(Register(device_id=device_id, model_id=graph.model_id)), timeout_s=10)
        sessions.append((device_id, t))
    counts = {"inferences": 0, "split": 0, "local": 0}
    latencies: list[float] = []
    lock = threading.Lock()

    def loop(device_id: str, t: Any) -> None:
        n, lat, seq = 0, [], 0
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            seq += 1
            started = time.perf_counter()
            request = InferRequest(
                device_id=device_id, model_id=graph.model_id, seq=seq, cut=cut, tensors=tensors
            )
            reply = decode(t.request(encode(request), timeout_s=10))
            assert isinstance(reply, InferResponse)
            lat.append(time.perf_counter() - started)
            n += 1
        t.close()
        with lock:
            counts["inferences"] += n
            counts["split"] += n
            latencies.extend(lat)

    ready.release()
    go.wait()
    threads = [threading.Thread(target=loop, args=s) for s in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((counts, latencies))


def run_split(
    edge: Edge, devices: int, transport: str, cut: int, seconds: float, *, replay: bool = False
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    procs = 1 if devices == 1 else 2
    per = [devices // procs + (1 if i < devices % procs else 0) for i in range(procs)]
    ready = ctx.Semaphore(0)
    go = ctx.Event()
    results = ctx.Queue()
    workers = []
    first = 0
    for n in per:
        p = ctx.Process(
            target=replay_worker if replay else device_worker,
            args=(first, n, edge.url, transport, cut, seconds, ready, go, results),
        )
        p.start()
        workers.append(p)
        first += n
    for _ in workers:
        if not ready.acquire(timeout=120):
            raise SystemExit("device workers did not get ready")
    cpu0 = proc_cpu_s(edge.process.pid)
    t0 = time.perf_counter()
    go.set()
    collected = [results.get(timeout=seconds + 120) for _ in workers]
    elapsed = time.perf_counter() - t0
    cpu1 = proc_cpu_s(edge.process.pid)
    for p in workers:
        p.join(30)
    counts = {k: sum(c[0][k] for c in collected) for k in ("inferences", "split", "local")}
    latencies = np.array([x for c in collected for x in c[1]]) * 1000
    rss, peak = proc_rss_mb(edge.process.pid)
    split = counts["split"]
    return {
        "rate": split / elapsed,
        "inferences": counts["inferences"],
        "split": split,
        "local": counts["local"],
        "cpu_per_inf_s": (cpu1 - cpu0) / split if split else float("nan"),
        "p50_ms": float(np.percentile(latencies, 50)) if latencies.size else float("nan"),
        "p95_ms": float(np.percentile(latencies, 95)) if latencies.size else float("nan"),
        "rss_mb": rss,
        "peak_rss_mb": peak,
    }


def local_worker(count: int, seconds: float, ready: Any, go: Any, results: Any) -> None:
    from sciot.model import load_model
    from sciot.model.zoo import demo_model_path, load_demo_input
    from sciot.runtime import SegmentExecutor

    graph = load_model(demo_model_path(MODEL))
    name = graph.inputs[0].name
    runners = [
        (SegmentExecutor(graph.model_bytes), load_demo_input(MODEL, i)) for i in range(count)
    ]
    total = [0]
    lock = threading.Lock()

    def loop(executor: Any, data: np.ndarray) -> None:
        n = 0
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            executor.run({name: data})
            n += 1
        with lock:
            total[0] += n

    ready.release()
    go.wait()
    threads = [threading.Thread(target=loop, args=r) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(total[0])


def run_local(devices: int, seconds: float) -> float:
    ctx = mp.get_context("spawn")
    procs = 1 if devices == 1 else 2
    per = [devices // procs + (1 if i < devices % procs else 0) for i in range(procs)]
    ready, go, results = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=local_worker, args=(n, seconds, ready, go, results)) for n in per]
    for p in workers:
        p.start()
    for _ in workers:
        ready.acquire(timeout=120)
    t0 = time.perf_counter()
    go.set()
    total = sum(results.get(timeout=seconds + 120) for _ in workers)
    elapsed = time.perf_counter() - t0
    for p in workers:
        p.join(30)
    return total / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per phase")
    parser.add_argument("--cut", type=int, default=24, help="split point used by every device")
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--transports", nargs="+", default=["http", "ws"])
    parser.add_argument(
        "--no-replay",
        dest="replay",
        action="store_false",
        help="skip the edge-capacity phases (devices replaying a precomputed head output)",
    )
    args = parser.parse_args()
    seconds = min(max(args.seconds, 1.0), 30.0)

    from sciot.model import load_model
    from sciot.model.zoo import demo_model_path

    graph = load_model(demo_model_path(MODEL))
    print(
        f"model {MODEL}: {graph.num_ops} ops; cut {args.cut} sends "
        f"{graph.cut(args.cut).crossing_bytes} bytes; {os.cpu_count()} CPUs; {seconds:g} s/phase"
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="sciot-bench-") as tmp:
        for devices in args.devices:
            local_rate = run_local(devices, seconds)
            rows.append(("all-local", devices, "-", local_rate, None, None, None, None, 1.0))
            for transport, replay in [(t, False) for t in args.transports] + [
                (t, True) for t in args.transports if args.replay
            ]:
                edge = start_edge(Path(tmp), f"fixed:{args.cut}")
                try:
                    r = run_split(edge, devices, transport, args.cut, seconds, replay=replay)
                finally:
                    edge.stop()
                rows.append(
                    (
                        "replay" if replay else "split",
                        devices,
                        transport,
                        r["rate"],
                        r["cpu_per_inf_s"],
                        r["p50_ms"],
                        r["p95_ms"],
                        r["peak_rss_mb"],
                        r["rate"] / local_rate,
                    )
                )
                if r["local"]:
                    print(f"  note: {r['local']} local fallbacks in split/{transport}/{devices}")
    header = (
        f"{'mode':<10}{'devices':>8}{'transport':>10}{'inf/s':>10}{'edge CPU ms/inf':>17}"
        f"{'p50 ms':>8}{'p95 ms':>8}{'edge peak RSS MB':>18}{'x all-local':>13}"
    )
    print(header)
    print("-" * len(header))
    for mode, devices, transport, rate, cpu, p50, p95, rss, ratio in rows:

        def fmt(v: float | None, spec: str) -> str:
            return "-" if v is None else format(v, spec)

        print(
            f"{mode:<10}{devices:>8}{transport:>10}{rate:>10.0f}"
            f"{fmt(None if cpu is None else cpu * 1000, '.3f'):>17}"
            f"{fmt(p50, '.2f'):>8}{fmt(p95, '.2f'):>8}{fmt(rss, '.0f'):>18}{ratio:>13.2f}"
        )
    print(
        "SCIoT reference (measured on this machine, issue 5): ~10 inferences/s, "
        "0.47 server CPU-s per inference"
    )
    for mode, devices, transport, rate, cpu, *_ in rows:
        if mode in ("split", "replay") and cpu:
            print(
                f"  {mode:>6} {devices:>2} device(s) {transport:>4}: "
                f"{rate / 10:.0f}x SCIoT's rate, 1/{0.47 / cpu:.0f} of its server CPU per inference"
            )


if __name__ == "__main__":
    main()
