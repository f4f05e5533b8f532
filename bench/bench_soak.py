"""Soak: many devices for minutes against one edge, with and without an attacking client.

The edge runs as a subprocess (``python -m sciot serve``) so its resident memory can be
sampled from ``/proc/<pid>/status`` every second. Devices are real
:class:`sciot.device.DeviceClient` instances (adaptive policy: split, device-only reports and
whatever the planner picks), threads in a few worker processes, each paced at ``--rate``
inferences/s. The *attack* phase adds, beside the same devices, one process that floods the
edge as hard as it can: device-only reports of 16,384 records claimed within a millisecond
(implausible), reports of plausible records far beyond the per-device rate, and registrations
under fresh ids (the registry bound). Reported per phase:

- inferences done by the devices and telemetry rows recorded for them (``lost`` = done -
  recorded; must be 0), the devices' own ``lost`` counters, failed calls in the first and the
  second half of the phase (error growth);
- the edge's RSS at the start and end of the measured window and its least-squares slope in
  MB/min over the second half (after warm-up);
- what the attacker got accepted.

    .venv/bin/python bench/bench_soak.py [--minutes 10] [--devices 32] [--rate 20]
        [--phases plain attack poll journal]

``poll`` runs the devices beside a client that registers 1,000 idle devices and then polls
``/api/stats`` and ``/metrics`` back to back; compare its split p95 with ``plain``'s.

``journal`` measures instead what the telemetry journal costs the request path: CPU per split
inference in ``EdgeCore.handle_frame`` with it on and off, interleaved, in one process.

Every phase is bounded by ``--minutes`` plus a fixed drain time.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _edge_proc import Edge, proc_rss_mb, sciot_serve

WORKERS = 4
IDLE_DEVICES = 1000
"""Devices the ``poll`` phase registers and leaves idle, so the stats have a fleet to list."""


def start_edge(telemetry: Path, *, uncapped_sources: bool = False) -> Edge:
    """``sciot serve`` writing ``telemetry``. ``uncapped_sources`` lifts the per-source
    registration cap (``limits.max_devices_per_source``): every client here shares the one
    loopback address, so the ``poll`` phase's idle fleet would otherwise stop at the cap and
    the devices after it would be refused."""
    flags = ["--telemetry", str(telemetry)]
    if uncapped_sources:
        config = telemetry.with_suffix(".yaml")
        config.write_text("limits:\n  max_devices_per_source: 0\n", encoding="utf-8")
        flags += ["--config", str(config)]
    return sciot_serve(*flags, stop_timeout_s=20.0)


def device_worker(ids: list[str], url: str, seconds: float, rate: float, results: Any) -> None:
    """Run one device client per id in threads for ``seconds``, paced at ``rate``/s each."""
    from sciot.device import DeviceClient, DeviceConfig, open_transport
    from sciot.model.zoo import load_demo_input

    x = load_demo_input("fomo96", 0)
    half_at = time.monotonic() + seconds / 2

    def run(device_id: str) -> None:
        config = DeviceConfig.from_mapping(
            {
                "device_id": device_id,
                "edge_url": url,
                "timeout_s": 5.0,
                "seed": hash(device_id) % 1000,
            }
        )
        client = DeviceClient(config, open_transport(config))
        first_half_failures = 0
        try:
            client.start()
            end = time.monotonic() + seconds
            next_at = time.monotonic()
            while time.monotonic() < end:
                client.infer(x)
                if time.monotonic() < half_at:
                    first_half_failures = client.stats().failures
                next_at += 1.0 / rate
                time.sleep(max(0.0, next_at - time.monotonic()))
            drain_end = time.monotonic() + 30.0
            while (client.queued or client.unreported) and time.monotonic() < drain_end:
                client.flush(force=True)
                time.sleep(0.2)
            stats = client.stats()
            results.put(
                (
                    device_id,
                    stats.inferences,
                    stats.lost,
                    first_half_failures,
                    stats.failures,
                    stats.split_latency.p95_ms,
                )
            )
        finally:
            client.close()

    threads = [threading.Thread(target=run, args=(d,)) for d in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 120)


def attacker(url: str, seconds: float, results: Any) -> None:
    """Flood the edge from one client: implausible, over-rate and registration floods."""
    from sciot.model import load_model
    from sciot.model.zoo import demo_model_path
    from sciot.transport import HttpClientTransport
    from sciot.wire import (
        DeviceOnlyReport,
        OfflineAck,
        OfflineRecord,
        Register,
        RegisterAck,
        decode,
        encode,
    )

    graph = load_model(demo_model_path("fomo96"))
    model_id, cut = graph.model_id, graph.num_ops
    transport = HttpClientTransport(url)
    accepted = sent = registered = 0
    end = time.monotonic() + seconds

    def call(msg: Any) -> Any:
        try:
            return decode(transport.request(encode(msg), timeout_s=10))
        except Exception:  # the edge may refuse or close: keep attacking
            return None

    call(Register(device_id="attacker", model_id=model_id))
    step = 0
    while time.monotonic() < end:
        step += 1
        now = time.time()
        if step % 3 == 0:  # implausible: 16,384 inferences within a millisecond
            records = tuple(
                OfflineRecord(seq=i, cut=cut, started_at_s=now, device_seconds=1e-7)
                for i in range(16_384)
            )
        else:  # plausible timestamps, far beyond the per-device rate
            records = tuple(
                OfflineRecord(seq=i, cut=cut, started_at_s=now - 10 + i / 1000, device_seconds=1e-4)
                for i in range(8_000)
            )
        reply = call(DeviceOnlyReport(device_id="attacker", model_id=model_id, records=records))
        sent += len(records)
        if isinstance(reply, OfflineAck):
            accepted += reply.accepted
        for i in range(20):  # registration flood under fresh ids
            if isinstance(
                call(Register(device_id=f"ghost-{step}-{i}", model_id=model_id)), RegisterAck
            ):
                registered += 1
    transport.close()
    results.put(("attacker", sent, accepted, registered, 0))


def poller(url: str, seconds: float, results: Any) -> None:
    """Register ``IDLE_DEVICES`` idle devices, then poll ``/api/stats`` and ``/metrics`` as
    fast as one client can: the stats must not cost the devices their latency."""
    import urllib.request

    from sciot.model import load_model
    from sciot.model.zoo import demo_model_path
    from sciot.transport import HttpClientTransport
    from sciot.wire import Register, encode

    model_id = load_model(demo_model_path("fomo96")).model_id
    transport = HttpClientTransport(url)
    for i in range(IDLE_DEVICES):
        transport.request(encode(Register(device_id=f"idle-{i}", model_id=model_id)), timeout_s=10)
    transport.close()
    polls = size = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for path in ("/api/stats", "/metrics"):
            with urllib.request.urlopen(url + path, timeout=30) as reply:
                size = len(reply.read())
            polls += 1
    results.put(("poller", polls, size, 0, 0))


def run_phase(name: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from sciot.edge import read_telemetry

    telemetry = workdir / f"{name}.sqlite"
    edge = start_edge(telemetry, uncapped_sources=name == "poll")
    seconds = args.minutes * 60.0
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    ids = [f"dev-{i:02d}" for i in range(args.devices)]
    workers = max(1, min(WORKERS, len(ids)))  # a worker without devices would report nothing
    procs = [
        ctx.Process(
            target=device_worker, args=(ids[w::workers], edge.url, seconds, args.rate, results)
        )
        for w in range(workers)
    ]
    if name == "poll":
        procs.append(ctx.Process(target=poller, args=(edge.url, seconds, results)))
    if name == "attack":
        procs.append(ctx.Process(target=attacker, args=(edge.url, seconds, results)))
    started = time.monotonic()
    for p in procs:
        p.start()
    samples: list[tuple[float, float]] = []
    while any(p.is_alive() for p in procs) and time.monotonic() - started < seconds + 180:
        samples.append((time.monotonic() - started, proc_rss_mb(edge.process.pid)[0]))
        time.sleep(1.0)
    # One result per device (each device thread reports its own) and one per extra client.
    out = [results.get(timeout=60) for _ in range(len(ids) + len(procs) - workers)]
    for p in procs:
        p.join(10)
    edge.stop()
    rows = read_telemetry(telemetry)
    recorded: dict[str, set[int]] = {}
    for r in rows:
        recorded.setdefault(str(r["device_id"]), set()).add(int(r["seq"]))  # type: ignore[call-overload]
    devices = [o for o in out if o[0] not in ("attacker", "poller")]
    polled = next((o for o in out if o[0] == "poller"), None)
    p95s = sorted(o[5] for o in devices)
    done = sum(o[1] for o in devices)
    missing = sum(o[1] - len(recorded.get(o[0], set()) & set(range(1, o[1] + 1))) for o in devices)
    window = [s for s in samples if s[0] <= seconds]
    second_half = [s for s in window if s[0] >= seconds / 2]
    attack = next((o for o in out if o[0] == "attacker"), None)
    return {
        "phase": name,
        "done": done,
        "missing_rows": missing,
        "device_lost": sum(o[2] for o in devices),
        "failures_first_half": sum(o[3] for o in devices),
        "failures_second_half": sum(o[4] - o[3] for o in devices),
        "rss_start_mb": window[0][1] if window else float("nan"),
        "rss_end_mb": window[-1][1] if window else float("nan"),
        "rss_slope_mb_per_min": 60.0 * slope(second_half),
        "attacker_sent": attack[1] if attack else 0,
        "attacker_accepted": attack[2] if attack else 0,
        "attacker_registered": attack[3] if attack else 0,
        "split_p95_ms_median": p95s[len(p95s) // 2] if p95s else float("nan"),
        "split_p95_ms_max": p95s[-1] if p95s else float("nan"),
        "stats_polls": polled[1] if polled else 0,
        "stats_last_bytes": polled[2] if polled else 0,
    }


def journal_cost(workdir: Path, repeats: int = 5, frames: int = 4000) -> dict[str, float]:
    """CPU microseconds per split inference in ``EdgeCore.handle_frame`` with the telemetry
    journal on and off (interleaved, median of ``repeats``): the price of kill -9 durability."""
    from sciot.edge import EdgeConfig, build_edge
    from sciot.edge import _row_journal as journal
    from sciot.model import load_model, split_model
    from sciot.model.zoo import demo_model_path, load_demo_input
    from sciot.runtime import SegmentExecutor
    from sciot.wire import InferRequest, Register, Tensor, encode

    graph = load_model(demo_model_path("fomo96"))
    cut = graph.num_ops - 1
    x = load_demo_input("fomo96", 0)
    head = split_model(graph, cut).head
    assert head is not None
    values = SegmentExecutor(head).run({graph.inputs[0].name: x})
    tensors = tuple(Tensor(name=n, array=values[n]) for n in graph.cut(cut).tensor_names)
    config = EdgeConfig.from_mapping(
        {"port": 0, "telemetry": {"path": str(workdir / "journal.sqlite")}}
    )
    app = build_edge(config)
    app.start()
    core = app.core
    core.handle_frame(encode(Register(device_id="d", model_id=graph.model_id)), time.time())
    frame = encode(
        InferRequest(
            device_id="d",
            model_id=graph.model_id,
            seq=1,
            cut=cut,
            tensors=tensors,
            device_seconds=0.001,
        )
    )
    real_write = journal.RowJournal.write
    results: dict[str, list[float]] = {"on": [], "off": []}
    try:
        for _ in range(repeats):
            for mode in ("on", "off"):
                journal.RowJournal.write = (  # type: ignore[method-assign]
                    real_write if mode == "on" else (lambda self, row: None)
                )
                started = time.process_time()
                for _ in range(frames):
                    core.handle_frame(frame, time.time())
                results[mode].append((time.process_time() - started) / frames * 1e6)
    finally:
        journal.RowJournal.write = real_write  # type: ignore[method-assign]
        app.stop()
    return {mode: sorted(v)[len(v) // 2] for mode, v in results.items()}


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (t, y) points (0 for fewer than two)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return 0.0 if var == 0 else sum((t - mt) * (y - my) for t, y in points) / var


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="measured minutes per phase")
    parser.add_argument("--devices", type=int, default=32)
    parser.add_argument("--rate", type=float, default=20.0, help="inferences/s per device")
    parser.add_argument(
        "--phases",
        nargs="+",
        default=["plain", "attack"],
        choices=["plain", "attack", "poll", "journal"],
    )
    args = parser.parse_args()
    print(
        f"soak: {args.devices} devices at {args.rate:g}/s each, {args.minutes:g} min per phase, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.phases:
            if name == "journal":
                cost = journal_cost(Path(tmp))
                print(
                    f"journal: handle_frame CPU {cost['on']:.1f} us/inference with the journal, "
                    f"{cost['off']:.1f} without (median of 5 x 4000, cut N-1); "
                    f"load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
                continue
            r = run_phase(name, args, Path(tmp))
            print(
                f"{r['phase']:>6}: done {r['done']}, missing rows {r['missing_rows']}, device lost "
                f"{r['device_lost']}, failed calls {r['failures_first_half']} -> "
                f"{r['failures_second_half']} (1st -> 2nd half); edge RSS "
                f"{r['rss_start_mb']:.0f} -> {r['rss_end_mb']:.0f} MB, slope "
                f"{r['rss_slope_mb_per_min']:+.2f} MB/min (2nd half); attacker sent "
                f"{r['attacker_sent']}, accepted {r['attacker_accepted']}, registered "
                f"{r['attacker_registered']}; split p95 {r['split_p95_ms_median']:.2f} ms "
                f"(median device; worst {r['split_p95_ms_max']:.2f}); stats polls "
                f"{r['stats_polls']} (last {r['stats_last_bytes']} bytes); "
                f"load {os.getloadavg()[0]:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
