"""Does an open dashboard slow the edge, and does the page keep up with 100 devices?

One edge process (this script with ``--serve-edge``: the edge with the dashboard mounted, as
``sciot serve`` composes it) serves 100 devices replaying a precomputed head output (the edge,
not the devices' Python, is what saturates the machine; the replay workers of
``bench_split_inference.py``), so the page has 100 rows. In the same run, interleaved and
repeated, three phases of equal length:

* ``no page``: nobody watches; the dashboard costs nothing.
* ``live feed``: a WebSocket client reads every tick (the edge does all a page makes it do).
* ``page open``: Debian's chromium shows the page (the edge's work as above, plus the
  browser's rendering on the same two cores: the worst case, with browser and edge sharing).

Reported per phase: the edge's split inferences/s (median, spread), its CPU per inference
(from ``/proc``), and the ratio to ``no page``; for the page, how long the browser takes to
render one tick of 100 devices and whether it received every tick; and the edge's cost of
building one tick.

    .venv/bin/python bench/bench_dashboard.py [--seconds 4] [--repeats 3] [--devices 100]
    .venv/bin/python bench/bench_dashboard.py --screenshot docs/dashboard.png

The second form takes the screenshot in docs/: six emulated devices (ESP32-S3, Pi Zero 2 W and
Pi 4 speeds over Wi-Fi-, LTE- and loopback-like links), the page after 12 s, in the same browser.

Every phase is bounded in time; the whole run takes about a minute and a half.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench_split_inference import Edge, median, run_split

CUT = 24
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def serve_edge(telemetry: str) -> None:
    """The edge with the dashboard mounted, as ``sciot serve`` runs it, until terminated."""
    from sciot.dashboard import mount_dashboard
    from sciot.edge import EdgeConfig, start_edge

    config = EdgeConfig.from_mapping(
        {
            "port": 0,
            "planner": {"policy": f"fixed:{CUT}"},
            "telemetry": {"path": telemetry},
        }
    )
    server, _app = start_edge(config, prepare=mount_dashboard)
    print(f"sciot edge: serving on {server.http_url}", flush=True)
    threading.Event().wait()


def start_edge(workdir: Path) -> Edge:
    telemetry = workdir / f"telemetry-{time.monotonic_ns()}.sqlite"
    cmd = [sys.executable, __file__, "--serve-edge", str(telemetry)]
    process = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # bounded: the child exits (EOF) if it cannot start
    if " on http://" not in line:
        process.kill()
        raise SystemExit(f"edge did not start: {line!r}")
    return Edge(process=process, url=line.split(" on ", 1)[1].split()[0])


class FeedReader:
    """A WebSocket viewer of the live feed in a thread: counts ticks and their build cost."""

    def __init__(self, url: str) -> None:
        from websockets.sync.client import connect

        self._stack = contextlib.ExitStack()
        live = connect(url.replace("http://", "ws://") + "/dashboard/live")
        self._socket = self._stack.enter_context(live)
        self.ticks = 0
        self.build_ms: list[float] = []
        self.devices = 0
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            while True:
                message = json.loads(self._socket.recv(timeout=30))
                if message["type"] == "tick":
                    self.ticks += 1
                    self.build_ms.append(message["build_ms"])
                    self.devices = message["fleet"]["devices"]
        except (ConnectionClosed, TimeoutError):
            return

    def close(self) -> None:
        self._stack.close()
        self._thread.join(10)


def run_phase(phase: str, edge: Edge, browser: Any, args: argparse.Namespace) -> dict[str, Any]:
    viewer: FeedReader | None = None
    page: Any = None
    started_s = time.monotonic()
    if phase == "live feed":
        viewer = FeedReader(edge.url)
    elif phase == "page open":
        page = browser.new_page(viewport={"width": 1600, "height": 1200})
        page.goto(edge.url + "/dashboard")
        page.wait_for_function("() => window.sciotLastTick !== undefined", timeout=10000)
        page.evaluate("() => { window.sciotRenderMs = []; }")
    result = run_split(edge, args.devices, "ws", CUT, args.seconds, procs=2, replay=True)
    result["watched_s"] = time.monotonic() - started_s
    if viewer is not None:
        viewer.close()
        result["ticks"] = viewer.ticks
        result["build_ms"] = viewer.build_ms
        result["shown_devices"] = viewer.devices
    if page is not None:
        render = page.evaluate("() => window.sciotRenderMs")
        result["render_ms"] = render
        result["ticks"] = len(render)
        result["shown_devices"] = page.eval_on_selector_all(
            "#device-rows tr", "rows => rows.length"
        )
        page.close()
    return result


# (device id, speed factor, RTT s, bytes/s or None for bare loopback)
SCREENSHOT_FLEET = (
    ("esp32-wifi-1", 250.0, 0.004, 2.5e6),
    ("esp32-wifi-2", 250.0, 0.004, 2.5e6),
    ("esp32-lte", 250.0, 0.045, 0.6e6),
    ("pizero-wifi", 13.0, 0.004, 2.5e6),
    ("pi4-lte", 5.0, 0.045, 0.6e6),
    ("pi4-loopback", 5.0, 0.0, None),
)


def take_screenshot(path: Path, browser: Any) -> None:
    """A small mixed fleet against an in-process edge with the dashboard, then the page."""
    import numpy as np

    from sciot.dashboard import mount_dashboard
    from sciot.device import DeviceConfig, open_transport, run_device
    from sciot.edge import EdgeConfig, start_edge
    from sciot.sim import LinkModel
    from sciot.transport import EmulatedTransport

    config = EdgeConfig.from_mapping({"port": 0, "telemetry": {"enabled": False}})
    server, _app = start_edge(config, prepare=mount_dashboard)
    stop = threading.Event()
    threads = []
    for i, (device_id, speed, rtt_s, bytes_per_s) in enumerate(SCREENSHOT_FLEET):
        config = DeviceConfig.from_mapping(
            {
                "device_id": device_id,
                "edge_url": server.http_url,
                "speed_factor": speed,
                "transport": "ws" if i % 2 else "http",
                "seed": i,
                "timeout_s": 10.0,
            }
        )
        transport = open_transport(config)
        if bytes_per_s is not None:
            link = LinkModel(rtt_s=rtt_s, bytes_per_s=bytes_per_s)
            transport = EmulatedTransport(transport, link, rng=np.random.default_rng(i))
        thread = threading.Thread(
            target=run_device,
            args=(config,),
            kwargs={"transport": transport, "should_stop": stop.is_set},
            daemon=True,
        )
        thread.start()
        threads.append(thread)
    try:
        page = browser.new_page(viewport={"width": 1680, "height": 1050})
        page.goto(server.http_url + "/dashboard")
        time.sleep(12.0)
        page.click('tr[data-device="esp32-wifi-1"]')
        time.sleep(1.5)
        page.screenshot(path=str(path), full_page=True)
        page.close()
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        server.stop()
    print(f"screenshot written to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per phase")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions (median reported)")
    parser.add_argument("--devices", type=int, default=100, help="devices shown on the page")
    parser.add_argument("--screenshot", type=Path, help="write a screenshot of the page instead")
    parser.add_argument("--serve-edge", metavar="TELEMETRY", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_edge:
        serve_edge(args.serve_edge)
        return
    if args.screenshot:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            try:
                take_screenshot(args.screenshot, browser)
            finally:
                browser.close()
        return
    args.seconds = min(max(args.seconds, 1.0), 30.0)
    args.repeats = min(max(args.repeats, 1), 9)
    args.devices = min(max(args.devices, 1), 200)
    from playwright.sync_api import sync_playwright

    phases = ["no page", "live feed", "page open"]
    runs: dict[str, list[dict[str, Any]]] = {p: [] for p in phases}
    print(
        f"{args.devices} replaying devices (cut {CUT}, WebSocket) on {os.cpu_count()} CPUs, "
        f"{args.seconds:g} s/phase, {args.repeats} repetitions, "
        f"load average at start {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="sciot-bench-") as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        edge = start_edge(Path(tmp))
        try:
            for rep in range(args.repeats):
                for phase in phases:
                    r = run_phase(phase, edge, browser, args)
                    runs[phase].append(r)
                    print(
                        f"  rep {rep + 1} {phase:>9}: {r['rate']:6.0f}/s, edge "
                        f"{1000 * r['cpu_per_inf_s']:.3f} CPU-ms/inf, "
                        f"others {r['others_cores']:.2f} cores",
                        flush=True,
                    )
        finally:
            edge.stop()
            browser.close()
    print_table(runs, args)


def print_table(runs: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> None:
    base = median([r["rate"] for r in runs["no page"]])
    base_cpu = median([r["cpu_per_inf_s"] for r in runs["no page"]])
    header = (
        f"{'phase':<11}{'inf/s (median)':>15}{'min-max':>13}{'x no page':>10}"
        f"{'edge CPU ms/inf':>16}{'x no page':>10}{'p95 ms':>8}{'others':>7}{'ticks/s':>8}"
        f"{'rows shown':>11}"
    )
    print()
    print(header)
    print("-" * len(header))
    for phase, results in runs.items():
        rates = [r["rate"] for r in results]
        cpu = median([r["cpu_per_inf_s"] for r in results])
        watched = phase != "no page"
        ticks = median([r.get("ticks", 0) / r["watched_s"] for r in results]) if watched else 0.0
        shown = min(r.get("shown_devices", 0) for r in results) if watched else "-"
        print(
            f"{phase:<11}{median(rates):>15.0f}{f'{min(rates):.0f}-{max(rates):.0f}':>13}"
            f"{median(rates) / base:>10.2f}{1000 * cpu:>16.3f}{cpu / base_cpu:>10.2f}"
            f"{median([r['p95_ms'] for r in results]):>8.2f}"
            f"{median([r['others_cores'] for r in results]):>7.2f}{ticks:>8.1f}{shown!s:>11}"
        )
    print(
        "others: cores used by processes outside the edge and the devices during the phase "
        "(median): other work on the machine and, with the page open, the browser."
    )
    build = [x for r in runs["live feed"] for x in r["build_ms"] if x > 0]
    render = [x for r in runs["page open"] for x in r["render_ms"]]
    if build:
        print(
            f"edge CPU per tick ({args.devices} devices): median {np.median(build):.2f} ms, "
            f"p95 {np.percentile(build, 95):.2f} ms (built once per 0.5 s for all viewers)"
        )
    if render:
        print(
            f"browser render of one tick ({args.devices} rows, 5 charts): median "
            f"{np.median(render):.1f} ms, p95 {np.percentile(render, 95):.1f} ms"
        )


if __name__ == "__main__":
    main()
