"""Fuzzing the wire decoder and a live ``sciot serve`` while valid devices run beside it.

Two phases, both seeded and bounded in count and time:

1. **decoder**: ``--cases`` mutations (random bytes, bit flips, truncations, splices,
   overwrites with values at the edge of each field's range, each with or without a corrected
   length field) of valid frames of every request type, decoded in-process, a tenth of them
   through the stream decoder in random chunks. Counted: refusals (``RemoteProtocolError``),
   crashes (any other exception or a numpy warning), accepted messages holding a value out of
   range (an independent check of every field), the slowest case.
2. **live**: ``sciot serve`` as a subprocess on loopback; ``--devices`` real device clients
   (HTTP and WebSocket) infer throughout while fuzzing clients send ``--requests`` mutated
   frames over HTTP, as many over WebSocket, junk JSON registrations and junk TCP connections.
   Counted: 5xx answers, telemetry rows of the valid devices missing at the end (inferences
   done minus rows stored), stored rows holding out-of-range values, the edge's RSS, and its
   log lines for junk connections.

    .venv/bin/python bench/bench_fuzz.py [--cases 100000] [--requests 3000] [--devices 4]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import random
import shutil
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from websockets.sync.client import connect

from sciot.device import DeviceClient, DeviceConfig
from sciot.errors import RemoteProtocolError
from sciot.model import ModelGraph, load_model, split_model
from sciot.model.zoo import demo_model_path, load_demo_input
from sciot.runtime import SegmentExecutor
from sciot.transport import HttpClientTransport, WebSocketClientTransport
from sciot.wire import (
    DeviceOnlyReport,
    FrameDecoder,
    InferRequest,
    Message,
    OfflineRecord,
    OfflineReport,
    Register,
    Tensor,
    TensorEncoding,
    decode,
    encode,
)

FUZZ_ID = "fz-1"
EDGE_VALUES = [
    struct.pack("<Q", 2**63),
    struct.pack("<Q", 2**64 - 1),
    *(struct.pack("<d", v) for v in (math.nan, -math.inf, math.inf, -1.0, 1e300, 1e37, 5e-324)),
    struct.pack("<i", 2**31 - 1),
    struct.pack("<i", -(2**31)),
    struct.pack("<I", 0xFFFFFFFF),
    struct.pack("<H", 0xFFFF),
    b"\xff",
    b"\x00",
]


def base_frames() -> tuple[list[bytes], ModelGraph]:
    """Valid frames of each request type the edge accepts, from the demo model."""
    graph = load_model(demo_model_path("fomo96"))
    x = load_demo_input("fomo96", 3)
    in_name = graph.inputs[0].name
    frames = [encode(Register(device_id=FUZZ_ID, model_id=graph.model_id))]
    for cut, encoding in (
        (0, TensorEncoding.INT8_ZLIB),
        (12, TensorEncoding.INT8),
        (20, TensorEncoding.RAW),
        (7, TensorEncoding.RAW_ZLIB),
    ):
        head = split_model(graph, cut).head
        values = {in_name: x} if head is None else SegmentExecutor(head).run({in_name: x})
        tensors = tuple(Tensor(name=n, array=values[n]) for n in graph.cut(cut).tensor_names)
        request = InferRequest(
            device_id=FUZZ_ID,
            model_id=graph.model_id,
            seq=cut,
            cut=cut,
            tensors=tensors,
            device_seconds=0.001,
        )
        frames.append(encode(request, encoding=encoding))
    n = graph.num_ops
    records = tuple(
        OfflineRecord(
            seq=i, cut=n, started_at_s=1e9 + i, device_seconds=0.01, device_op_seconds=(0.001,)
        )
        for i in range(4)
    )
    frames.append(
        encode(DeviceOnlyReport(device_id=FUZZ_ID, model_id=graph.model_id, records=records))
    )
    frames.append(
        encode(OfflineReport(device_id=FUZZ_ID, model_id=graph.model_id, records=records[:2]))
    )
    return frames, graph


def mutate(rng: random.Random, bases: list[bytes]) -> bytes:
    frame = bytearray(rng.choice(bases))
    if rng.random() < 0.05:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(5)
        at = rng.randrange(max(len(frame), 1))
        if kind == 0 and frame:
            frame[at] ^= 1 << rng.randrange(8)
        elif kind == 1:
            del frame[at:]
        elif kind == 2:
            other = rng.choice(bases)
            frame = frame[:at] + other[rng.randrange(len(other)) :]
        elif kind == 3:
            frame[at : at + 8] = rng.randbytes(rng.randint(1, 8))
        else:
            value = rng.choice(EDGE_VALUES)
            frame[at : at + len(value)] = value
    if len(frame) >= 8 and rng.random() < 0.7:  # an honest length lets the body be reached
        frame[4:8] = struct.pack("<I", len(frame))
    return bytes(frame)


def _bad_seconds(values: tuple[float, ...] | list[float]) -> bool:
    return any(not math.isfinite(v) or v < 0 for v in values)


def out_of_range(msg: Message) -> str | None:
    """An independent check of every field a decoded message can carry."""
    if not 0 <= msg.seq < 2**63 or _bad_seconds([msg.sent_at_s]):
        return f"header seq {msg.seq} / sent_at_s {msg.sent_at_s}"
    tensors: list[Tensor] = []
    if isinstance(msg, InferRequest):
        if _bad_seconds([msg.device_seconds, *msg.device_op_seconds]):
            return "device seconds"
        tensors += msg.tensors
    if isinstance(msg, Register) and _bad_seconds(
        [msg.profile.speed_factor, *msg.profile.op_seconds]
    ):
        return "profile seconds"
    if isinstance(msg, OfflineReport | DeviceOnlyReport):
        for r in msg.records:
            if not 0 <= r.seq < 2**63 or _bad_seconds(
                [r.started_at_s, r.device_seconds, *r.device_op_seconds]
            ):
                return f"record seq {r.seq} / started_at_s {r.started_at_s}"
            tensors += r.tensors
    transfer = getattr(msg, "last_transfer", None)
    if transfer is not None and _bad_seconds([transfer.seconds]):
        return "transfer seconds"
    for t in tensors:
        if not (math.isfinite(t.scale) and t.scale >= 0):
            return f"tensor scale {t.scale}"
        if t.array.dtype.kind in "iu" and t.scale > 0:
            info = np.iinfo(t.array.dtype)
            if not info.min <= t.zero_point <= info.max:
                return f"zero point {t.zero_point} for {t.array.dtype}"
    return None


def fuzz_decoder(cases: int, seed: int, bases: list[bytes]) -> dict[str, Any]:
    rng = random.Random(seed)
    counts = {"cases": cases, "refused": 0, "accepted": 0, "incomplete": 0, "crashes": 0}
    counts["out_of_range"] = 0
    examples: list[str] = []
    slowest = 0.0
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(cases):
            frame = mutate(rng, bases)
            t0 = time.perf_counter()
            try:
                if i % 10 == 0:
                    msgs = _stream_decode(frame, rng)
                    counts["incomplete"] += not msgs  # the stream awaits more bytes
                else:
                    msgs = [decode(frame, max_frame_bytes=1 << 20)]
            except RemoteProtocolError:
                counts["refused"] += 1
                msgs = []
            except Exception as exc:  # anything else is a decoder bug
                counts["crashes"] += 1
                examples.append(f"crash {type(exc).__name__}: {exc} on {frame[:48].hex()}")
                msgs = []
            slowest = max(slowest, time.perf_counter() - t0)
            counts["accepted"] += bool(msgs)
            for msg in msgs:
                problem = out_of_range(msg)
                if problem is not None:
                    counts["out_of_range"] += 1
                    examples.append(f"accepted {problem}")
    elapsed = time.perf_counter() - started
    return {
        **counts,
        "seconds": round(elapsed, 1),
        "slowest_ms": round(slowest * 1e3, 2),
        "examples": examples[:5],
    }


def _stream_decode(frame: bytes, rng: random.Random) -> list[Message]:
    decoder = FrameDecoder(max_frame_bytes=1 << 20)
    out = []
    pos = 0
    while pos < len(frame):
        step = rng.randint(1, 4096)
        decoder.feed(frame[pos : pos + step])
        pos += step
        while (msg := decoder.next_frame()) is not None:
            out.append(msg)
    return out


# --------------------------------------------------------------------------------- live edge


def start_serve(db: Path, log: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "sciot", "serve", "--port", "0", "--telemetry", str(db)],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if " on http://" not in line:
        process.kill()
        raise SystemExit(f"sciot serve did not start: {line!r}")
    return process, line.split(" on ", 1)[1].split()[0]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: dict[str, int] = {}
        self.examples: list[str] = []

    def add(self, kind: str, status: int, detail: bytes = b"") -> None:
        key = f"{kind} {status}"
        with self.lock:
            self.statuses[key] = self.statuses.get(key, 0) + 1
            if status >= 500 and len(self.examples) < 5:
                self.examples.append(f"{key}: {detail[:160]!r}")

    def server_errors(self) -> int:
        return sum(n for k, n in self.statuses.items() if int(k.split()[1]) >= 500)


def _post(host: str, port: int, path: str, body: bytes, ctype: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": ctype})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def http_fuzzer(
    host: str, port: int, count: int, seed: int, bases: list[bytes], tally: Tally
) -> None:
    rng = random.Random(seed)
    paths = [
        "/v1/frame",
        "/v1/frame",
        "/v1/frame",
        "/api/device_input",
        "/api/device_inference_result",
    ]
    for _ in range(count):
        status, body = _post(
            host, port, rng.choice(paths), mutate(rng, bases), "application/octet-stream"
        )
        tally.add("http-frame", status, body)
    keys = ["device_id", "model_id", "kind", "extra"]
    values: list[Any] = [
        "",
        "zz",
        "0123456789ABCDEF",
        "k" * 300,
        "\u00e9" * 200,
        "\ud800",
        7,
        None,
        [],
        {},
        math.nan,
        1e309,
        "a" * 65,
    ]
    for _ in range(count // 6):
        body = {k: rng.choice(values) for k in rng.sample(keys, rng.randint(0, 4))}
        raw = json.dumps(body).encode() if rng.random() < 0.8 else rng.randbytes(rng.randint(0, 40))
        status, reply = _post(host, port, "/api/registration", raw, "application/json")
        tally.add("http-json", status, reply)


def ws_fuzzer(url: str, count: int, seed: int, bases: list[bytes], tally: Tally) -> None:
    rng = random.Random(seed)
    sent = 0
    while sent < count:
        with connect(url, max_size=None, open_timeout=30) as ws:
            while sent < count:
                sent += 1
                ws.send(mutate(rng, bases) if rng.random() < 0.97 else "text junk")
                reply = decode(ws.recv(timeout=30))
                code = int(getattr(reply, "code", 200))
                tally.add("ws-frame", code, getattr(reply, "reason", "").encode())


def junk_connections(host: str, port: int, count: int, seed: int, tally: Tally) -> None:
    rng = random.Random(seed)
    for _ in range(count):
        with socket.create_connection((host, port), timeout=30) as sock:
            sock.sendall(rng.randbytes(rng.randint(1, 200)) + b"\r\n\r\n")
            answer = b""
            with contextlib.suppress(OSError):
                while chunk := sock.recv(65536):
                    answer += chunk
        status = int(answer.split()[1]) if answer.startswith(b"HTTP/1.1 ") else 0
        tally.add("junk-conn", status, answer)


def valid_device(url: str, index: int, stop: threading.Event, results: list[Any]) -> None:
    transport = "http" if index % 2 == 0 else "ws"
    config = DeviceConfig.from_mapping(
        {
            "device_id": f"valid-{index}",
            "edge_url": url,
            "transport": transport,
            "timeout_s": 30.0,
            "seed": index,
        }
    )
    link = (
        HttpClientTransport(url)
        if transport == "http"
        else WebSocketClientTransport(url.replace("http://", "ws://") + "/v1/ws")
    )
    client = DeviceClient(config, link)
    x = load_demo_input("fomo96", index)
    client.start()
    deadline = time.monotonic() + 600
    while not stop.is_set() and time.monotonic() < deadline:
        client.infer(x)
    client.flush(force=True)
    results.append(client.stats())
    client.close()


def fuzz_live(
    requests: int, devices: int, seed: int, bases: list[bytes], graph: ModelGraph
) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="sciot-fuzz-"))
    db, log = workdir / "telemetry.sqlite", workdir / "edge.log"
    process, url = start_serve(db, log)
    host, port = url.removeprefix("http://").split(":")
    tally = Tally()
    stop = threading.Event()
    stats: list[Any] = []
    rss: list[float] = [rss_mib(process.pid)]
    try:
        register = encode(Register(device_id=FUZZ_ID, model_id=graph.model_id))
        assert _post(host, int(port), "/v1/frame", register, "application/octet-stream")[0] == 200
        device_threads = [
            threading.Thread(target=valid_device, args=(url, i, stop, stats))
            for i in range(devices)
        ]
        fuzzers = [
            threading.Thread(
                target=http_fuzzer, args=(host, int(port), requests, seed, bases, tally)
            ),
            threading.Thread(
                target=ws_fuzzer,
                args=(url.replace("http://", "ws://") + "/v1/ws", requests, seed + 1, bases, tally),
            ),
            threading.Thread(
                target=junk_connections, args=(host, int(port), requests // 10, seed + 2, tally)
            ),
        ]
        started = time.monotonic()
        for t in (*device_threads, *fuzzers):
            t.start()
        while any(t.is_alive() for t in fuzzers):
            time.sleep(0.25)
            rss.append(rss_mib(process.pid))
        stop.set()
        for t in device_threads:
            t.join(120)
        elapsed = time.monotonic() - started
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    findings = {
        **_telemetry_findings(db, stats, graph.num_ops),
        "seconds": round(elapsed, 1),
        "statuses": dict(sorted(tally.statuses.items())),
        "5xx": tally.server_errors(),
        "5xx_examples": tally.examples,
        "edge_rss_mib": {
            "start": round(rss[0], 1),
            "max": round(max(rss), 1),
            "end": round(rss[-1], 1),
        },
        **_log_findings(log),
    }
    if findings["5xx"] or findings["valid_rows_missing"] or findings["rows_out_of_range"]:
        findings["kept_for_inspection"] = str(workdir)  # the edge's log and database
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return findings


def _telemetry_findings(db: Path, stats: list[Any], num_ops: int) -> dict[str, Any]:
    conn = sqlite3.connect(db)
    try:
        per_device = dict(
            conn.execute("SELECT device_id, COUNT(*) FROM inferences GROUP BY device_id").fetchall()
        )
        bad = conn.execute(
            "SELECT COUNT(*) FROM inferences WHERE seq < 0 OR at_s < 0 OR device_s < 0 "
            "OR edge_s < 0 OR transfer_s < 0 OR end_to_end_s < 0 OR typeof(at_s) != 'real'"
        ).fetchone()[0]
        beyond = conn.execute("SELECT COUNT(*) FROM inferences WHERE cut > ?", (num_ops,))
        cut_beyond_model = beyond.fetchone()[0]
    finally:
        conn.close()
    done = {s.device_id: s.inferences for s in stats}
    missing = {d: n - per_device.get(d, 0) for d, n in done.items()}
    return {
        "valid_inferences": sum(done.values()),
        "valid_rows_missing": sum(max(m, 0) for m in missing.values()),
        "valid_lost_on_device": sum(s.lost for s in stats),
        "fuzz_rows_stored": sum(n for d, n in per_device.items() if d not in done),
        "rows_out_of_range": bad,
        "rows_cut_beyond_model": cut_beyond_model,
    }


def _log_findings(log: Path) -> dict[str, Any]:
    text = log.read_text(errors="replace")
    return {
        "log_lines": len(text.splitlines()),
        "log_invalid_http_lines": text.count("Invalid HTTP request received."),
        "log_tracebacks": text.count("Traceback"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    bases, graph = base_frames()
    decoder = fuzz_decoder(args.cases, args.seed, bases)
    print(json.dumps({"decoder": decoder}, indent=1), flush=True)
    live = fuzz_live(args.requests, args.devices, args.seed, bases, graph)
    print(json.dumps({"live": live}, indent=1), flush=True)


if __name__ == "__main__":
    main()
