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
the throughput ratio against the baseline.

Then detection quality, measured over hours of simulated plant time replayed through the same
stages (:func:`sciot.sensors.evaluate_detection`, no wall clock): F1 per anomaly kind at the
default, realistic magnitudes for the streaming and Isolation Forest detectors and for two
baselines: ``static 3-sigma`` (each reading against the sensor's warm-up mean and spread, the
textbook rule, learnt once) and ``rolling EWMA z-score`` (the same rule against exponentially
weighted running mean and spread, so it follows the daily cycle: the fair baseline), then F1
per kind as every anomaly is made 3, 5, 8 and 12 noise sigma (noise
bursts: that many times the noise). Run::

    .venv/bin/python bench/bench_sensors.py                   # ~5 minutes
    .venv/bin/python bench/bench_sensors.py --quick           # ~2 minutes
    .venv/bin/python bench/bench_sensors.py --quality-only    # the quality tables, ~2 minutes
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

from sciot.sensors import (
    ANOMALY_KINDS,
    Finding,
    MqttPubSub,
    WindowFeatures,
    evaluate_detection,
    parse_broker,
    parse_config,
    run_pipeline,
)

MOSQUITTO = "/usr/sbin/mosquitto"
TYPES = (
    ("temperature", 10.0),
    ("humidity", 10.0),
    ("pressure", 10.0),
    ("power", 10.0),
    ("vibration", 50.0),
)
LOCATIONS = 10  # 50 sensors, 900 readings per simulated second


def plant(
    *,
    speed: float,
    encoding: str,
    detector: str = "streaming",
    magnitude_sigma: float | None = None,
) -> Any:
    sensors = [
        {"id": f"{t[:4]}_{loc:02d}", "type": t, "location": f"loc_{loc:02d}", "rate_hz": r}
        for loc in range(LOCATIONS)
        for t, r in TYPES
    ]
    anomalies: dict[str, Any] = {"warmup_s": 60, "mean_gap_s": 120, "min_gap_s": 60}
    if magnitude_sigma is not None:
        sized = ("spike", "level_shift", "drift", "noise_burst")
        anomalies["magnitude"] = {k: [magnitude_sigma, magnitude_sigma] for k in sized}
    return parse_config(
        {
            "seed": 11,
            "sensors": sensors,
            "anomalies": anomalies,
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


class StaticThreshold:
    """Baseline detector: every reading against its sensor's warm-up mean +- 3 spreads.

    The textbook rule (a z-score on raw values, learnt once), applied to each window's
    extremes, plus the same dropout rule as ours. It sees the daily cycle as anomalous and
    a few-sigma fault as normal, which is what a realistic plant does to it.
    """

    name = "static 3-sigma"

    def __init__(self, *, sigmas: float = 3.0, warmup_windows: int = 40) -> None:
        self._sigmas = sigmas
        self._warmup = warmup_windows
        self._seen: dict[str, list[np.ndarray]] = {}
        self._limits: dict[str, tuple[float, float]] = {}

    def process(self, features: WindowFeatures) -> list[Finding]:
        return self.process_many([features])

    def process_many(self, blocks: Any) -> list[Finding]:
        out: list[Finding] = []
        for f in blocks:
            sid = f.info.sensor_id
            for i in range(len(f)):
                if f.column("gap_ratio")[i] > 5.0:
                    out.append(self._finding(f, i, "dropout", "gap_ratio", 0.0))
                    continue
                limits = self._limits.get(sid)
                if limits is None:
                    rows = self._seen.setdefault(sid, [])
                    rows.append(f.values[i])
                    if len(rows) >= self._warmup:
                        block = np.vstack(rows)
                        mean = float(block[:, 0].mean())
                        spread = float(np.sqrt((block[:, 1] ** 2).mean() + block[:, 0].var()))
                        self._limits[sid] = (mean, spread)
                    continue
                mean, spread = limits
                high = (f.column("max")[i] - mean) / spread
                low = (mean - f.column("min")[i]) / spread
                if max(high, low) > self._sigmas:
                    out.append(self._finding(f, i, "level_shift", "value", max(high, low)))
        return out

    def _finding(self, f: WindowFeatures, i: int, kind: Any, feature: str, z: float) -> Finding:
        return Finding(
            sensor_id=f.info.sensor_id,
            timestamp_s=float(f.end_s[i]),
            sent_s=float(f.sent_s[i]),
            kind=kind,
            feature=feature,
            z=z,
            score=z / self._sigmas,
            value=z,
            expected=0.0,
            spread=1.0,
        )

    def save(self, path: Any) -> None:
        raise NotImplementedError


class RollingZScore(StaticThreshold):
    """Baseline detector: each window's extremes against an exponentially weighted running mean
    and spread of its sensor (an EWMA control chart), 3 spreads, after a warm-up.

    Unlike :class:`StaticThreshold` it keeps learning, so the daily cycle moves the mean with
    it instead of raising alerts; ``alpha`` per window sets how fast (0.02: a memory of about
    50 windows). The spread is the window means' running variance plus the within-window
    noise. Same dropout rule as ours.
    """

    name = "rolling EWMA z-score"

    def __init__(
        self, *, sigmas: float = 3.0, alpha: float = 0.02, warmup_windows: int = 40
    ) -> None:
        super().__init__(sigmas=sigmas, warmup_windows=warmup_windows)
        self._alpha = alpha
        self._state: dict[str, list[float]] = {}  # mean, variance of means, noise, count

    def process_many(self, blocks: Any) -> list[Finding]:
        out: list[Finding] = []
        a = self._alpha
        for f in blocks:
            sid = f.info.sensor_id
            state = self._state.setdefault(sid, [0.0, 0.0, 0.0, 0.0])
            for i in range(len(f)):
                if f.column("gap_ratio")[i] > 5.0:
                    out.append(self._finding(f, i, "dropout", "gap_ratio", 0.0))
                    continue
                x, noise = float(f.values[i][0]), float(f.values[i][1]) ** 2
                mean, var, noise_var, count = state
                if count >= self._warmup:
                    spread = max(float(np.sqrt(var + noise_var)), 1e-12)
                    high = (f.column("max")[i] - mean) / spread
                    low = (mean - f.column("min")[i]) / spread
                    if max(high, low) > self._sigmas:
                        out.append(self._finding(f, i, "level_shift", "value", max(high, low)))
                # Warm-up: plain running averages; then exponential forgetting.
                w = 1.0 / (count + 1) if count < self._warmup else a
                d = x - mean
                state[0] = mean + w * d
                state[1] = (1 - w) * (var + w * d * d)
                state[2] = noise_var + w * (noise - noise_var)
                state[3] = count + 1
        return out


def quality(hours: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per-kind F1 at realistic sizes (three detectors), then F1 against anomaly size."""
    simulated_s = hours * 3600.0

    def row(name: str, config: Any, detector: Any = None) -> dict[str, Any]:
        wall0 = time.monotonic()
        doc = evaluate_detection(config, simulated_s=simulated_s, detector=detector).to_json()
        doc["name"] = name
        doc["wall_s"] = time.monotonic() - wall0
        return doc

    base = plant(speed=1.0, encoding="batch")
    realistic = [
        row("static 3-sigma (baseline)", base, StaticThreshold()),
        row("rolling EWMA z-score", base, RollingZScore()),
        row("sciot streaming", base),
        row("sciot iforest", plant(speed=1.0, encoding="batch", detector="iforest")),
    ]
    sized = [
        row(f"{sigma:g} sigma", plant(speed=1.0, encoding="batch", magnitude_sigma=sigma))
        for sigma in (3.0, 5.0, 8.0, 12.0)
    ]
    return realistic, sized


def print_quality(title: str, rows: list[dict[str, Any]], *, ratio: bool) -> None:
    kinds = "".join(f"{k[:11]:>12}" for k in ANOMALY_KINDS)
    head = f"{'':<27}{'events':>7}{'alerts':>7}{'prec':>6}{'rec':>6}{'F1':>6}{kinds}"
    head += f"{'F1 ratio':>9}" if ratio else ""
    print(f"\n{title}\n{head}\n{'-' * len(head)}")
    base_f1 = rows[0]["f1"] or 1e-9
    for r in rows:
        per = "".join(f"{_f(r['per_kind'][k]['f1'], '>12.2f')}" for k in ANOMALY_KINDS)
        line = (
            f"{r['name']:<27}{r['events']:>7}{r['alerts']:>7}{_f(r['precision'], '>6.2f')}"
            f"{_f(r['recall'], '>6.2f')}{_f(r['f1'], '>6.2f')}{per}"
        )
        if ratio:
            line += f"{(r['f1'] or 0.0) / base_f1:>8.1f}x"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 s runs instead of 20 s")
    parser.add_argument("--duration", type=float, default=None, help="wall seconds per run")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument(
        "--quality-hours", type=float, default=None, help="simulated hours per quality row"
    )
    parser.add_argument(
        "--quality-only", action="store_true", help="only the detection quality tables"
    )
    args = parser.parse_args()
    duration = args.duration or (6.0 if args.quick else 20.0)
    hours = args.quality_hours or (0.5 if args.quick else 1.0)
    realistic, sized = quality(hours)
    print(
        f"detection quality: {LOCATIONS * len(TYPES)} sensors, {hours:g} simulated h per row "
        f"(replayed in {sum(r['wall_s'] for r in realistic + sized):.0f} s wall)"
    )
    print_quality("F1 per kind at the default, realistic magnitudes", realistic, ratio=True)
    print_quality("F1 per kind, every anomaly of one size (streaming)", sized, ratio=False)
    if args.quality_only:
        return
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
    print()
    print_table(rows)
    print_kinds(rows[2])
    print_kinds(rows[3])
    if args.json is not None:
        doc = {"throughput": rows, "quality": realistic, "by_size": sized}
        args.json.write_text(json.dumps(doc, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
