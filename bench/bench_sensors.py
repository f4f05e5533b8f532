"""Sensor pipeline benchmark: readings/s end to end through a real Mosquitto, and detection F1.

Starts a private Mosquitto on a free loopback port, then runs, for the same simulated plant
(fixed seed) and the same wall duration:

The readings come from ``sciot sensors run --mode simulate`` in a separate process (as they
would from a fleet); the ingest side runs in this process:

* ``per-reading baseline``: one JSON message per reading, processed one at a time on the MQTT
  network thread (window statistics recomputed per reading with numpy): the design SPEC.md
  describes for the seed pipeline, measured here as the baseline;
* ``sciot json``: our pipeline with the same one-JSON-object-per-reading wire schema;
* ``sciot batch``: our pipeline with the compact batched encoding, at the same offered load and
  at 4 and 16 times it, to find where it saturates;
* ``sciot batch iforest``: the Isolation Forest detector instead of the streaming one.

Each row: offered (published) readings/s, processed readings/s, readings lost (dropped,
unprocessed or never received), alerts, event-level precision/recall/F1, alert latency, and
the throughput ratio against the baseline. Run::

    .venv/bin/python bench/bench_sensors.py            # ~3 minutes
    .venv/bin/python bench/bench_sensors.py --quick    # ~1 minute
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from sciot.sensors import MqttPubSub, parse_broker, parse_config, run_pipeline

MOSQUITTO = "/usr/sbin/mosquitto"
TYPES = (
    ("temperature", 10.0),
    ("humidity", 10.0),
    ("pressure", 10.0),
    ("power", 10.0),
    ("vibration", 50.0),
)
LOCATIONS = 10  # 50 sensors, 900 readings per simulated second


def plant(*, speed: float, encoding: str, detector: str = "streaming") -> Any:
    sensors = [
        {"id": f"{t[:4]}_{loc:02d}", "type": t, "location": f"loc_{loc:02d}", "rate_hz": r}
        for loc in range(LOCATIONS)
        for t, r in TYPES
    ]
    return parse_config(
        {
            "seed": 11,
            "sensors": sensors,
            "anomalies": {"warmup_s": 60, "mean_gap_s": 120, "min_gap_s": 60},
            "simulation": {"speed": speed, "encoding": encoding, "tick_s": 0.05},
            "detection": {"detector": detector},
            "alerts": {"cooldown_s": 60},
        }
    )


def readings_per_sim_s() -> float:
    return LOCATIONS * sum(rate for _, rate in TYPES)


class Broker:
    """A private Mosquitto on a free loopback port, stopped by PID."""

    def __init__(self) -> None:
        binary = MOSQUITTO if Path(MOSQUITTO).exists() else shutil.which("mosquitto")
        if binary is None:
            sys.exit("bench_sensors: the mosquitto binary is not installed")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self._dir = tempfile.TemporaryDirectory()
        conf = Path(self._dir.name) / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 100000\nlog_dest none\n",
            encoding="utf-8",
        )
        self._proc = subprocess.Popen(
            [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        sys.exit("bench_sensors: mosquitto did not start")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)
        self._dir.cleanup()


class PerReadingBaseline:
    """One reading at a time on the network thread, statistics recomputed per reading."""

    def __init__(self) -> None:
        self.buffers: dict[str, deque[tuple[float, float]]] = {}
        self.processed = 0
        self.first_s: float | None = None
        self.last_s = 0.0

    def on_message(self, topic: str, payload: bytes) -> None:
        doc = json.loads(payload)
        ts = datetime.fromisoformat(doc["timestamp"]).timestamp()
        buf = self.buffers.setdefault(doc["sensor_id"], deque(maxlen=32))
        buf.append((ts, float(doc["value"])))
        if len(buf) > 2:
            arr = np.array(buf)
            v = arr[:, 1]
            _ = (v.mean(), v.std(), v.min(), v.max(), np.polyfit(arr[:, 0] - arr[0, 0], v, 1))
        self.processed += 1
        now = time.time()
        if self.first_s is None:
            self.first_s = now
        self.last_s = now


class PublisherProcess:
    """``sciot sensors run --mode simulate`` in its own process, as a fleet of sensors would be."""

    def __init__(self, broker: str, config: Any, *, duration_s: float, workdir: Path) -> None:
        import yaml

        self._config_path = workdir / f"plant-{time.monotonic_ns()}.yaml"
        self._config_path.write_text(yaml.safe_dump(config.model_dump(mode="json")), "utf-8")
        self._report_path = self._config_path.with_suffix(".json")
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sciot",
                "sensors",
                "run",
                "--mode",
                "simulate",
                "--quiet",
                "--broker",
                broker,
                "--config",
                str(self._config_path),
                "--duration",
                str(duration_s),
                "--json",
                str(self._report_path),
            ],
            stdout=subprocess.DEVNULL,
        )

    def wait(self, timeout_s: float) -> dict[str, Any]:
        try:
            code = self._proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)
            raise SystemExit("bench_sensors: the publisher process did not finish") from None
        if code != 0:
            raise SystemExit(f"bench_sensors: the publisher process failed ({code})")
        doc: dict[str, Any] = json.loads(self._report_path.read_text("utf-8"))
        return doc


def run_baseline(broker: str, *, speed: float, duration_s: float, workdir: Path) -> dict[str, Any]:
    sub = MqttPubSub(parse_broker(broker))
    baseline = PerReadingBaseline()
    try:
        sub.subscribe("sensors/+/data", baseline.on_message)
        config = plant(speed=speed, encoding="json")
        publisher = PublisherProcess(broker, config, duration_s=duration_s, workdir=workdir)
        published = publisher.wait(timeout_s=duration_s + 30)
        deadline = time.monotonic() + 5.0
        while baseline.processed < published["published"] and time.monotonic() < deadline:
            time.sleep(0.05)
        busy = max(baseline.last_s - (baseline.first_s or baseline.last_s), 1e-9)
        return {
            "name": "per-reading baseline (json)",
            "offered": published["readings_per_s"],
            "processed": baseline.processed / busy,
            "lost": published["published"] - baseline.processed,
            "published": published["published"],
            "alerts": None,
            "precision": None,
            "recall": None,
            "f1": None,
            "p50": None,
            "p99": None,
        }
    finally:
        sub.close()


def run_ours(
    broker: str,
    name: str,
    *,
    speed: float,
    encoding: str,
    detector: str,
    duration_s: float,
    workdir: Path,
) -> dict[str, Any]:
    config = plant(speed=speed, encoding=encoding, detector=detector)
    result: dict[str, Any] = {}

    def ingest() -> None:
        # Runs long enough to cover the publisher's start-up and the drain after it stops.
        result["report"] = run_pipeline(
            config, mode="ingest", duration_s=duration_s + 8.0, broker=broker
        )

    thread = threading.Thread(target=ingest)
    thread.start()
    time.sleep(1.0)  # subscribed before the first reading is published
    published = PublisherProcess(broker, config, duration_s=duration_s, workdir=workdir).wait(
        timeout_s=duration_s + 30
    )
    thread.join()
    doc = result["report"].to_json()
    return {
        "name": name,
        "offered": published["readings_per_s"],
        "processed": doc["readings_per_s"],
        "lost": published["published"] - doc["readings"],
        "published": published["published"],
        "dropped": doc["dropped"],
        "alerts": doc["alerts"],
        "events": doc["events"],
        "precision": doc["precision"],
        "recall": doc["recall"],
        "f1": doc["f1"],
        "p50": doc["latency_ms"]["p50"],
        "p99": doc["latency_ms"]["p99"],
        "per_kind": doc["per_kind"],
    }


def _f(value: Any, spec: str) -> str:
    if value is None:
        width = "".join(ch for ch in spec.split(".")[0] if ch.isdigit())
        return "-".rjust(int(width or 1))
    return format(value, spec)


def print_table(rows: list[dict[str, Any]]) -> None:
    base = rows[0]["processed"]
    head = (
        f"{'run':<30} {'offered/s':>10} {'processed/s':>12} {'lost %':>7} {'ratio':>7} "
        f"{'alerts':>6} {'prec':>5} {'rec':>5} {'F1':>5} {'p50 ms':>7} {'p99 ms':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        lost_pct = 100.0 * r["lost"] / max(r["published"], 1)
        print(
            f"{r['name']:<30} {r['offered']:>10,.0f} {r['processed']:>12,.0f} "
            f"{lost_pct:>7.1f} {r['processed'] / base:>6.1f}x {_f(r['alerts'], '>6')} "
            f"{_f(r['precision'], '>5.2f')} {_f(r['recall'], '>5.2f')} {_f(r['f1'], '>5.2f')} "
            f"{_f(r['p50'], '>7.1f')} {_f(r['p99'], '>7.1f')}"
        )


def print_kinds(row: dict[str, Any]) -> None:
    print(f"\nper kind, {row['name']} ({row['events']} events):")
    for kind, s in row["per_kind"].items():
        print(
            f"  {kind:<12} events {s['events']:>3}  caught {s['caught']:>3}  false alerts "
            f"{s['false_alerts']:>2}  P {_f(s['precision'], '.2f')}  R {_f(s['recall'], '.2f')}"
            f"  F1 {_f(s['f1'], '.2f')}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 s runs instead of 20 s")
    parser.add_argument("--duration", type=float, default=None, help="wall seconds per run")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    duration = args.duration or (6.0 if args.quick else 20.0)
    target = 25_000.0  # offered readings/s for the like-for-like rows
    speed = target / readings_per_sim_s()
    broker = Broker()
    workdir = tempfile.TemporaryDirectory()
    work = Path(workdir.name)
    runs = [
        ("sciot json", 1.0, "json", "streaming"),
        ("sciot batch", 1.0, "batch", "streaming"),
        ("sciot batch iforest", 1.0, "batch", "iforest"),
        ("sciot batch, 4x offered", 4.0, "batch", "streaming"),
        ("sciot batch, 16x offered", 16.0, "batch", "streaming"),
    ]
    try:
        print(
            f"plant: {LOCATIONS * len(TYPES)} sensors, {readings_per_sim_s():.0f} readings per "
            f"simulated s; {duration:g} s per run; Mosquitto on {broker.address}; "
            "publisher in its own process\n"
        )
        rows = [run_baseline(broker.address, speed=speed, duration_s=duration, workdir=work)]
        for name, factor, encoding, detector in runs:
            rows.append(
                run_ours(
                    broker.address,
                    name,
                    speed=factor * speed,
                    encoding=encoding,
                    detector=detector,
                    duration_s=duration,
                    workdir=work,
                )
            )
    finally:
        broker.stop()
        workdir.cleanup()
    print_table(rows)
    print_kinds(rows[2])
    print_kinds(rows[3])
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
