"""``sciot bench net``: round-trip time and goodput of every transport, per payload size.

Like the ESP32 seed's protocol measurements (TCP, UDP, ESP-NOW, BLE round trips), but for the
transports a sciot device can use: HTTP, WebSocket, raw TCP, UDP and MQTT through a real
Mosquitto. The far end is the real listener of each transport fronted by an echo (the frame
comes back unchanged), so what is measured is the transport: its client, framing, sockets and
server loop, not a tail model. Each payload is a real request frame of the stated total size.
Over ``--link wifi`` / ``lte`` the exchange also pays the emulated link's round trip and
bandwidth (:class:`~sciot.transport.EmulatedTransport`), and ``--trace UP DOWN`` adds a link
replaying mahimahi trace files. Goodput counts the payload both ways: ``2 x size / RTT``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from sciot.cli._bench_echo import MAX_BYTES, echo_servers
from sciot.errors import ConfigError, SciotError, TransportError

app = typer.Typer(no_args_is_help=True)

TRANSPORTS = ("http", "ws", "tcp", "udp", "mqtt")
DEFAULT_SIZES = "64,1k,16k,256k,1m"
TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class NetResult:
    link: str
    transport: str
    size_bytes: int
    requests: int
    rtt_p50_ms: float
    rtt_p95_ms: float
    goodput_mbit_s: float


def parse_sizes(text: str) -> list[int]:
    """``64,1k,16k,1m`` -> bytes (k = 1024, m = 1024 * 1024)."""
    sizes = []
    for part in text.split(","):
        raw = part.strip().lower()
        factor = {"k": 1024, "m": 1024 * 1024}.get(raw[-1:], 1)
        number = raw[:-1] if factor > 1 else raw
        try:
            size = int(float(number) * factor)
        except ValueError:
            raise ConfigError(f"--sizes: {part!r} is not a size such as 64, 16k or 1m") from None
        if not 64 <= size <= MAX_BYTES:
            raise ConfigError(f"--sizes: {part!r} must be between 64 bytes and 4m")
        sizes.append(size)
    return sizes


def request_frame(size: int, seq: int) -> bytes:
    """A real ``InferRequest`` frame of exactly ``size`` bytes: a uint8 tensor as filler, or,
    below the smallest frame with a tensor, a longer device id."""
    from sciot.wire import InferRequest, Tensor, encode

    def frame(payload: int | None, device_id: str = "bench") -> bytes:
        tensors = () if payload is None else (Tensor(name="x", array=np.zeros(payload, np.uint8)),)
        request = InferRequest(
            device_id=device_id, model_id="0" * 16, seq=seq, cut=0, tensors=tensors
        )
        return encode(request)

    with_tensor = len(frame(0))
    if size >= with_tensor:
        return frame(size - with_tensor)
    bare = len(frame(None))
    return frame(None, "bench" + "-" * max(0, size - bare))


def links(names: list[str], trace: tuple[Path, Path] | None) -> dict[str, Any]:
    """Link name -> emulator (``None`` for bare loopback)."""
    from sciot.sim.demo import DEMO_LINKS

    out: dict[str, Any] = {}
    for name in names:
        if name not in DEMO_LINKS:
            raise ConfigError(f"--links: {name!r} is not one of {', '.join(DEMO_LINKS)}")
        out[name] = DEMO_LINKS[name].link_model()
    if trace is not None:
        import sciot.sim as sim

        factory: Callable[..., Any] | None = getattr(sim, "trace_link", None)
        if factory is None:
            raise ConfigError("--trace needs sciot.sim.trace_link, which this build lacks")
        out[f"trace:{trace[0].stem}"] = factory(trace[0], trace[1])
    return out


def measure(
    url: str, size: int, emulator: Any, *, seconds: float, max_requests: int, seed: int
) -> tuple[int, float, float]:
    """(requests, p50 s, p95 s) of echoed round trips, bounded in count and time."""
    from sciot.transport import EmulatedTransport, client_transport

    inner = client_transport(url)
    transport = (
        inner
        if emulator is None
        else EmulatedTransport(inner, emulator, rng=np.random.default_rng(seed))
    )
    try:
        rtts: list[float] = []
        deadline = time.perf_counter() + seconds
        for seq in range(1, max_requests + 3):
            frame = request_frame(size, seq)
            started = time.perf_counter()
            reply = transport.request(frame, timeout_s=TIMEOUT_S)
            elapsed = time.perf_counter() - started
            if reply != frame:
                raise TransportError(f"{url} echoed {len(reply)} bytes for {len(frame)}")
            if seq > 2:  # two warm-up requests open connections and subscriptions
                rtts.append(elapsed)
            if len(rtts) >= 3 and time.perf_counter() > deadline:
                break
    finally:
        transport.close()
    return len(rtts), float(np.percentile(rtts, 50)), float(np.percentile(rtts, 95))


def run_net(
    transports: list[str],
    sizes: list[int],
    emulators: Mapping[str, Any],
    *,
    seconds: float,
    max_requests: int,
    broker: str | None,
    progress: Callable[[str], None] = lambda _line: None,
) -> list[NetResult]:
    results: list[NetResult] = []
    with echo_servers(transports, broker) as urls:
        for missing in sorted(set(transports) - set(urls)):
            progress(f"{missing}: skipped (no MQTT broker: install mosquitto or pass --broker)")
        for link, emulator in emulators.items():
            for transport, url in urls.items():
                for size in sizes:
                    n, p50, p95 = measure(
                        url, size, emulator, seconds=seconds, max_requests=max_requests, seed=0
                    )
                    result = NetResult(
                        link=link,
                        transport=transport,
                        size_bytes=size,
                        requests=n,
                        rtt_p50_ms=p50 * 1e3,
                        rtt_p95_ms=p95 * 1e3,
                        goodput_mbit_s=2 * size * 8 / p50 / 1e6,
                    )
                    progress(
                        f"{link:>10} {transport:>4} {size:>8} B  p50 {result.rtt_p50_ms:9.3f} ms"
                        f"  {result.goodput_mbit_s:9.2f} Mbit/s  ({n} requests)"
                    )
                    results.append(result)
    return results


def markdown(results: list[NetResult]) -> str:
    lines = [
        "| link | transport | payload B | requests | RTT p50 ms | RTT p95 ms | goodput Mbit/s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.link} | {r.transport} | {r.size_bytes} | {r.requests} | {r.rtt_p50_ms:.3f} "
            f"| {r.rtt_p95_ms:.3f} | {r.goodput_mbit_s:.2f} |"
        )
    return "\n".join(lines) + "\n"


def plot(results: list[NetResult], path: Path) -> bool:
    """RTT and goodput against payload size, one column per link; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = list(dict.fromkeys(r.link for r in results))
    fig, axes = plt.subplots(2, len(names), figsize=(5 * len(names), 7), squeeze=False)
    for col, link in enumerate(names):
        for transport in dict.fromkeys(r.transport for r in results):
            rows = [r for r in results if r.link == link and r.transport == transport]
            xs = [r.size_bytes for r in rows]
            axes[0][col].plot(xs, [r.rtt_p50_ms for r in rows], marker="o", label=transport)
            axes[1][col].plot(xs, [r.goodput_mbit_s for r in rows], marker="o", label=transport)
        axes[0][col].set_title(link)
        for row, label in ((0, "RTT p50 (ms)"), (1, "goodput (Mbit/s)")):
            axes[row][col].set_xscale("log")
            axes[row][col].set_yscale("log")
            axes[row][col].set_ylabel(label)
            axes[row][col].set_xlabel("payload (bytes)")
            axes[row][col].grid(True, which="both", alpha=0.3)
        axes[0][col].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


@app.command("net")
def net_command(
    transports: Annotated[
        str, typer.Option("--transports", help="Comma-separated: http,ws,tcp,udp,mqtt.")
    ] = ",".join(TRANSPORTS),
    sizes: Annotated[
        str, typer.Option("--sizes", help="Payload sizes, e.g. 64,1k,16k,256k,1m (64 B .. 4m).")
    ] = DEFAULT_SIZES,
    link_names: Annotated[
        str, typer.Option("--links", help="Comma-separated: loopback,wifi,lte.")
    ] = "loopback,wifi,lte",
    trace: Annotated[
        tuple[Path, Path] | None,
        typer.Option("--trace", help="Also a link replaying mahimahi UPLINK DOWNLINK traces."),
    ] = None,
    seconds: Annotated[
        float, typer.Option("--seconds", help="Seconds per measurement (at least 3 requests).")
    ] = 1.0,
    max_requests: Annotated[
        int, typer.Option("--max-requests", help="Requests per measurement at most.")
    ] = 500,
    broker: Annotated[
        str | None,
        typer.Option("--broker", help="MQTT broker HOST:PORT (default: start a Mosquitto)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write net.json, net.md and net.png to this directory."),
    ] = None,
) -> None:
    """Round-trip time and goodput per transport, payload size and link."""
    chosen = [t.strip() for t in transports.split(",") if t.strip()]
    unknown = [t for t in chosen if t not in TRANSPORTS]
    if unknown or not chosen:
        raise ConfigError(f"--transports: {unknown or chosen} not among {', '.join(TRANSPORTS)}")
    if not 0 < seconds <= 600 or not 3 <= max_requests <= 1_000_000:
        raise ConfigError("--seconds must be in (0, 600] and --max-requests in [3, 1000000]")
    if trace is not None:
        for path in trace:
            if not path.is_file():
                raise ConfigError(f"--trace: {path} is not a file")
    emulators = links([n.strip() for n in link_names.split(",") if n.strip()], trace)
    try:
        results = run_net(
            chosen,
            parse_sizes(sizes),
            emulators,
            seconds=seconds,
            max_requests=max_requests,
            broker=broker,
            progress=lambda line: typer.echo(line, err=True),
        )
    except OSError as exc:
        raise SciotError(f"benchmark failed: {exc}") from exc
    typer.echo(markdown(results), nl=False)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "net.json").write_text(json.dumps([asdict(r) for r in results], indent=1))
        (out / "net.md").write_text(markdown(results))
        drawn = plot(results, out / "net.png")
        typer.echo(f"wrote {out}/net.json, net.md" + (", net.png" if drawn else ""), err=True)
