"""Split inferences/s per transport (HTTP, WebSocket, TCP, UDP, MQTT), 1 and 32 devices, and
the MQTT edge tier scaled out to three workers behind one ``$share`` group.

Part 1: one edge process serves every transport at once over one ``EdgeCore`` (uvicorn for
HTTP/WS plus the TCP, UDP and MQTT listeners, Mosquitto started here). Devices run in up to
four processes, as in ``bench_split_inference.py`` (whose workers this reuses; the edge
process is started, read and stopped by ``_edge_proc.py``, as there): **split** rows are real
``DeviceClient``s (head on the device), **replay** rows send a precomputed head output, which
measures what the edge can serve. The baseline is HTTP, measured
in the same run, per mode and device count.

Part 2 (``--no-scaleout`` skips it): edge workers (``python -m sciot.edge._mqtt_worker``) in one
shared group with Redis, the tail made the bottleneck by the edge's computation-delay simulation
(``--tail-ms``, default 20 ms: a slower edge box; on 2 cores a CPU-bound tail cannot show three
machines). Closed-loop MQTT devices; one worker, then three, then three with one killed a third
of the way in (every request must still be answered).

    .venv/bin/python bench/bench_transports.py [--seconds 3] [--repeats 1]

Every phase is bounded in time; the default run takes about four minutes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _edge_proc import Edge, free_port, launch, proc_cpu_s, stop_process, wait_port
from bench_split_inference import (
    MODEL,
    drive_clients,
    machine_busy_jiffies,
    median,
    run_split,
    split_counts,
)

TRANSPORTS = ("http", "ws", "tcp", "udp", "mqtt")
REDIS_NO_DISK = ("--save", "", "--appendonly", "no")


def start_mosquitto(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "set_tcp_nodelay true\nmax_queued_messages 100000\nmax_inflight_messages 1000\n"
        "log_dest none\n"
    )
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL)
    wait_port(port, proc)
    return proc, port


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [*("redis-server", "--port", str(port), "--bind", "127.0.0.1"), *REDIS_NO_DISK],
        stdout=subprocess.DEVNULL,
        cwd=workdir,
    )
    wait_port(port, proc)
    return proc, f"redis://127.0.0.1:{port}/0"


# ----------------------------------------------------------------------------- part 1


def serve_all(broker_port: int, cut: int, telemetry: str) -> None:
    """The edge process of part 1: every transport over one core, until SIGTERM."""
    from sciot.edge import EdgeConfig, start_edge
    from sciot.edge._mqtt_listener import MqttListener
    from sciot.edge._tcp_listener import TcpListener
    from sciot.edge._udp_listener import UdpListener

    config = EdgeConfig.from_mapping(
        {"port": 0, "planner": {"policy": f"fixed:{cut}"}, "telemetry": {"path": telemetry}}
    )
    server, app = start_edge(config)
    tcp = TcpListener(app.core).start()
    udp = UdpListener(app.core).start()
    mqtt = MqttListener(app.core, host="127.0.0.1", port=broker_port, workers=2).start()
    urls = {
        "http": server.http_url,
        "ws": server.ws_url,
        "tcp": tcp.url,
        "udp": udp.url,
        "mqtt": f"mqtt://127.0.0.1:{broker_port}",
    }
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print("URLS " + json.dumps(urls), flush=True)
    done.wait()
    for listener in (mqtt, udp, tcp):
        listener.stop()
    server.stop()


def start_edge_all(
    workdir: Path, broker_port: int, cut: int
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    cmd = [
        sys.executable,
        __file__,
        "--serve",
        str(broker_port),
        "--cut",
        str(cut),
        "--telemetry",
        str(workdir / "telemetry.sqlite"),
    ]
    proc, line = launch(cmd, lambda text: text.startswith("URLS "), "edge", quiet=False)
    return proc, json.loads(line[5:])


def split_worker(
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
    """Real device clients (head on the device) over any transport URL."""
    from sciot.device import DeviceClient, DeviceConfig, sample_input
    from sciot.transport import client_transport

    clients = []
    for i in range(first, first + count):
        config = DeviceConfig.from_mapping(
            {"device_id": f"{transport}-{i:03d}", "model": MODEL, "initial_cut": cut, "seed": i}
        )
        client = DeviceClient(config, client_transport(url))
        client.start()
        clients.append((client, sample_input(client.artefacts, MODEL, i)))
    drive_clients(clients, seconds, ready, go, results)


def run_phase(
    edge: subprocess.Popen[str],
    urls: dict[str, str],
    mode: str,
    transport: str,
    devices: int,
    cut: int,
    seconds: float,
) -> dict[str, Any]:
    url = urls[transport]
    if mode == "replay":
        # bench_split_inference's replay worker dials ws:// itself from the http:// URL.
        base = urls["http"] if transport == "ws" else url
        return run_split(
            Edge(process=edge, url=base), devices, transport, cut, seconds, procs=4, replay=True
        )
    ctx = mp.get_context("spawn")
    ready, go, results = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    workers, first = [], 0
    for n in split_counts(devices, 4):
        p = ctx.Process(
            target=split_worker,
            args=(first, n, url, transport, cut, seconds, ready, go, results),
        )
        p.start()
        workers.append(p)
        first += n
    for _ in workers:
        if not ready.acquire(timeout=120):
            raise SystemExit("device workers did not get ready")
    cpu0, busy0, t0 = proc_cpu_s(edge.pid), machine_busy_jiffies(), time.perf_counter()
    go.set()
    collected = [results.get(timeout=seconds + 120) for _ in workers]
    elapsed = time.perf_counter() - t0
    cpu1, busy1 = proc_cpu_s(edge.pid), machine_busy_jiffies()
    for p in workers:
        p.join(30)
    split = sum(c[0]["split"] for c in collected)
    lat = np.array([x for c in collected for x in c[1]]) * 1000
    dev_cpu = sum(c[2] for c in collected)
    clk = os.sysconf("SC_CLK_TCK")
    return {
        "rate": split / elapsed,
        "local": sum(c[0]["local"] for c in collected),
        "cpu_per_inf_s": (cpu1 - cpu0) / split if split else float("nan"),
        "p50_ms": float(np.percentile(lat, 50)) if lat.size else float("nan"),
        "p95_ms": float(np.percentile(lat, 95)) if lat.size else float("nan"),
        "others_cores": max(
            0.0, (busy1 - busy0) / clk / elapsed - (cpu1 - cpu0 + dev_cpu) / elapsed
        ),
    }


def part_one(args: argparse.Namespace, workdir: Path) -> None:
    broker, broker_port = start_mosquitto(workdir)
    edge, urls = start_edge_all(workdir, broker_port, args.cut)
    rows: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    try:
        for devices in args.devices:
            for rep in range(args.repeats):
                for mode in ("split", "replay"):
                    for transport in args.transports:
                        load = os.getloadavg()[0]
                        r = run_phase(edge, urls, mode, transport, devices, args.cut, args.seconds)
                        r["load"] = load
                        rows.setdefault((mode, devices, transport), []).append(r)
                        print(
                            f"  {devices:>2} dev {mode:>6} {transport:>4} rep {rep + 1}: "
                            f"{r['rate']:7.0f}/s  load {load:4.1f}  "
                            f"others {r['others_cores']:.2f} cores"
                            + (f"  ({r['local']} local)" if r.get("local") else ""),
                            flush=True,
                        )
    finally:
        stop_process(edge)
        stop_process(broker)
    print()
    print(
        "| mode | devices | transport | inferences/s (median) | min-max | edge CPU ms/inf "
        "| p50 ms | p95 ms | load | x http |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for (mode, devices, transport), results in rows.items():
        rates = [r["rate"] for r in results]
        base = (
            median([r["rate"] for r in rows[(mode, devices, "http")]])
            if (mode, devices, "http") in rows
            else float("nan")
        )
        print(
            f"| {mode} | {devices} | {transport} | {median(rates):.0f} | "
            f"{min(rates):.0f}-{max(rates):.0f} | "
            f"{1000 * median([r['cpu_per_inf_s'] for r in results]):.3f} | "
            f"{median([r['p50_ms'] for r in results]):.2f} | "
            f"{median([r['p95_ms'] for r in results]):.2f} | "
            f"{median([r['load'] for r in results]):.1f} | {median(rates) / base:.2f} |"
        )


# ----------------------------------------------------------------------------- part 2


def mqtt_load(
    broker_port: int, seconds: float, devices: int, first_seq: int, kill: Any = None
) -> tuple[int, int, int]:
    """(sent, answered, failed) of closed-loop MQTT devices replaying a cut-13 request."""
    from sciot.model import load_model, split_model
    from sciot.model.zoo import demo_model_path, load_demo_input
    from sciot.runtime import SegmentExecutor
    from sciot.transport import MqttClientTransport
    from sciot.wire import InferRequest, InferResponse, Tensor, decode, encode

    graph = load_model(demo_model_path(MODEL))
    head = split_model(graph, 13).head
    assert head is not None
    values = SegmentExecutor(head).run({graph.inputs[0].name: load_demo_input(MODEL, 0)})
    tensors = tuple(Tensor(name=n, array=values[n]) for n in graph.cut(13).tensor_names)
    counts = [0, 0, 0]
    lock = threading.Lock()
    barrier = threading.Barrier(devices + 1)

    def device(n: int) -> None:
        t = MqttClientTransport(f"mqtt://127.0.0.1:{broker_port}")
        device_id = f"dev-{n:02d}"
        seq = first_seq
        barrier.wait(30)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            seq += 1
            request = InferRequest(
                device_id=device_id, model_id=graph.model_id, seq=seq, cut=13, tensors=tensors
            )
            with lock:
                counts[0] += 1
            try:
                ok = isinstance(decode(t.request(encode(request), timeout_s=5.0)), InferResponse)
            except Exception:
                ok = False
            with lock:
                counts[1 if ok else 2] += 1
        t.close()

    threads = [threading.Thread(target=device, args=(n,)) for n in range(devices)]
    for th in threads:
        th.start()
    barrier.wait(30)
    if kill is not None:
        time.sleep(seconds / 3)
        kill()
    for th in threads:
        th.join(seconds + 60)
    return counts[0], counts[1], counts[2]


def part_two(args: argparse.Namespace, workdir: Path) -> None:
    import yaml

    from sciot.model import load_model
    from sciot.model.zoo import demo_model_path
    from sciot.transport import MqttClientTransport
    from sciot.wire import Register, decode, encode

    broker, broker_port = start_mosquitto(workdir)
    redis, redis_url = start_redis(workdir)
    config = workdir / "worker.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "telemetry": {"enabled": False},
                "planner": {"policy": "fixed:13"},
                "delay_simulation": {
                    "computation": {"enabled": True, "type": "static", "mean": args.tail_ms / 1000}
                },
            }
        )
    )
    workers: list[subprocess.Popen[str]] = []

    def start_worker() -> None:
        cmd = [
            sys.executable,
            "-m",
            "sciot.edge._mqtt_worker",
            "--broker",
            f"127.0.0.1:{broker_port}",
            "--redis",
            redis_url,
            "--config",
            str(config),
        ]
        p, _ = launch(cmd, lambda text: text.startswith("ready"), "worker", quiet=False)
        workers.append(p)

    try:
        start_worker()
        graph = load_model(demo_model_path(MODEL))
        t = MqttClientTransport(f"mqtt://127.0.0.1:{broker_port}")
        for n in range(args.scale_devices):
            decode(
                t.request(
                    encode(Register(device_id=f"dev-{n:02d}", model_id=graph.model_id)),
                    timeout_s=10,
                )
            )
        t.close()
        s1, a1, f1 = mqtt_load(broker_port, args.seconds * 2, args.scale_devices, 0)
        start_worker()
        start_worker()
        s3, a3, f3 = mqtt_load(broker_port, args.seconds * 2, args.scale_devices, 100_000)
        victim = workers[1]
        sk, ak, fk = mqtt_load(
            broker_port,
            args.seconds * 2,
            args.scale_devices,
            200_000,
            kill=lambda: os.kill(victim.pid, signal.SIGKILL),
        )
    finally:
        for w in workers:
            stop_process(w)
        stop_process(redis)
        stop_process(broker)
    span = args.seconds * 2
    print()
    print(
        f"tail {args.tail_ms:g} ms (computation delay), {args.scale_devices} closed-loop MQTT "
        f"devices, {span:g} s per phase"
    )
    print("| edge workers | answered/s | sent | answered | failed | x one worker |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, (s, a, f) in (
        ("1", (s1, a1, f1)),
        ("3", (s3, a3, f3)),
        ("3, one killed at 1/3", (sk, ak, fk)),
    ):
        print(f"| {label} | {a / span:.1f} | {s} | {a} | {f} | {a / a1:.2f} |")
    print(f"lost with a worker killed: {sk - ak}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--cut", type=int, default=24)
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--transports", nargs="+", default=list(TRANSPORTS))
    parser.add_argument("--tail-ms", type=float, default=20.0)
    parser.add_argument("--scale-devices", type=int, default=12)
    parser.add_argument("--no-scaleout", dest="scaleout", action="store_false")
    parser.add_argument("--no-transports", dest="part_one", action="store_false")
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--telemetry", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve_all(args.serve, args.cut, args.telemetry)
        return
    args.seconds = min(max(args.seconds, 1.0), 30.0)
    args.repeats = min(max(args.repeats, 1), 9)
    print(f"{os.cpu_count()} CPUs; load average at start {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="sciot-bench-") as tmp:
        if args.part_one:
            part_one(args, Path(tmp))
        if args.scaleout:
            part_two(args, Path(tmp))


if __name__ == "__main__":
    main()
