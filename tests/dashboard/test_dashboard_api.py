"""The dashboard's HTTP and WebSocket endpoints on a real edge, over loopback, without a browser.

Devices here are synchronous :class:`~sciot.device.DeviceClient` runs (a few inferences each,
then idle), so every number is stable when it is compared.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from dashboard_testkit import DashboardEdge, dashboard_edge
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from sciot.dashboard import HISTORY_FIELDS, mount_dashboard, sensor_alerts
from sciot.device import DeviceClient, DeviceConfig, open_transport, sample_input
from sciot.edge import EdgeConfig, build_edge
from sciot.errors import ConfigError
from sciot.sensors import Alert


@pytest.fixture(scope="module")
def edge() -> Iterator[DashboardEdge]:
    with dashboard_edge(interval_s=0.1, gone_after_s=30.0) as running:
        for i, cut in enumerate((0, 5, None)):
            config = DeviceConfig.from_mapping(
                {"device_id": f"dev-{i}", "edge_url": running.url, "initial_cut": cut}
            )
            with DeviceClient(config, open_transport(config)) as client:
                assert client.start()
                array = sample_input(client.artefacts, config.model, 0)
                for _ in range(12):
                    client.infer(array)
                client.flush(force=True)
        _wait_until_quiet(running)
        yield running


def _wait_until_quiet(edge: DashboardEdge) -> None:
    """Until the planner's last rounds have landed: /api/stats unchanged for 0.5 s (bounded)."""
    deadline_s = time.monotonic() + 15.0
    before = _without_clock(_get(edge, "/api/stats").json())
    while time.monotonic() < deadline_s:
        time.sleep(0.5)
        now = _without_clock(_get(edge, "/api/stats").json())
        if now == before:
            return
        before = now
    raise AssertionError("the edge's counters kept changing with every device idle")


def _get(edge: DashboardEdge, path: str) -> httpx.Response:
    return httpx.get(edge.url + path, timeout=5.0)


def _without_clock(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stats.items() if k != "uptime_s"}


def test_a_snapshot_embeds_api_stats_unchanged(edge: DashboardEdge) -> None:
    snapshot = _get(edge, "/dashboard/api/snapshot").raise_for_status().json()
    stats = _get(edge, "/api/stats").raise_for_status().json()
    assert _without_clock(snapshot["stats"]) == _without_clock(stats)
    assert set(snapshot["derived"]) == {"dev-0", "dev-1", "dev-2"}
    for device_id, derived in snapshot["derived"].items():
        assert derived["status"] == "active", device_id
        entry = next(d for d in stats["devices"] if d["device_id"] == device_id)
        frame_bytes = entry["uplink_bytes"] + entry["downlink_bytes"]
        # Rounded to 0.1 B as the snapshot rounds it (a tolerance of 0.05 fails at x.x5).
        assert derived["bytes_per_inference"] == round(frame_bytes / entry["inferences"], 1)
    assert snapshot["fleet"] == {
        "devices": 3,
        "active": 3,
        "gone": 0,
        "inferences_per_s": snapshot["fleet"]["inferences_per_s"],
    }
    assert snapshot["alerts"] is None


def test_idle_devices_have_no_rate_and_the_history_is_bounded(edge: DashboardEdge) -> None:
    for _ in range(3):
        snapshot = _get(edge, "/dashboard/api/snapshot").json()
    assert all(d["inferences_per_s"] == 0.0 for d in snapshot["derived"].values())
    history = _get(edge, "/dashboard/api/history").json()
    assert history["type"] == "history"
    assert history["fields"] == list(HISTORY_FIELDS)
    assert 3 <= len(history["points"]) <= edge.feed.tracker.history.maxlen  # type: ignore[operator]
    last = history["points"][-1]
    assert set(last["devices"]) == {"dev-0", "dev-1", "dev-2"}
    assert all(len(values) == len(HISTORY_FIELDS) for values in last["devices"].values())


def test_the_planner_view_of_a_device(edge: DashboardEdge) -> None:
    view = _get(edge, "/dashboard/api/devices/dev-1").raise_for_status().json()
    stats = _get(edge, "/api/stats").json()
    entry = next(d for d in stats["devices"] if d["device_id"] == "dev-1")
    assert view["next_cut"] == entry["next_cut"]
    assert view["objective"] == "latency"
    assert view["policy"] == stats["policy"]
    num_ops = view["num_ops"]
    assert [c["cut"] for c in view["cuts"]] == list(range(num_ops + 1))
    assert len(view["ops"]) == len(view["device_op_ms"]) == len(view["edge_op_ms"]) == num_ops
    assert view["cuts"][0]["device_ms"] == 0.0  # edge-only: nothing runs on the device
    assert view["cuts"][num_ops]["network_ms"] == 0.0  # device-only: nothing to send
    assert any(c["known"] for c in view["cuts"])
    assert view["link"]["samples"] > 0
    assert f"cut {view['next_cut']}" in view["why"]
    json.dumps(view, allow_nan=False)  # no NaN or infinity reaches the page


def test_an_unknown_device_gets_a_clear_404(edge: DashboardEdge) -> None:
    reply = _get(edge, "/dashboard/api/devices/nobody")
    assert reply.status_code == 404
    assert reply.json()["detail"] == "device 'nobody' is not registered with this edge"


def test_the_page_and_its_files_are_served(edge: DashboardEdge) -> None:
    page = _get(edge, "/dashboard")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for src in ("/dashboard/static/dashboard.js", "/dashboard/static/vendor/uPlot.iife.min.js"):
        assert src in page.text
        script = _get(edge, src)
        assert script.status_code == 200
        assert script.headers["content-type"].startswith("text/javascript")
    missing = _get(edge, "/dashboard/static/nothing.js")
    assert missing.status_code == 404
    assert "nothing.js" in missing.json()["detail"]


def _live(edge: DashboardEdge) -> Any:
    return connect(edge.url.replace("http://", "ws://") + "/dashboard/live", open_timeout=5)


def test_live_ticks_are_computed_once_for_all_viewers(edge: DashboardEdge) -> None:
    with _live(edge) as first, _live(edge) as second:
        for socket in (first, second):
            assert json.loads(socket.recv(timeout=5))["type"] == "history"
        ticks_before = edge.feed.ticks
        received = 0
        for _ in range(10):
            for socket in (first, second):
                message = json.loads(socket.recv(timeout=5))
                assert message["type"] == "tick"
                assert _without_clock(message["stats"])["devices"]
                received += 1
        computed = edge.feed.ticks - ticks_before
        # Two viewers got 20 messages between them from about 10 computed ticks, not 20.
        assert computed <= 10 + 2, computed
        assert edge.feed.viewers == 2
    deadline_s = time.monotonic() + 5.0
    while edge.feed.viewers and time.monotonic() < deadline_s:
        time.sleep(0.02)
    assert edge.feed.viewers == 0
    time.sleep(0.3)  # the feed notices nobody watches and ends
    idle_ticks = edge.feed.ticks
    time.sleep(0.5)
    assert edge.feed.ticks == idle_ticks, "the feed kept computing ticks with nobody watching"


def test_stopping_the_edge_closes_an_open_live_page() -> None:
    with dashboard_edge() as edge:
        with _live(edge) as socket:
            assert json.loads(socket.recv(timeout=5))["type"] == "history"
            edge.server.stop()
            with pytest.raises(ConnectionClosed) as closed:
                for _ in range(20):
                    socket.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012  # going away


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"interval_s": 2.0}, "interval_s must be between 0.05 and 1.0 s"),
        ({"interval_s": 0.5, "gone_after_s": 0.5}, "gone_after_s (0.5) must exceed interval_s"),
    ],
)
def test_bad_dashboard_settings_are_refused(options: dict[str, float], message: str) -> None:
    app = build_edge(EdgeConfig.from_mapping({"telemetry": {"enabled": False}}))
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        mount_dashboard(app, **options)


def _alert(sensor_id: str, value: float) -> Alert:
    return Alert(
        sensor_id=sensor_id,
        timestamp_s=10.0,
        severity="critical",
        kind="dropout",
        feature="missing_fraction",
        score=9.5,
        value=value,
        expected=0.0,
        reason=f"{sensor_id}: readings missing",
        sent_s=time.time() - 0.01,
        raised_s=time.time(),
    )


def test_sensor_pipeline_alerts_are_shown_newest_last_and_bounded() -> None:
    alerts: list[Alert] = []
    app = build_edge(EdgeConfig.from_mapping({"telemetry": {"enabled": False}}))
    feed = mount_dashboard(app, alerts=sensor_alerts(alerts, limit=2))
    assert feed.tick_now()["alerts"] == []
    alerts.extend([_alert("temp-1", 1.0), _alert("temp-2", float("nan")), _alert("hum-3", 2.0)])
    shown = feed.tick_now()["alerts"]
    assert [a["sensor_id"] for a in shown] == ["temp-2", "hum-3"]
    assert shown[0]["value"] is None  # NaN cannot travel as JSON
    assert shown[1]["reason"] == "hum-3: readings missing"
    json.dumps(shown, allow_nan=False)
    with pytest.raises(ConfigError, match="alert limit must be >= 1"):
        sensor_alerts(alerts, limit=0)


def test_the_planner_view_names_a_non_adaptive_policy() -> None:
    with dashboard_edge(policy="fixed:7") as edge:
        config = DeviceConfig.from_mapping({"device_id": "fixed-1", "edge_url": edge.url})
        with DeviceClient(config, open_transport(config)) as client:
            assert client.start()
            array = sample_input(client.artefacts, config.model, 0)
            for _ in range(4):
                assert client.infer(array).cut == 7
        view = _get(edge, "/dashboard/api/devices/fixed-1").raise_for_status().json()
    assert view["next_cut"] == 7
    assert view["why"].startswith("the fixed:7 policy's choice")
