"""Split inference end to end on loopback: throughput, edge CPU per inference, edge memory.

The edge runs as a subprocess (``python -m sciot serve``) so its CPU time and resident memory
can be read from ``/proc/<pid>`` without touching the devices' share. Devices are real
:class:`sciot.device.DeviceClient` instances (head on the device, tail on the edge, one round
trip per inference) spread over up to four worker processes, threads within each, so the devices'
own Python does not serialise on one interpreter lock (real devices are separate machines). The
baselines, measured in the same run and with the same number of concurrent devices, are (a)
all-local inference: the whole model in LiteRT in the device processes, no network; and (b) the
transport's ceiling: a bare HTTP server (the standard library's, one LiteRT interpreter per
thread, no framing, no planner, no telemetry) that runs the whole model on a raw input body,
driven by the same HTTP client the devices use. The headline ratios are split against these
two; SCIoT's own figure (~10 inferences/s, 0.47 server CPU-s each) was measured once on this
kind of machine, not in this run, and is printed only as that.

Every configuration is repeated (``--repeats``, interleaved, one edge process per device count)
and the median reported with the spread, beside the machine's load: the 1-minute load average
and the cores used by processes outside the benchmark during each phase (``/proc/stat`` minus
the edge's and the devices' own CPU time), since the machine is shared.

    .venv/bin/python bench/bench_split_inference.py [--seconds 3] [--repeats 3] [--cut 24]

Every phase is bounded in time; the whole run takes about five minutes.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _edge_proc import CLK_TCK, Edge, launch_http, proc_cpu_s, proc_rss_mb, sciot_serve

MODEL = "fomo96"


def start_edge(workdir: Path, policy: str) -> Edge:
    telemetry = workdir / f"telemetry-{time.monotonic_ns()}.sqlite"
    return sciot_serve("--policy", policy, "--telemetry", str(telemetry))


def start_together(target: Callable[..., None], items: Sequence[Any], ready: Any, go: Any) -> float:
    """Tell the parent this worker is ready, wait for everyone's ``go``, then run
    ``target(*item)`` in one thread per item; the worker's CPU seconds while they ran."""
    ready.release()
    go.wait()
    cpu0 = time.process_time()
    threads = [threading.Thread(target=target, args=item) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.process_time() - cpu0


def drive_clients(
    clients: list[tuple[Any, np.ndarray]], seconds: float, ready: Any, go: Any, results: Any
) -> None:
    """Each started ``DeviceClient`` infers its input in a loop, in its own thread, for
    ``seconds`` after ``go``; puts (mode counts, latencies, CPU seconds) on ``results``."""
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

    cpu_s = start_together(loop, clients, ready, go)
    for client, _ in clients:
        client.close()
    results.put((counts, latencies, cpu_s))


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
    drive_clients(clients, seconds, ready, go, results)


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

    results.put((counts, latencies, start_together(loop, sessions, ready, go)))


def bare_server_main() -> None:
    """The transport's ceiling: POST a raw input body, get the whole model's raw output."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from ai_edge_litert.interpreter import Interpreter

    from sciot.model.zoo import demo_model_path

    model_path = str(demo_model_path(MODEL))
    local = threading.local()

    def interpreter() -> Any:
        if not hasattr(local, "interpreter"):
            it = Interpreter(model_path=model_path, num_threads=1)
            it.allocate_tensors()
            local.interpreter = it
            local.input = it.get_input_details()[0]
            local.output = it.get_output_details()[0]
        return local.interpreter

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as two writes

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            it = interpreter()
            array = np.frombuffer(body, dtype=local.input["dtype"]).reshape(local.input["shape"])
            it.set_tensor(local.input["index"], array)
            it.invoke()
            out = it.get_tensor(local.output["index"]).tobytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 256  # 32 devices connect at once; the default backlog is 5
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    print(f"bare server on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


def start_bare_server() -> Edge:
    return launch_http(
        [sys.executable, str(Path(__file__).resolve()), "--bare-server"], "bare server"
    )


def bare_worker(count: int, url: str, seconds: float, ready: Any, go: Any, results: Any) -> None:
    """``count`` clients in threads posting the raw input to the bare server."""
    from sciot.errors import SciotError
    from sciot.model.zoo import load_demo_input
    from sciot.transport import HttpClientTransport

    clients = [
        (HttpClientTransport(url), load_demo_input(MODEL, i).tobytes()) for i in range(count)
    ]
    total = [0]
    latencies: list[float] = []
    lock = threading.Lock()

    def loop(client: Any, body: bytes) -> None:
        n, lat = 0, []
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                client.request(body, timeout_s=10.0)
            except SciotError as exc:  # counted as not served; the next call reconnects
                print(f"bare client: {exc}", file=sys.stderr)
                continue
            lat.append(time.perf_counter() - t0)
            n += 1
        with lock:
            total[0] += n
            latencies.extend(lat)

    start_together(loop, clients, ready, go)
    for client, _ in clients:
        client.close()
    results.put((total[0], latencies))


def run_bare(server: Edge, devices: int, seconds: float, *, procs: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    per = split_counts(devices, procs)
    ready, go, results = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    workers = [
        ctx.Process(target=bare_worker, args=(n, server.url, seconds, ready, go, results))
        for n in per
    ]
    for p in workers:
        p.start()
    for _ in workers:
        ready.acquire(timeout=120)
    cpu0 = proc_cpu_s(server.process.pid)
    t0 = time.perf_counter()
    go.set()
    collected = [results.get(timeout=seconds + 120) for _ in workers]
    elapsed = time.perf_counter() - t0
    cpu1 = proc_cpu_s(server.process.pid)
    for p in workers:
        p.join(30)
    done = sum(c[0] for c in collected)
    latencies = np.array([x for c in collected for x in c[1]]) * 1000
    return {
        "rate": done / elapsed,
        "cpu_per_inf_s": (cpu1 - cpu0) / done if done else float("nan"),
        "p50_ms": float(np.percentile(latencies, 50)) if latencies.size else float("nan"),
        "p95_ms": float(np.percentile(latencies, 95)) if latencies.size else float("nan"),
        "rss_mb": proc_rss_mb(server.process.pid)[1],
    }


def machine_busy_jiffies() -> int:
    """Busy jiffies of the whole machine since boot (all CPUs), from ``/proc/stat``."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields[:8]) - fields[3] - fields[4]  # minus idle and iowait


def split_counts(devices: int, procs: int) -> list[int]:
    procs = max(1, min(procs, devices))
    return [devices // procs + (1 if i < devices % procs else 0) for i in range(procs)]


def run_split(
    edge: Edge,
    devices: int,
    transport: str,
    cut: int,
    seconds: float,
    *,
    procs: int,
    replay: bool = False,
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    per = split_counts(devices, procs)
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
    busy0 = machine_busy_jiffies()
    t0 = time.perf_counter()
    go.set()
    collected = [results.get(timeout=seconds + 120) for _ in workers]
    elapsed = time.perf_counter() - t0
    cpu1 = proc_cpu_s(edge.process.pid)
    busy1 = machine_busy_jiffies()
    for p in workers:
        p.join(30)
    counts = {k: sum(c[0][k] for c in collected) for k in ("inferences", "split", "local")}
    latencies = np.array([x for c in collected for x in c[1]]) * 1000
    rss, peak = proc_rss_mb(edge.process.pid)
    split = counts["split"]
    machine_cores = (busy1 - busy0) / CLK_TCK / elapsed
    ours_cores = (cpu1 - cpu0 + sum(c[2] for c in collected)) / elapsed
    return {
        "others_cores": max(0.0, machine_cores - ours_cores),
        "rate": split / elapsed,
        "inferences": counts["inferences"],
        "split": split,
        "local": counts["local"],
        "cpu_per_inf_s": (cpu1 - cpu0) / split if split else float("nan"),
        "p50_ms": float(np.percentile(latencies, 50)) if latencies.size else float("nan"),
        "p95_ms": float(np.percentile(latencies, 95)) if latencies.size else float("nan"),
        "dev_cpu_per_inf_s": sum(c[2] for c in collected) / split if split else float("nan"),
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

    start_together(loop, runners, ready, go)
    results.put(total[0])


def run_local(devices: int, seconds: float, *, procs: int) -> float:
    ctx = mp.get_context("spawn")
    per = split_counts(devices, procs)
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
    return float(total / elapsed)


def median(values: list[float]) -> float:
    return float(np.median(values)) if values else float("nan")


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or value != value else format(value, spec)


def run_block(
    devices: int, args: argparse.Namespace, seconds: float, workdir: Path
) -> list[dict[str, Any]]:
    """Every configuration for ``devices`` devices, ``args.repeats`` times, interleaved, against
    one edge process (so repetitions see the same server and the machine's load evens out)."""
    phases = [("split", t) for t in args.transports]
    if args.replay:
        phases += [("replay", t) for t in args.transports]
    local_rates: list[float] = []
    bare_runs: list[dict[str, Any]] = []
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {p: [] for p in phases}
    edge = start_edge(workdir, f"fixed:{args.cut}")
    bare = start_bare_server()
    try:
        for rep in range(args.repeats):
            local_rates.append(run_local(devices, seconds, procs=args.device_procs))
            bare_runs.append(run_bare(bare, devices, seconds, procs=args.device_procs))
            print(
                f"  {devices:>2} dev   bare http rep {rep + 1}: {bare_runs[-1]['rate']:7.0f}/s",
                flush=True,
            )
            for mode, transport in phases:
                load = os.getloadavg()[0]
                r = run_split(
                    edge,
                    devices,
                    transport,
                    args.cut,
                    seconds,
                    procs=args.device_procs,
                    replay=mode == "replay",
                )
                r["load"] = load
                runs[(mode, transport)].append(r)
                print(
                    f"  {devices:>2} dev {mode:>6} {transport:>4} rep {rep + 1}: "
                    f"{r['rate']:7.0f}/s  load {load:4.1f}  others {r['others_cores']:.2f} cores"
                    + (f"  ({r['local']} local fallbacks)" if r["local"] else ""),
                    flush=True,
                )
    finally:
        edge.stop()
        bare.stop()
    local = median(local_rates)
    bare_rates = [r["rate"] for r in bare_runs]
    bare_rate = median(bare_rates)
    rows = [
        {
            "mode": "all-local",
            "devices": devices,
            "transport": "-",
            "rate": local,
            "rate_lo": min(local_rates),
            "rate_hi": max(local_rates),
            "ratio": 1.0,
            "ratio_bare": local / bare_rate,
        },
        {
            "mode": "bare-http",
            "devices": devices,
            "transport": "http",
            "rate": bare_rate,
            "rate_lo": min(bare_rates),
            "rate_hi": max(bare_rates),
            "edge_cpu_ms": 1000 * median([r["cpu_per_inf_s"] for r in bare_runs]),
            "p50": median([r["p50_ms"] for r in bare_runs]),
            "p95": median([r["p95_ms"] for r in bare_runs]),
            "rss": max(r["rss_mb"] for r in bare_runs),
            "ratio": bare_rate / local,
            "ratio_bare": 1.0,
        },
    ]
    for (mode, transport), results in runs.items():
        rates = [r["rate"] for r in results]
        rate = median(rates)
        rows.append(
            {
                "mode": mode,
                "devices": devices,
                "transport": transport,
                "rate": rate,
                "rate_lo": min(rates),
                "rate_hi": max(rates),
                "edge_cpu_ms": 1000 * median([r["cpu_per_inf_s"] for r in results]),
                "dev_cpu_ms": 1000 * median([r["dev_cpu_per_inf_s"] for r in results]),
                "p50": median([r["p50_ms"] for r in results]),
                "p95": median([r["p95_ms"] for r in results]),
                "rss": max(r["peak_rss_mb"] for r in results),
                "load": median([r["load"] for r in results]),
                "others": median([r["others_cores"] for r in results]),
                "ratio": rate / local,
                "ratio_bare": rate / bare_rate,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per phase")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions (median reported)")
    parser.add_argument("--cut", type=int, default=24, help="split point used by every device")
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--transports", nargs="+", default=["http", "ws"])
    parser.add_argument(
        "--device-procs",
        type=int,
        default=4,
        help="processes the devices are spread over (threads within each)",
    )
    parser.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--no-replay",
        dest="replay",
        action="store_false",
        help="skip the edge-capacity phases (devices replaying a precomputed head output)",
    )
    args = parser.parse_args()
    if args.bare_server:
        bare_server_main()
        return
    seconds = min(max(args.seconds, 1.0), 30.0)
    args.repeats = min(max(args.repeats, 1), 9)
    args.device_procs = min(max(args.device_procs, 1), 16)

    from sciot.model import load_model
    from sciot.model.zoo import demo_model_path

    graph = load_model(demo_model_path(MODEL))
    print(
        f"model {MODEL}: {graph.num_ops} ops; cut {args.cut} sends "
        f"{graph.cut(args.cut).crossing_bytes} bytes; {os.cpu_count()} CPUs; {seconds:g} s/phase, "
        f"{args.repeats} repetitions; devices over up to {args.device_procs} processes; "
        f"load average at start {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sciot-bench-") as tmp:
        for devices in args.devices:
            rows += run_block(devices, args, seconds, Path(tmp))
    print_table(rows)


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'mode':<10}{'dev':>4}{'transport':>10}{'inf/s (median)':>15}{'min-max':>13}"
        f"{'edge CPU ms/inf':>16}{'dev CPU ms/inf':>15}{'p50 ms':>8}{'p95 ms':>8}"
        f"{'edge RSS MB':>12}{'load':>6}{'others':>7}{'x local':>8}{'x bare':>7}"
    )
    print()
    print(header)
    print("-" * len(header))
    for r in rows:
        spread = f"{r['rate_lo']:.0f}-{r['rate_hi']:.0f}"
        print(
            f"{r['mode']:<10}{r['devices']:>4}{r['transport']:>10}{r['rate']:>15.0f}{spread:>13}"
            f"{fmt(r.get('edge_cpu_ms'), '.3f'):>16}{fmt(r.get('dev_cpu_ms'), '.3f'):>15}"
            f"{fmt(r.get('p50'), '.2f'):>8}{fmt(r.get('p95'), '.2f'):>8}"
            f"{fmt(r.get('rss'), '.0f'):>12}{fmt(r.get('load'), '.1f'):>6}"
            f"{fmt(r.get('others'), '.2f'):>7}{r['ratio']:>8.2f}{r['ratio_bare']:>7.2f}"
        )
    print(
        "load: 1-minute load average; others: cores used by processes outside the benchmark "
        "during the phase (median)."
    )
    print(
        "x local: against all-local inference, x bare: against the bare HTTP server running the "
        "whole model (the transport's ceiling), both measured in this run."
    )
    by_devices = {(r["mode"], r["devices"]): r for r in rows}
    for r in rows:
        if r["mode"] == "split":
            bare = by_devices[("bare-http", r["devices"])]
            print(
                f"  headline, {r['devices']:>2} device(s) {r['transport']:>4}: split "
                f"{r['rate']:.0f}/s = {r['ratio_bare']:.2f}x the bare HTTP server's "
                f"{bare['rate']:.0f}/s and {r['ratio']:.2f}x all-local; edge CPU "
                f"{fmt(r.get('edge_cpu_ms'), '.3f')} ms/inf against the bare server's "
                f"{fmt(bare.get('edge_cpu_ms'), '.3f')}"
            )
    print(
        "SCIoT reference, measured once on this machine kind, not in this run: ~10 "
        "inferences/s and 0.47 server CPU-s per inference"
    )
    cores = os.cpu_count() or 1
    for r in rows:
        if r["mode"] in ("split", "replay") and r.get("edge_cpu_ms"):
            line = (
                f"  {r['mode']:>6} {r['devices']:>2} device(s) {r['transport']:>4}: "
                f"~{r['rate'] / 10:.0f}x that rate, "
                f"~1/{470 / r['edge_cpu_ms']:.0f} of that server CPU per inference"
            )
            if r["devices"] > 1:
                # Many devices are CPU-bound: what their CPU time per inference (edge + devices)
                # allows on an unshared machine. One device is latency-bound instead.
                capacity = 1000 * cores / (r["edge_cpu_ms"] + r["dev_cpu_ms"])
                line += f"; CPU-bound capacity on {cores} free cores ~{capacity:.0f}/s"
            print(line)


if __name__ == "__main__":
    main()
