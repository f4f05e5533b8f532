"""A real edge with the dashboard mounted, real device clients in threads, a real browser.

Devices are :func:`sciot.device.run_device` loops against the edge over loopback; each can be
stopped on its own (so the page can be checked to show it gone) and can reach the edge through
an emulated link whose bandwidth the test switches (so the planner has a reason to change the
cut while the page is watching). The browser is Debian's chromium driven by Playwright.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from sciot.dashboard import AlertSource, LiveFeed, mount_dashboard
from sciot.device import DeviceConfig, open_transport, run_device
from sciot.edge import EdgeApp, EdgeConfig, RunningServer, start_edge
from sciot.transport import EmulatedTransport

CHROMIUM = "/usr/bin/chromium"
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


def _missing(message: str) -> None:
    """What the browser tests need is absent: a failure under CI, a skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def chromium_path() -> str:
    """The system chromium (.ci/run installs it) and Playwright (the ``dev`` extra)."""
    path = shutil.which("chromium") or (CHROMIUM if os.path.exists(CHROMIUM) else None)
    if path is None:
        _missing("Debian's chromium is not installed (apt-get install chromium; .ci/run does)")
    if importlib.util.find_spec("playwright") is None:
        _missing("the playwright package is not installed (pip install -e '.[dev]')")
    assert path is not None
    return path


@dataclass(slots=True)
class SwitchableLink:
    """An emulated link (``sciot.transport.LinkEmulator``) the test makes slow at will."""

    rtt_s: float = 0.0005
    bytes_per_s: float = 200e6
    slow_rtt_s: float = 0.030
    slow_bytes_per_s: float = 0.25e6
    slow: threading.Event = field(default_factory=threading.Event)

    def delay_s(self, payload_bytes: int, now_s: float, rng: np.random.Generator) -> float:
        if self.slow.is_set():
            return self.slow_rtt_s + payload_bytes / self.slow_bytes_per_s
        return self.rtt_s + payload_bytes / self.bytes_per_s

    def is_down(self, now_s: float) -> bool:
        return False


@dataclass(slots=True)
class Device:
    device_id: str
    stop: threading.Event
    thread: threading.Thread
    errors: list[BaseException]

    def halt(self) -> None:
        self.stop.set()
        self.thread.join(30.0)
        assert not self.thread.is_alive(), f"{self.device_id} did not stop"
        assert not self.errors, f"{self.device_id} failed: {self.errors[0]!r}"


@dataclass(slots=True)
class DashboardEdge:
    server: RunningServer
    app: EdgeApp
    feed: LiveFeed
    devices: dict[str, Device] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.http_url

    def start_device(
        self, device_id: str, *, link: SwitchableLink | None = None, **overrides: Any
    ) -> Device:
        settings = {"device_id": device_id, "edge_url": self.url, "timeout_s": 10.0, **overrides}
        config = DeviceConfig.from_mapping(settings)
        transport = open_transport(config)
        if link is not None:
            transport = EmulatedTransport(transport, link, rng=np.random.default_rng(0))
        stop = threading.Event()
        errors: list[BaseException] = []

        def loop() -> None:
            try:
                run_device(config, transport=transport, should_stop=stop.is_set)
            except BaseException as exc:  # reported by halt()
                errors.append(exc)

        thread = threading.Thread(target=loop, name=f"device-{device_id}", daemon=True)
        device = Device(device_id, stop, thread, errors)
        self.devices[device_id] = device
        thread.start()
        return device

    def halt_all(self) -> None:
        for device in self.devices.values():
            if device.thread.is_alive() or device.errors:
                device.halt()


@contextmanager
def dashboard_edge(
    *,
    gone_after_s: float = 2.0,
    interval_s: float = 0.5,
    policy: str = "adaptive",
    alerts: AlertSource | None = None,
) -> Iterator[DashboardEdge]:
    config = EdgeConfig.from_mapping(
        {
            "host": "127.0.0.1",
            "port": 0,
            "telemetry": {"enabled": False},
            "planner": {"policy": policy},
        }
    )
    feeds: list[LiveFeed] = []

    def mount(app: EdgeApp) -> None:
        feeds.append(
            mount_dashboard(app, interval_s=interval_s, gone_after_s=gone_after_s, alerts=alerts)
        )

    server, app = start_edge(config, prepare=mount)
    edge = DashboardEdge(server, app, feeds[0])
    try:
        yield edge
    finally:
        try:
            edge.halt_all()
        finally:
            server.stop()
