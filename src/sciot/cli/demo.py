"""``sciot demo``: an edge server and N simulated devices on loopback, live, then a summary.

The main job of the project in one command, on embedded defaults (the shipped ``fomo96`` demo
model, SQLite telemetry, no broker): the edge is served in-process by uvicorn on a free loopback
port, each device is a :class:`sciot.device.DeviceClient` loop in its own thread speaking HTTP
or WebSocket, a live table shows per device the cut, latency, bytes and rate, and a summary (also
``--json PATH``) ends it. Devices emulate a device class (``--device-profile``) and reach the
edge over a named emulated network (``--link``, :data:`DEMO_LINKS`): the real transport wrapped
in a :class:`sciot.transport.EmulatedTransport`, so the planner sees what that network costs and
picks the cut it calls for. :func:`run_demo` is the library entry point; the command only
parses options and prints.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import typer

from sciot.errors import ConfigError

if TYPE_CHECKING:
    from rich.table import Table

    from sciot.device import (
        CutArtefacts,
        DeviceClient,
        DeviceConfig,
        DeviceStats,
        InferenceOutcome,
    )
    from sciot.sim import LinkModel
    from sciot.transport import ClientTransport

Transport = Literal["http", "ws"]
DEFAULT_DEVICE_PROFILE = "esp32-s3"
DEFAULT_LINK = "wifi"
LINK_CHANGE_FACTOR = 10.0
"""``--link-change-at`` divides the link's bandwidth by this much."""
_TIMING_RUNS = 40
_RECENT = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoLink:
    """A named network between the demo's devices and the edge, and where its figures come
    from. Bandwidth counts both directions of an exchange (request and reply bytes), which the
    uplink dominates here: FOMO's reply is 2.3 kB, its input 110.6 kB."""

    name: str
    rtt_ms: float
    bandwidth_mbit_s: float | None
    """``None``: not emulated, the bare loopback."""
    source: str

    @property
    def bytes_per_s(self) -> float | None:
        return None if self.bandwidth_mbit_s is None else self.bandwidth_mbit_s * 1e6 / 8.0

    def describe(self, *, change_at_s: float | None = None) -> str:
        if self.bandwidth_mbit_s is None:
            return f"{self.name} (not emulated)"
        text = f"{self.name} ({self.bandwidth_mbit_s:g} Mbit/s, {self.rtt_ms:g} ms RTT"
        if change_at_s is not None:
            slow = self.bandwidth_mbit_s / LINK_CHANGE_FACTOR
            text += f", {slow:g} Mbit/s from {change_at_s:g} s"
        return text + ")"

    def link_model(self, *, change_at_s: float | None = None) -> LinkModel | None:
        """The simulator's link model for this network, or ``None`` for bare loopback."""
        from sciot.sim import LinkModel, LinkStep

        rate = self.bytes_per_s
        if rate is None:
            return None
        steps = (
            ()
            if change_at_s is None
            else (LinkStep(at_s=change_at_s, bytes_per_s=rate / LINK_CHANGE_FACTOR),)
        )
        return LinkModel(rtt_s=self.rtt_ms / 1e3, bytes_per_s=rate, steps=steps)


DEMO_LINKS: dict[str, DemoLink] = {
    link.name: link
    for link in (
        DemoLink(
            name="loopback",
            rtt_ms=0.0,
            bandwidth_mbit_s=None,
            source="no emulation: the bare loopback, tens of microseconds per round trip",
        ),
        DemoLink(
            name="wifi",
            rtt_ms=3.0,
            bandwidth_mbit_s=20.0,
            source="the simulator's base link (sciot.sim.scenarios): a good 2.4 GHz Wi-Fi link "
            "as an MCU-class station gets it, well below the PHY rate",
        ),
        DemoLink(
            name="lte",
            rtt_ms=40.0,
            bandwidth_mbit_s=5.0,
            source="a typical loaded LTE cell: a few Mbit/s of uplink per device and 30-50 ms "
            "of round trip through the operator's core",
        ),
    )
}


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoOptions:
    """What to run: how many devices, for how long, over which transport and model."""

    devices: int = 4
    duration_s: float = 10.0
    transport: Transport = "http"
    model: str = "fomo96"
    policy: str = "adaptive"
    telemetry_path: Path | None = None
    seed: int = 0
    int8: bool = False
    compress: bool = False
    device_op_delay_s: float = 0.0
    device_profile: str = DEFAULT_DEVICE_PROFILE
    """A :data:`sciot.sim.DEVICE_PROFILES` name the devices emulate (``this-machine``: none)."""
    link: str = DEFAULT_LINK
    """A :data:`DEMO_LINKS` name: the network between each device and the edge."""
    link_change_at_s: float | None = None
    """Seconds into the run at which the link's bandwidth drops :data:`LINK_CHANGE_FACTOR`x."""

    def __post_init__(self) -> None:
        if not 1 <= self.devices <= 256:
            raise ConfigError(f"--devices must be between 1 and 256, got {self.devices}")
        if not 0.0 < self.duration_s <= 86_400.0:
            raise ConfigError(f"--duration must be > 0 and <= 86400 s, got {self.duration_s}")
        if self.transport not in ("http", "ws"):
            raise ConfigError(f"--transport must be http or ws, got {self.transport!r}")
        if not 0.0 <= self.device_op_delay_s <= 1.0:
            delay_ms = self.device_op_delay_s * 1e3
            raise ConfigError(f"--device-op-delay-ms must be between 0 and 1000, got {delay_ms}")
        from sciot.sim import DEVICE_PROFILES

        if self.device_profile not in DEVICE_PROFILES:
            known = ", ".join(DEVICE_PROFILES)
            raise ConfigError(
                f"--device-profile must be one of {known}, got {self.device_profile!r}"
            )
        self._check_link()

    def _check_link(self) -> None:
        if self.link not in DEMO_LINKS:
            known = ", ".join(DEMO_LINKS)
            raise ConfigError(f"--link must be one of {known}, got {self.link!r}")
        at_s = self.link_change_at_s
        if at_s is None:
            return
        if DEMO_LINKS[self.link].bandwidth_mbit_s is None:
            raise ConfigError(
                f"--link-change-at needs an emulated link; --link {self.link} is not emulated "
                "(use --link wifi or lte)"
            )
        if not 0.0 < at_s < self.duration_s:
            raise ConfigError(
                f"--link-change-at must be inside the run (0 < S < --duration {self.duration_s:g}),"
                f" got {at_s:g}"
            )

    @property
    def demo_link(self) -> DemoLink:
        return DEMO_LINKS[self.link]

    def link_label(self) -> str:
        return self.demo_link.describe(change_at_s=self.link_change_at_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceEmulation:
    """The device class the demo's devices emulate, and what it means for this model."""

    profile: str
    speed_factor: float
    """How many times slower than this machine the device runs the model."""
    whole_model_s: float
    """The whole model on this machine (measured)."""
    device_op_s: tuple[float, ...] = ()
    """Each op's time on the emulated device (empty: the device is this machine, not paced)."""

    @property
    def device_alone_ms(self) -> float:
        """The whole model on the emulated device: what running alone would cost it."""
        if self.device_op_s:
            return 1000.0 * sum(self.device_op_s)
        return 1000.0 * self.whole_model_s * self.speed_factor


def emulate_device(profile_name: str, model: str) -> DeviceEmulation:
    """Time ``model`` here (median of a few LiteRT runs) and scale it to a device profile by
    the profile's published MAC rate against this machine's; each op then takes its MACs at
    that rate on the emulated device (:func:`_paced_artefacts`)."""
    from sciot.device import resolve_model_source
    from sciot.model import load_model
    from sciot.runtime import SegmentExecutor
    from sciot.sim import device_profile

    profile = device_profile(profile_name)
    graph = load_model(resolve_model_source(model))
    executor = SegmentExecutor(graph.model_bytes)
    inputs = {t.name: np.zeros(t.shape, dtype=t.dtype) for t in graph.inputs}
    seconds = []
    for _ in range(_TIMING_RUNS):
        started_s = time.perf_counter()
        executor.run(inputs)
        seconds.append(time.perf_counter() - started_s)
    measured_s = float(np.median(seconds[_TIMING_RUNS // 4 :]))
    if profile.macs_per_s is None or graph.total_macs <= 0:
        return DeviceEmulation(profile=profile_name, speed_factor=1.0, whole_model_s=measured_s)
    factor = max(1.0, profile.scale(model_macs=graph.total_macs, measured_total_s=measured_s))
    device_total_s = measured_s * factor
    op_s = tuple(device_total_s * op.macs / graph.total_macs for op in graph.ops)
    return DeviceEmulation(
        profile=profile_name, speed_factor=factor, whole_model_s=measured_s, device_op_s=op_s
    )


def device_speed_factor(profile_name: str, model: str) -> float:
    """How many times slower than this machine a device of the profile runs ``model``."""
    return emulate_device(profile_name, model).speed_factor


@dataclass(slots=True)
class DeviceTrack:
    """Running view of one device for the live table (written by its own thread only)."""

    device_id: str
    inferences: int = 0
    split: int = 0
    local: int = 0
    cut: int | None = None
    mode: str = "starting"
    payload_bytes: int = 0
    latency_s: list[float] = field(default_factory=list)
    recent_bytes: deque[int] = field(default_factory=lambda: deque(maxlen=_RECENT))
    num_ops: int | None = None
    started_s: float = field(default_factory=time.perf_counter)
    first_s: float | None = None
    last_s: float | None = None
    final: DeviceStats | None = None
    error: str | None = None

    def update(self, client: DeviceClient, outcome: InferenceOutcome) -> None:
        now_s = time.perf_counter()
        if self.first_s is None:
            self.first_s = now_s
        self.last_s = now_s
        self.inferences += 1
        self.cut = outcome.cut
        self.mode = str(outcome.mode)
        if self.mode == "split":
            self.split += 1
        elif self.mode == "local":
            self.local += 1
        self.payload_bytes += outcome.payload_bytes
        self.recent_bytes.append(outcome.payload_bytes)
        self.latency_s.append(outcome.total_s)
        self.num_ops = client.num_ops

    def rate(self, now_s: float) -> float:
        elapsed = now_s - (self.first_s or self.started_s)
        return self.inferences / elapsed if elapsed > 0 else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoSummary:
    """The demo's result; :meth:`as_json` is the ``--json`` document."""

    devices: int
    duration_s: float
    elapsed_s: float
    inferences: int
    split_inferences: int
    local_fallbacks: int
    lost: int
    latency_p50_ms: float
    latency_p95_ms: float
    per_device: tuple[tuple[str, int, dict[int, int]], ...]
    telemetry_path: Path
    edge_url: str
    link: str = "loopback"
    link_label: str = "loopback (not emulated)"
    emulation: DeviceEmulation | None = None

    @property
    def inferences_per_s(self) -> float:
        return self.inferences / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "devices": self.devices,
            "duration_s": self.duration_s,
            "inferences": self.inferences,
            "split_inferences": self.split_inferences,
            "local_fallbacks": self.local_fallbacks,
            "lost": self.lost,
            "inferences_per_s": round(self.inferences_per_s, 3),
            "latency_ms": {
                "p50": round(self.latency_p50_ms, 4),
                "p95": round(self.latency_p95_ms, 4),
            },
            "per_device": [
                {
                    "device_id": device_id,
                    "inferences": count,
                    "cuts": {str(k): v for k, v in sorted(cuts.items())},
                }
                for device_id, count, cuts in self.per_device
            ],
            "link": self.link,
        }


def run_demo(
    options: DemoOptions,
    *,
    on_tick: Any = None,
    tick_s: float = 0.25,
    emulation: DeviceEmulation | None = None,
) -> DemoSummary:
    """Start the edge, run the devices for ``duration_s``, stop everything, summarise.

    ``on_tick(tracks, edge_url)`` is called about every ``tick_s`` from the calling thread
    while the devices run (the live table hangs off it).
    """
    from sciot.device import DeviceConfig
    from sciot.edge import EdgeConfig, start_edge

    if emulation is None:
        emulation = emulate_device(options.device_profile, options.model)
    telemetry_path = options.telemetry_path or Path(
        tempfile.mkdtemp(prefix="sciot-demo-"), "telemetry.sqlite"
    )
    edge_config = EdgeConfig.from_mapping(
        {
            "port": 0,
            "models": [{"demo": options.model}],
            "planner": {"policy": options.policy, "seed": options.seed},
            "telemetry": {"path": str(telemetry_path)},
        },
        source="demo edge settings",
    )
    server, _app = start_edge(edge_config)
    tracks = [DeviceTrack(device_id=f"device-{i + 1:02d}") for i in range(options.devices)]
    stop = threading.Event()
    try:
        configs = [
            DeviceConfig.from_mapping(
                {
                    "device_id": track.device_id,
                    "edge_url": server.http_url,
                    "transport": options.transport,
                    "model": options.model,
                    "seed": options.seed + i,
                    "profile": options.device_profile,
                    "crossing": {"int8": options.int8, "compress": options.compress},
                    "computation_delay": {
                        "enabled": options.device_op_delay_s > 0,
                        "type": "static",
                        "mean": options.device_op_delay_s,
                    },
                },
                source="demo device settings",
            )
            for i, track in enumerate(tracks)
        ]

        link_clock = _LinkClock()

        def device_loop(track: DeviceTrack, config: DeviceConfig, index: int) -> None:
            try:
                track.started_s = time.perf_counter()
                track.final = _run_device(
                    config,
                    _device_transport(config, options, index, link_clock),
                    duration_s=options.duration_s,
                    device_op_s=emulation.device_op_s,
                    on_outcome=track.update,
                    should_stop=stop.is_set,
                )
            except Exception as exc:  # shown in the table and the summary, never swallowed
                track.error = f"{type(exc).__name__}: {exc}"
                track.mode = "failed"

        threads = [
            threading.Thread(target=device_loop, args=(t, c, i), name=t.device_id, daemon=True)
            for i, (t, c) in enumerate(zip(tracks, configs, strict=True))
        ]
        started_s = link_clock.start()
        for thread in threads:
            thread.start()
        deadline_s = started_s + options.duration_s + 60.0
        try:
            while any(t.is_alive() for t in threads):
                if on_tick is not None:
                    on_tick(tracks, server.http_url)
                if time.perf_counter() > deadline_s:
                    stop.set()
                for thread in threads:
                    thread.join(tick_s / max(1, len(threads)))
        except KeyboardInterrupt:
            stop.set()
            for thread in threads:
                thread.join(30.0)
        elapsed_s = _active_seconds(tracks) or time.perf_counter() - started_s
        if on_tick is not None:
            on_tick(tracks, server.http_url)
    finally:
        stop.set()
        server.stop()
    failed = [t for t in tracks if t.error is not None]
    if failed:
        raise ConfigError(f"device {failed[0].device_id} failed: {failed[0].error}")
    summary = _summarise(options, tracks, elapsed_s, telemetry_path, server.http_url)
    return replace(summary, emulation=emulation)


def _run_device(
    config: DeviceConfig,
    transport: ClientTransport,
    *,
    duration_s: float,
    device_op_s: tuple[float, ...],
    on_outcome: Callable[[DeviceClient, InferenceOutcome], None],
    should_stop: Callable[[], bool],
) -> DeviceStats:
    """:func:`sciot.device.run_device`'s loop, on heads paced to the emulated device."""
    from sciot.device import DeviceClient, sample_input

    artefacts = _paced_artefacts(config, device_op_s)
    client = DeviceClient(config, transport, artefacts=artefacts)
    with client:
        data = sample_input(client.artefacts, config.model, config.seed)
        client.start()
        started_s = time.perf_counter()
        while time.perf_counter() - started_s < duration_s and not should_stop():
            on_outcome(client, client.infer(data))
    return client.stats()


def _paced_artefacts(config: DeviceConfig, device_op_s: tuple[float, ...]) -> CutArtefacts:
    """The device's cut artefacts, each head paced to the emulated device's op times.

    The real head runs first (its tensors are the real ones), then the call sleeps until the
    emulated ops' time has passed and reports those op times when asked to profile. Scaling
    measured times instead (the device client's ``speed_factor``) scales this machine's noise
    too: x250 for an ESP32-S3 turns 10 us of Python per profiled op, or a thread waiting for
    the interpreter lock, into milliseconds, and the planner sees a device twice as slow as it
    is. ``device_op_s`` follows each op's MACs (:func:`emulate_device`), the way a
    microcontroller's time does and the way the profile's rate was published."""
    from sciot.device import CutArtefacts, HeadRun, resolve_model_source
    from sciot.model import load_model

    graph = load_model(resolve_model_source(config.model))
    if not device_op_s:
        return CutArtefacts(graph)
    if len(device_op_s) != graph.num_ops:
        raise ConfigError(
            f"the device emulation has {len(device_op_s)} op times, the model {graph.num_ops} ops"
        )
    head_s = np.concatenate(([0.0], np.cumsum(device_op_s)))

    class PacedArtefacts(CutArtefacts):
        __slots__ = ()

        def run_head(
            self, cut: int, array: np.ndarray, *, profile: bool, clock: Callable[[], float]
        ) -> HeadRun:
            started_s = clock()
            head = super().run_head(cut, array, profile=profile, clock=clock)
            if cut == 0:
                return head
            time.sleep(max(0.0, float(head_s[cut]) - (clock() - started_s)))
            return HeadRun(
                tensors=head.tensors,
                device_s=clock() - started_s,
                op_seconds=device_op_s[:cut] if head.op_seconds is not None else None,
            )

    return PacedArtefacts(graph)


class _LinkClock:
    """Seconds since the devices started: the time axis of the emulated link, shared by every
    device so a ``--link-change-at`` step hits them all at once."""

    def __init__(self) -> None:
        self._t0_s = time.perf_counter()

    def start(self) -> float:
        self._t0_s = time.perf_counter()
        return self._t0_s

    def __call__(self) -> float:
        return time.perf_counter() - self._t0_s


def _device_transport(
    config: DeviceConfig, options: DemoOptions, index: int, clock: _LinkClock
) -> ClientTransport:
    """The device's real transport, behind the emulated link when ``--link`` asks for one.
    Each device has a link of its own (its own seeded jitter and loss draws): a fleet of
    radios each with its own channel, not a shared bottleneck."""
    from sciot.device import open_transport
    from sciot.transport import EmulatedTransport

    inner = open_transport(config)
    model = options.demo_link.link_model(change_at_s=options.link_change_at_s)
    if model is None:
        return inner
    rng = np.random.default_rng([options.seed, 11, index])
    return EmulatedTransport(inner, model, rng=rng, clock=clock)


def _active_seconds(tracks: list[DeviceTrack]) -> float:
    """From the first inference of any device to the last one (set-up time excluded)."""
    firsts = [t.first_s for t in tracks if t.first_s is not None]
    lasts = [t.last_s for t in tracks if t.last_s is not None]
    return max(lasts) - min(firsts) if firsts and lasts else 0.0


def _summarise(
    options: DemoOptions,
    tracks: list[DeviceTrack],
    elapsed_s: float,
    telemetry_path: Path,
    edge_url: str,
) -> DemoSummary:
    finals = [t.final for t in tracks if t.final is not None]
    latency = np.array([s for t in tracks for s in t.latency_s], dtype=np.float64) * 1000.0
    p50, p95 = np.percentile(latency, [50, 95]) if latency.size else (0.0, 0.0)
    return DemoSummary(
        devices=options.devices,
        duration_s=options.duration_s,
        elapsed_s=elapsed_s,
        inferences=sum(s.inferences for s in finals),
        split_inferences=sum(s.split for s in finals),
        local_fallbacks=sum(s.local_fallbacks for s in finals),
        lost=sum(s.lost for s in finals),
        latency_p50_ms=float(p50),
        latency_p95_ms=float(p95),
        per_device=tuple((s.device_id, s.inferences, dict(s.cuts)) for s in finals),
        telemetry_path=telemetry_path,
        edge_url=edge_url,
        link=options.link,
        link_label=options.link_label(),
    )


def live_table(tracks: list[DeviceTrack], edge_url: str, *, link: str = "") -> Table:
    """Per device: mode, cut, median latency and bytes per inference over its last
    :data:`_RECENT` inferences (so a change of cut shows within a second or two), and
    inferences/s. ``link`` (the network in force) goes under the table with what cuts mean."""
    from rich import box
    from rich.table import Table

    now_s = time.perf_counter()
    table = Table(
        title=f"sciot demo: edge {edge_url}",
        caption=_caption(tracks, link),
        box=box.SIMPLE_HEAD,
        expand=False,
    )
    table.add_column("device", no_wrap=True)
    table.add_column("mode", no_wrap=True)
    for name in ("cut", "p50 ms", "bytes/inf", "inf/s", "split", "local"):
        table.add_column(name, justify="right", no_wrap=True)
    for t in tracks:
        recent = t.latency_s[-_RECENT:]
        p50 = f"{1000 * float(np.median(recent)):.2f}" if recent else "-"
        per_inf = f"{sum(t.recent_bytes) // len(t.recent_bytes)}" if t.recent_bytes else "-"
        table.add_row(
            t.device_id,
            t.mode,
            "-" if t.cut is None else str(t.cut),
            p50,
            per_inf,
            f"{t.rate(now_s):.0f}",
            str(t.split),
            str(t.local),
        )
    return table


def _caption(tracks: list[DeviceTrack], link: str) -> str:
    lines = [f"link: {link}"] if link else []
    num_ops = next((t.num_ops for t in tracks if t.num_ops is not None), None)
    if num_ops is not None:
        lines.append(f"cut k: ops [0, k) on the device (0: edge-only, {num_ops}: device-only)")
    return "\n".join(lines)


def _link_now(options: DemoOptions, tracks: list[DeviceTrack]) -> str:
    """The link as it is now, for the live table: the bandwidth after a change once it came."""
    link = options.demo_link
    at_s = options.link_change_at_s
    if at_s is None or link.bandwidth_mbit_s is None:
        return options.link_label()
    starts = [t.started_s for t in tracks]
    elapsed_s = time.perf_counter() - min(starts) if starts else 0.0
    if elapsed_s < at_s:
        return f"{link.describe()}; bandwidth drops {LINK_CHANGE_FACTOR:g}x at {at_s:g} s"
    slow = link.bandwidth_mbit_s / LINK_CHANGE_FACTOR
    return f"{link.name} ({slow:g} Mbit/s since {at_s:g} s, {link.rtt_ms:g} ms RTT)"


def _summary_table(summary: DemoSummary) -> Table:
    from rich.table import Table

    table = Table(title="sciot demo summary")
    table.add_column("metric")
    table.add_column("value", justify="right")
    cuts: Counter[int] = Counter()
    for _, _, device_cuts in summary.per_device:
        cuts.update(device_cuts)
    rows = [("devices", str(summary.devices))]
    emulation = summary.emulation
    if emulation is not None:
        rows += [
            ("device profile", f"{emulation.profile} (x{emulation.speed_factor:.1f} this machine)"),
            ("whole model on the device alone", f"{emulation.device_alone_ms:.2f} ms (estimate)"),
        ]
    rows += [
        ("link", summary.link_label),
        ("duration s", f"{summary.elapsed_s:.2f}"),
        ("inferences", str(summary.inferences)),
        ("split inferences", str(summary.split_inferences)),
        ("local fallbacks", str(summary.local_fallbacks)),
        ("lost", str(summary.lost)),
        ("inferences/s", f"{summary.inferences_per_s:.1f}"),
        ("latency p50 / p95 ms", f"{summary.latency_p50_ms:.3f} / {summary.latency_p95_ms:.3f}"),
        ("cuts used", ", ".join(f"{k}: {v}" for k, v in sorted(cuts.items())) or "-"),
        ("telemetry", str(summary.telemetry_path)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def demo_command(
    devices: Annotated[int, typer.Option("--devices", "-n", help="Simulated devices.")] = 4,
    duration: Annotated[
        float, typer.Option("--duration", "-d", help="Seconds each device runs.")
    ] = 10.0,
    transport: Annotated[
        str, typer.Option("--transport", "-t", help="Device transport: http or ws.")
    ] = "http",
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the summary as JSON to this path.")
    ] = None,
    model: Annotated[str, typer.Option("--model", help="Shipped demo model.")] = "fomo96",
    policy: Annotated[
        str, typer.Option("--policy", help="Split policy: adaptive, sciot, fixed:K, ...")
    ] = "adaptive",
    telemetry: Annotated[
        Path | None, typer.Option("--telemetry", help="SQLite telemetry path (default: temp).")
    ] = None,
    live: Annotated[
        bool, typer.Option("--live/--no-live", help="Show the live per-device table.")
    ] = True,
    int8: Annotated[
        bool, typer.Option("--int8", help="Send crossing tensors as int8 activations.")
    ] = False,
    compress: Annotated[
        bool, typer.Option("--compress", help="zlib-compress crossing tensors.")
    ] = False,
    device_profile: Annotated[
        str,
        typer.Option(
            "--device-profile",
            help="Device class the devices emulate: esp32-s3, rpi-zero-2w, rpi4 or this-machine.",
        ),
    ] = DEFAULT_DEVICE_PROFILE,
    device_op_delay_ms: Annotated[
        float,
        typer.Option(
            "--device-op-delay-ms",
            help="Simulated extra time per device op (a slower device makes splitting pay).",
        ),
    ] = 0.0,
    link: Annotated[
        str,
        typer.Option(
            "--link",
            help="Emulated network between each device and the edge: "
            + ", ".join(v.describe() for v in DEMO_LINKS.values())
            + ". Where the figures come from: docs/design.md, 'demo links'.",
        ),
    ] = DEFAULT_LINK,
    link_change_at: Annotated[
        float | None,
        typer.Option(
            "--link-change-at",
            help=f"Seconds into the run at which the link's bandwidth drops "
            f"{LINK_CHANGE_FACTOR:g}x (watch the cut move).",
        ),
    ] = None,
) -> None:
    """Run an edge server and N simulated devices on loopback; live table, then a summary."""
    from rich.console import Console
    from rich.live import Live

    options = DemoOptions(
        devices=devices,
        duration_s=duration,
        transport=transport,  # type: ignore[arg-type]
        model=model,
        policy=policy,
        telemetry_path=telemetry,
        int8=int8,
        compress=compress,
        device_op_delay_s=device_op_delay_ms / 1000.0,
        device_profile=device_profile,
        link=link,
        link_change_at_s=link_change_at,
    )
    console = Console()
    emulation = emulate_device(options.device_profile, options.model)
    console.print(
        f"starting the edge ({model}, policy {policy}) and {devices} device(s) over "
        f"{transport} on a {options.link_label()} link for {duration:g} s; "
        f"the devices emulate {emulation.profile}, "
        f"{emulation.speed_factor:.1f}x slower than this machine "
        f"({emulation.device_alone_ms:.2f} ms for the whole model alone) ..."
    )
    if live and console.is_terminal:
        with Live(console=console, refresh_per_second=4, transient=False) as display:
            summary = run_demo(
                options,
                on_tick=lambda tracks, url: display.update(
                    live_table(tracks, url, link=_link_now(options, tracks))
                ),
                emulation=emulation,
            )
    else:
        summary = run_demo(options, emulation=emulation)
    console.print(_summary_table(summary))
    if json_path is not None:
        try:
            json_path.write_text(json.dumps(summary.as_json(), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write --json {json_path}: {exc.strerror or exc}") from exc
        console.print(f"summary written to {json_path}")
