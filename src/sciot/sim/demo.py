"""The demo as a library: an edge server and N emulated devices on loopback, live.

:func:`run_demo` serves the edge in-process (uvicorn on a free loopback port, SQLite
telemetry), runs each device as a :class:`~sciot.device.DeviceClient` loop in its own thread
over HTTP or WebSocket, and returns a :class:`DemoSummary`. Devices emulate a device class
(:func:`~sciot.sim.emulation.emulate_device`, heads paced by
:class:`~sciot.sim.emulation.PacedArtefacts`) and reach the edge over a named emulated network
(:data:`DEMO_LINKS`): the real transport wrapped in a
:class:`~sciot.transport.EmulatedTransport`, so the planner sees what that network costs and
picks the cut it calls for. ``sciot demo`` only parses options and prints what this returns.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from sciot.errors import ConfigError
from sciot.sim.emulation import DEMO_LINKS, LINK_CHANGE_FACTOR, DemoLink

if TYPE_CHECKING:
    from sciot.device import DeviceClient, DeviceConfig, DeviceStats, InferenceOutcome
    from sciot.edge import EdgeApp
    from sciot.sim.emulation import DeviceEmulation
    from sciot.transport import ClientTransport

Transport = Literal["http", "ws", "tcp", "udp", "mqtt"]
RAW_TRANSPORTS = ("tcp", "udp", "mqtt")
"""Transports the demo serves with an extra listener over the same edge core."""
DEFAULT_DEVICE_PROFILE = "esp32-s3"
DEFAULT_LINK = "wifi"
RECENT_WINDOW = 50
"""Inferences the live view summarises per device (so a change of cut shows quickly)."""


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
    auth: bool = False
    """Provision a token per device and run the edge with device tokens on."""

    def __post_init__(self) -> None:
        if not 1 <= self.devices <= 256:
            raise ConfigError(f"--devices must be between 1 and 256, got {self.devices}")
        if not 0.0 < self.duration_s <= 86_400.0:
            raise ConfigError(f"--duration must be > 0 and <= 86400 s, got {self.duration_s}")
        if self.transport not in ("http", "ws", *RAW_TRANSPORTS):
            raise ConfigError(
                f"--transport must be http, ws, tcp, udp or mqtt, got {self.transport!r}"
            )
        if not 0.0 <= self.device_op_delay_s <= 1.0:
            delay_ms = self.device_op_delay_s * 1e3
            raise ConfigError(f"--device-op-delay-ms must be between 0 and 1000, got {delay_ms}")
        from sciot.sim.profiles import DEVICE_PROFILES

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
    recent_bytes: deque[int] = field(default_factory=lambda: deque(maxlen=RECENT_WINDOW))
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
    telemetry_path: Path | None
    """Where the telemetry was kept (``None``: a temporary database, removed at the end)."""
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
    prepare_edge: Callable[[EdgeApp], object] | None = None,
) -> DemoSummary:
    """Start the edge, run the devices for ``duration_s``, stop everything, summarise.

    ``on_tick(tracks, edge_url)`` is called about every ``tick_s`` from the calling thread
    while the devices run (the live table hangs off it). Without ``options.telemetry_path``
    the telemetry goes to a temporary directory removed when the demo ends.
    ``prepare_edge(app)`` runs before the edge serves (the CLI mounts the dashboard with it).
    """
    from sciot.edge import EdgeConfig, start_edge
    from sciot.sim.emulation import emulate_device

    if emulation is None:
        emulation = emulate_device(options.device_profile, options.model)
    tracks = [DeviceTrack(device_id=f"device-{i + 1:02d}") for i in range(options.devices)]
    with (
        _telemetry_location(options.telemetry_path) as telemetry_path,
        tempfile.TemporaryDirectory(prefix="sciot-demo-tokens-") as token_dir,
    ):
        token_file = Path(token_dir, "tokens.json")
        tokens = _provision(token_file, tracks) if options.auth else {}
        edge_config = EdgeConfig.from_mapping(
            {
                "port": 0,
                "models": [{"demo": options.model}],
                "planner": {"policy": options.policy, "seed": options.seed},
                "telemetry": {"path": str(telemetry_path)},
                "auth": {
                    "mode": "tokens" if options.auth else "off",
                    "token_file": str(token_file),
                },
            },
            source="demo edge settings",
        )
        server, _app = start_edge(edge_config, prepare=prepare_edge)
        try:
            with _raw_transport(options, _app) as raw_url:
                device_url = server.http_url if raw_url is None else raw_url
                elapsed_s = _run_devices(
                    options, emulation, tracks, server.http_url, on_tick, tick_s, tokens, device_url
                )
        finally:
            server.stop()
    failed = [t for t in tracks if t.error is not None]
    if failed:
        raise ConfigError(f"device {failed[0].device_id} failed: {failed[0].error}")
    kept = telemetry_path if options.telemetry_path is not None else None
    summary = _summarise(options, tracks, elapsed_s, kept, server.http_url)
    return replace(summary, emulation=emulation)


@contextmanager
def _raw_transport(options: DemoOptions, app: EdgeApp) -> Iterator[str | None]:
    """For ``--transport tcp|udp|mqtt``: that listener over the demo edge's own core (MQTT
    through a Mosquitto of the demo's own) and its URL; ``None`` for HTTP and WebSocket."""
    if options.transport not in RAW_TRANSPORTS:
        yield None
        return
    from contextlib import ExitStack

    from sciot.edge import TransportOptions, start_transports
    from sciot.transport._broker import local_mosquitto

    with ExitStack() as stack:
        if options.transport == "mqtt":
            port = stack.enter_context(local_mosquitto())
            transport_options = TransportOptions(mqtt_broker=f"127.0.0.1:{port}")
        elif options.transport == "tcp":
            transport_options = TransportOptions(tcp_port=0)
        else:
            transport_options = TransportOptions(udp_port=0)
        running = start_transports(app.core, transport_options)
        stack.callback(running.stop)
        yield running.urls[options.transport]


@contextmanager
def _telemetry_location(path: Path | None) -> Iterator[Path]:
    """``path`` itself, or a database in a temporary directory removed on the way out."""
    if path is not None:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="sciot-demo-") as scratch:
        yield Path(scratch, "telemetry.sqlite")


def _provision(token_file: Path, tracks: list[DeviceTrack]) -> dict[str, str]:
    """A fresh token per demo device in a store that lives only as long as the run."""
    from sciot.edge import TokenStore

    store = TokenStore(token_file)
    return {t.device_id: store.create(t.device_id).hex() for t in tracks}


def _device_config(
    options: DemoOptions, index: int, device_id: str, url: str, token: str | None = None
) -> DeviceConfig:
    from sciot.device import DeviceConfig

    return DeviceConfig.from_mapping(
        {
            "device_id": device_id,
            "token": token,
            "edge_url": url,
            "transport": options.transport,
            "model": options.model,
            "seed": options.seed + index,
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


def _run_devices(
    options: DemoOptions,
    emulation: DeviceEmulation,
    tracks: list[DeviceTrack],
    url: str,
    on_tick: Any,
    tick_s: float,
    tokens: dict[str, str],
    device_url: str,
) -> float:
    """One thread per device until the run ends; returns the seconds devices were active
    (``tokens``: each device's, when the edge checks them; ``url`` is the edge's HTTP one,
    ``device_url`` the one devices dial over the demo's transport)."""
    configs = [
        _device_config(options, i, t.device_id, device_url, tokens.get(t.device_id))
        for i, t in enumerate(tracks)
    ]
    link_clock = _LinkClock()
    stop = threading.Event()

    def device_loop(track: DeviceTrack, config: DeviceConfig, index: int) -> None:
        try:
            track.started_s = time.perf_counter()
            track.final = _run_device(
                config,
                _device_transport(config, options, index, link_clock),
                duration_s=options.duration_s,
                emulation=emulation,
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
                on_tick(tracks, url)
            if time.perf_counter() > deadline_s:
                stop.set()
            for thread in threads:
                thread.join(tick_s / max(1, len(threads)))
    except KeyboardInterrupt:
        stop.set()
        for thread in threads:
            thread.join(30.0)
    finally:
        stop.set()
    elapsed_s = _active_seconds(tracks) or time.perf_counter() - started_s
    if on_tick is not None:
        on_tick(tracks, url)
    return elapsed_s


def _run_device(
    config: DeviceConfig,
    transport: ClientTransport,
    *,
    duration_s: float,
    emulation: DeviceEmulation,
    on_outcome: Callable[[DeviceClient, InferenceOutcome], None],
    should_stop: Callable[[], bool],
) -> DeviceStats:
    """:func:`sciot.device.run_device`'s loop, on heads paced to the emulated device."""
    from sciot.device import DeviceClient, sample_input
    from sciot.sim.emulation import paced_artefacts

    rng = np.random.default_rng([config.seed, 7])
    artefacts = paced_artefacts(config.model, emulation, rng=rng)
    client = DeviceClient(config, transport, artefacts=artefacts)
    with client:
        data = sample_input(client.artefacts, config.model, config.seed)
        client.start()
        started_s = time.perf_counter()
        while time.perf_counter() - started_s < duration_s and not should_stop():
            on_outcome(client, client.infer(data))
    return client.stats()


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
    telemetry_path: Path | None,
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
        # Tail on the edge, as docs/edge.md defines it for the demo: edge-only included.
        split_inferences=sum(s.split + s.edge_only for s in finals),
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


__all__ = [
    "DEFAULT_DEVICE_PROFILE",
    "DEFAULT_LINK",
    "DEMO_LINKS",
    "LINK_CHANGE_FACTOR",
    "RECENT_WINDOW",
    "DemoLink",
    "DemoOptions",
    "DemoSummary",
    "DeviceTrack",
    "run_demo",
]
