"""The dashboard in a real headless chromium against a real edge and real device clients.

Checked: the numbers on the page equal ``/api/stats``; a cut change made by the planner (the
link to a device becomes slow) shows on the page within 2 s of the edge publishing it; a device
that stops is shown as gone while the others stay active; the page reconnects by itself when
the edge comes back after a restart.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest
from dashboard_testkit import SwitchableLink, dashboard_edge

from sciot.dashboard import mount_dashboard
from sciot.edge import EdgeConfig, start_edge

pytestmark = pytest.mark.slow

# Per-device /api/stats keys the device table shows, and the totals cards.
DEVICE_KEYS = (
    "next_cut",
    "last_cut",
    "mean_end_to_end_ms",
    "p50_ms",
    "p95_ms",
    "mean_device_ms",
    "mean_edge_ms",
    "inferences",
    "split_inferences",
    "edge_only",
    "device_only",
    "offline",
    "errors",
    "planner_updates",
)
TOTAL_KEYS = ("inferences", "split_inferences", "frames")
# An ESP32-class device: the whole model costs it tens of ms, so sending the input to the edge
# over a fast link wins, and a slow link moves the planner to another cut.
SLOW_DEVICE = {"speed_factor": 100.0}


def _stats(url: str) -> dict[str, Any]:
    return httpx.get(url + "/api/stats", timeout=5.0).raise_for_status().json()


def _cell(page: Any, device_id: str, key: str) -> str:
    text: str = page.text_content(f'tr[data-device="{device_id}"] td[data-key="{key}"]')
    return text


def _shown_equals(text: str, value: Any) -> bool:
    if value is None:
        return text == "–"
    return abs(float(text) - float(value)) <= 0.005 + 1e-9


def _wait_for_tick_after(page: Any, at_s: float) -> None:
    page.wait_for_function(
        "t => window.sciotLastTick && window.sciotLastTick.at_s > t", arg=at_s, timeout=5000
    )


def test_numbers_shown_equal_api_stats(page: Any) -> None:
    with dashboard_edge() as edge:
        for i in range(3):
            edge.start_device(f"cam-{i}", transport="http" if i % 2 else "ws")
        page.goto(edge.url + "/dashboard")
        page.wait_for_selector('tr[data-device="cam-2"]', timeout=10000)
        time.sleep(1.0)
        edge.halt_all()  # counters stop moving; the planner's last round lands meanwhile
        time.sleep(0.5)
        _wait_for_tick_after(page, time.time())
        stats = _stats(edge.url)
        assert len(stats["devices"]) == 3
        for entry in stats["devices"]:
            assert entry["inferences"] > 0
            for key in DEVICE_KEYS:
                shown = _cell(page, entry["device_id"], key)
                assert _shown_equals(shown, entry[key]), (entry["device_id"], key, shown)
            assert _cell(page, entry["device_id"], "model") == entry["model"]
        for key in TOTAL_KEYS:
            shown = page.text_content(f'[data-total="{key}"]')
            assert int(shown) == stats[key], (key, shown)
        assert page.text_content('[data-total="devices"]') == "3"
        assert page.text_content("#policy") == stats["policy"]


def test_a_cut_change_by_the_planner_appears_within_2_s(page: Any) -> None:
    link = SwitchableLink()
    with dashboard_edge() as edge:
        edge.start_device("cam-slow-link", link=link, **SLOW_DEVICE)
        page.goto(edge.url + "/dashboard")
        page.wait_for_selector('tr[data-device="cam-slow-link"]', timeout=10000)
        before = _steady_cut(edge.url, "cam-slow-link")
        _wait_for_tick_after(page, time.time())
        assert _cell(page, "cam-slow-link", "next_cut") == str(before)

        published = _CutRecorder(edge.url, "cam-slow-link")
        link.slow.set()
        published.start()
        try:
            assert published.changed_from(before, within_s=60.0), (
                f"the planner kept cut {before} on a slow link for 60 s"
            )
            # The requirement itself: the page shows the change within 2 s of the edge.
            page.wait_for_function(
                """([id, old]) => {
                    const cell = document.querySelector(
                        `tr[data-device="${id}"] td[data-key="next_cut"]`);
                    return cell && cell.textContent !== String(old);
                }""",
                arg=["cam-slow-link", before],
                timeout=2000,
            )
            shown = int(_cell(page, "cam-slow-link", "next_cut"))
        finally:
            published.stop()
        assert shown in published.values, f"page shows {shown}, edge published {published.values}"


class _CutRecorder:
    """Every next cut /api/stats published for one device, polled every 20 ms in a thread."""

    def __init__(self, url: str, device_id: str) -> None:
        self._url, self._device_id = url, device_id
        self.values: list[int] = []
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._first: int | None = None

    def start(self) -> None:
        self._first = _next_cut(self._url, self._device_id)
        self.values.append(self._first)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.02):
            cut = _next_cut(self._url, self._device_id)
            if cut != self.values[-1]:
                self.values.append(cut)
                self._changed.set()

    def changed_from(self, cut: int, *, within_s: float) -> bool:
        """Wait (bounded) until the edge publishes a cut other than ``cut``."""
        if self._first != cut:
            return True
        return self._changed.wait(within_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)


def _next_cut(url: str, device_id: str) -> int:
    for entry in _stats(url)["devices"]:
        if entry["device_id"] == device_id:
            return int(entry["next_cut"])
    raise AssertionError(f"{device_id} is not in /api/stats")


def _steady_cut(url: str, device_id: str, *, steady_s: float = 1.0) -> int:
    """The cut once the planner has kept it for ``steady_s`` (bounded wait)."""
    deadline_s = time.monotonic() + 30.0
    cut, since_s = _next_cut(url, device_id), time.monotonic()
    while time.monotonic() < deadline_s:
        now_cut = _next_cut(url, device_id)
        if now_cut != cut:
            cut, since_s = now_cut, time.monotonic()
        elif time.monotonic() - since_s >= steady_s:
            return cut
        time.sleep(0.05)
    raise AssertionError(f"{device_id}'s cut never settled for {steady_s} s within 30 s")


def test_a_stopped_device_is_shown_as_gone(page: Any) -> None:
    alerts: list[dict[str, Any]] = []
    with dashboard_edge(gone_after_s=1.5, alerts=lambda: alerts) as edge:
        edge.start_device("cam-stays")
        leaving = edge.start_device("cam-leaves")
        page.goto(edge.url + "/dashboard")
        page.wait_for_selector('tr[data-device="cam-leaves"][data-status="active"]', timeout=10000)
        leaving.halt()
        page.wait_for_selector('tr[data-device="cam-leaves"][data-status="gone"]', timeout=6000)
        assert _cell(page, "cam-leaves", "status") == "gone"
        assert _cell(page, "cam-stays", "status") == "active"
        assert page.text_content('[data-total="active_gone"]') == "1 / 1"
        assert page.is_hidden("#alerts") is False  # a source is mounted: the panel is there
        alerts.append(
            {
                "raised_s": time.time(),
                "sensor_id": "temp-7",
                "severity": "critical",
                "kind": "spike",
                "reason": "temp-7: 9.1 sigma above its window",
            }
        )
        page.wait_for_selector("#alert-rows tr", timeout=3000)
        assert "temp-7: 9.1 sigma above its window" in page.text_content("#alert-rows")


def test_the_page_reconnects_when_the_edge_comes_back(page: Any) -> None:
    config = EdgeConfig.from_mapping({"port": 0, "telemetry": {"enabled": False}})
    server, _app = start_edge(config, prepare=mount_dashboard)
    try:
        page.goto(server.http_url + "/dashboard")
        page.wait_for_selector('#connection[data-state="live"]', timeout=10000)
        port = server.port
        server.stop()
        page.wait_for_selector('#connection[data-state="reconnecting"]', timeout=5000)
        server, _app = start_edge(config, port=port, prepare=mount_dashboard)
        page.wait_for_selector('#connection[data-state="live"]', timeout=10000)
    finally:
        server.stop()
