"""Registrations are capped per source address, and /metrics lists a bounded set of devices.

One client minting fresh device ids must not fill the registry for everyone else; and a
scrape of a large fleet must not format a series set per device for all of them.
"""

from __future__ import annotations

import http.client
import json
import re
from pathlib import Path

from edge_testkit import Fomo, edge_config

from sciot.edge import EdgeApp, build_edge, start_edge
from sciot.edge._metrics import STATS_MAX_DEVICES, render_metrics
from sciot.edge._tcp_listener import TcpListener
from sciot.transport import client_transport
from sciot.wire import (
    DeviceProfile,
    ErrorCode,
    ErrorFrame,
    Message,
    Register,
    RegisterAck,
    decode,
    encode,
)

T0 = 1_000_000.0


def _register_frame(device_id: str, fomo: Fomo) -> bytes:
    return encode(
        Register(device_id=device_id, model_id=fomo.graph.model_id, profile=DeviceProfile())
    )


def _register(app: EdgeApp, fomo: Fomo, device_id: str, source: str, now_s: float) -> Message:
    return decode(
        app.core.handle_frame(_register_frame(device_id, fomo), now_s, source=source).frame
    )


def test_a_flood_of_new_ids_from_one_source_is_capped_and_counted(
    tmp_path: Path, fomo: Fomo
) -> None:
    app = build_edge(edge_config(tmp_path, limits={"max_devices_per_source": 5}))
    try:
        replies = [_register(app, fomo, f"flood-{i}", "10.0.0.9", T0 + i) for i in range(40)]
        assert sum(isinstance(r, RegisterAck) for r in replies) == 5
        refused = [r for r in replies if isinstance(r, ErrorFrame)]
        assert len(refused) == 35
        assert all(r.code == ErrorCode.OVERLOADED for r in refused)
        assert "limits.max_devices_per_source" in refused[0].reason
        assert app.core.registry.source_refusals == 35
        # The five registered devices stay; none was evicted for the newcomers.
        assert {f"flood-{i}" for i in range(5)} <= set(app.core.devices)
        assert not any(f"flood-{i}" in app.core.devices for i in range(5, 40))
        # Registering again an id already held from that source is not a new device.
        assert isinstance(_register(app, fomo, "flood-0", "10.0.0.9", T0 + 50), RegisterAck)
        # Another source still registers, and so does a transport with no address (MQTT).
        assert isinstance(_register(app, fomo, "calm", "10.0.0.10", T0 + 51), RegisterAck)
        assert isinstance(_register(app, fomo, "mqtt-cam", "", T0 + 52), RegisterAck)
        assert app.core.registry.source_refusals == 35
        assert "sciot_edge_source_refusals_total 35" in render_metrics(app.core)
    finally:
        app.stop()


def test_an_idle_eviction_frees_the_sources_share(tmp_path: Path, fomo: Fomo) -> None:
    limits = {"max_devices_per_source": 2, "max_devices": 2, "device_idle_s": 10.0}
    app = build_edge(edge_config(tmp_path, limits=limits))
    try:
        assert isinstance(_register(app, fomo, "a", "10.0.0.1", T0), RegisterAck)
        assert isinstance(_register(app, fomo, "b", "10.0.0.1", T0), RegisterAck)
        assert isinstance(_register(app, fomo, "c", "10.0.0.1", T0 + 1), ErrorFrame)
        # Both idle past device_idle_s: a newcomer from elsewhere evicts them...
        assert isinstance(_register(app, fomo, "d", "10.0.0.2", T0 + 100), RegisterAck)
        # ...and the first source's count went with them.
        assert isinstance(_register(app, fomo, "c", "10.0.0.1", T0 + 101), RegisterAck)
        assert app.core.registry.per_source == {"10.0.0.1": 1, "10.0.0.2": 1}
    finally:
        app.stop()


def test_the_listeners_pass_the_peer_address(tmp_path: Path, fomo: Fomo) -> None:
    """Over real HTTP and TCP on loopback: both count against 127.0.0.1."""
    server, app = start_edge(edge_config(tmp_path, limits={"max_devices_per_source": 3}))
    tcp = TcpListener(app.core).start()
    try:
        http_link = client_transport(f"http://{server.host}:{server.port}")
        tcp_link = client_transport(tcp.url)
        try:
            acks = [
                decode(http_link.request(_register_frame(f"h{i}", fomo), timeout_s=10.0))
                for i in range(2)
            ]
            acks.append(decode(tcp_link.request(_register_frame("t0", fomo), timeout_s=10.0)))
            assert all(isinstance(a, RegisterAck) for a in acks)
            for link, device_id in ((http_link, "h9"), (tcp_link, "t9")):
                refusal = decode(link.request(_register_frame(device_id, fomo), timeout_s=10.0))
                assert isinstance(refusal, ErrorFrame) and refusal.code == ErrorCode.OVERLOADED
            assert isinstance(
                decode(tcp_link.request(_register_frame("h0", fomo), timeout_s=10.0)), RegisterAck
            )
        finally:
            http_link.close()
            tcp_link.close()
        assert app.core.registry.per_source == {"127.0.0.1": 3}
        assert app.core.registry.source_refusals == 2
    finally:
        tcp.stop()
        server.stop()


def test_metrics_of_a_large_fleet_list_a_bounded_set_of_devices(tmp_path: Path, fomo: Fomo) -> None:
    count = 3_000
    config = edge_config(tmp_path, limits={"max_devices": 4_096})
    server, app = start_edge(config)
    try:
        for i in range(count):
            _register(app, fomo, f"d{i:04d}", "", T0 + i)
        conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
        try:
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode()
            conn.request("GET", "/api/stats")
            response = conn.getresponse()
            doc = json.loads(response.read())
            content_type = response.getheader("content-type")
        finally:
            conn.close()
        series = set(re.findall(r'^sciot_edge_next_cut\{device="([^"]+)"\}', text, re.M))
        assert len(series) == STATS_MAX_DEVICES
        assert "d2999" in series and "d0000" not in series  # the most recently seen
        assert f"sciot_edge_devices {count}\n" in text
        assert f"sciot_edge_devices_listed {STATS_MAX_DEVICES}\n" in text
        assert content_type == "application/json"
        assert doc["devices_total"] == count and doc["devices_listed"] == STATS_MAX_DEVICES
        assert {d["device_id"] for d in doc["devices"]} == series
    finally:
        server.stop()
