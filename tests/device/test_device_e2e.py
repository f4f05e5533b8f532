"""The device client against the real edge server over loopback HTTP and WebSocket.

Each test starts the edge in-process with uvicorn on a free port and stops it afterwards.
Covered: every cut's result equals the full model's bit for bit; the edge killed mid-run ->
the device continues locally, loses nothing, uploads its offline records and returns to split
inference when the edge is back; a model the edge does not serve -> a clear refusal.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from sciot.device import (
    CutArtefacts,
    DeviceClient,
    DeviceConfig,
    InferenceMode,
    RegistrationRefused,
    open_transport,
)
from sciot.edge import EdgeConfig, RunningServer, start_edge
from sciot.model import ModelGraph
from sciot.runtime import SegmentExecutor

pytestmark = pytest.mark.slow


def _edge_config(tmp_path: Path, **overrides: Any) -> EdgeConfig:
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "telemetry": {"path": str(tmp_path / "telemetry.sqlite"), "flush_interval_s": 0.05},
    }
    return EdgeConfig.from_mapping({**base, **overrides})


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[RunningServer]:
    server, _app = start_edge(_edge_config(tmp_path))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def artefacts(fomo_graph: ModelGraph) -> CutArtefacts:
    return CutArtefacts(fomo_graph)


def _device(url: str, artefacts: CutArtefacts, **overrides: Any) -> DeviceClient:
    config = DeviceConfig.from_mapping(
        {"device_id": "cam-e2e", "edge_url": url, "timeout_s": 10.0, **overrides}
    )
    return DeviceClient(config, open_transport(config), artefacts=artefacts)


@pytest.mark.parametrize("transport", ["http", "ws"])
def test_every_cut_matches_the_full_model_bit_for_bit(
    edge: RunningServer,
    artefacts: CutArtefacts,
    fomo_graph: ModelGraph,
    fomo_input: np.ndarray,
    transport: str,
) -> None:
    expected = SegmentExecutor(fomo_graph.model_bytes).run({artefacts.input_name: fomo_input})
    # A configured initial cut is used for the first inference, so one short-lived client
    # per cut visits every cut whatever the edge's planner prefers.
    for cut in range(artefacts.num_ops + 1):
        with _device(
            edge.http_url, artefacts, transport=transport, initial_cut=cut, device_id=f"d{cut}"
        ) as client:
            assert client.start()
            outcome = client.infer(fomo_input)
        assert outcome.cut == cut
        assert outcome.mode in (InferenceMode.SPLIT, InferenceMode.DEVICE_ONLY), outcome.reason
        for name, want in expected.items():
            assert np.array_equal(outcome.outputs[name], want), f"cut {cut} differs"


@pytest.mark.parametrize("transport", ["http", "ws"])
def test_edge_killed_mid_run_nothing_lost_and_back_to_split(
    tmp_path: Path, artefacts: CutArtefacts, fomo_input: np.ndarray, transport: str
) -> None:
    config = _edge_config(tmp_path)
    server, _app = start_edge(config)
    port = server.port
    client = _device(
        server.http_url,
        artefacts,
        backoff={"initial_s": 0.05, "max_s": 0.2, "jitter": 0.0},
        timeout_s=5.0,
        transport=transport,
        report_every=4,  # at device-only, only a report notices the edge is gone
    )
    try:
        assert client.start()
        modes = [client.infer(fomo_input).mode for _ in range(20)]
        assert InferenceMode.LOCAL not in modes
        unreported = client.unreported

        server.stop()
        offline = [client.infer(fomo_input) for _ in range(30)]
        # Device-only inferences touch no network until their report is due; once it fails,
        # everything runs locally and the unreported records join the offline queue.
        assert all(o.mode is InferenceMode.LOCAL for o in offline[4:])
        assert client.queued + client.unreported == unreported + 30
        local = sum(o.mode is InferenceMode.LOCAL for o in offline)

        server, _app = start_edge(config, port=port)
        deadline_s = time.monotonic() + 10.0
        outcome = client.infer(fomo_input)
        extra = 1
        while outcome.mode is InferenceMode.LOCAL and time.monotonic() < deadline_s:
            time.sleep(0.01)
            outcome = client.infer(fomo_input)
            extra += 1
        assert outcome.mode is not InferenceMode.LOCAL, "never went back to split inference"

        stats = client.stats()
        assert stats.inferences == 20 + 30 + extra
        assert stats.lost == 0
        assert stats.queued == 0
        assert stats.local_fallbacks == local + extra - 1
        assert stats.uploaded == unreported + 30 + extra - 1
        assert stats.registrations == 2
        # The restarted edge received every offline inference.
        edge_view = httpx.get(f"{server.http_url}/api/stats", timeout=5.0).json()
        (device,) = [d for d in edge_view["devices"] if d["device_id"] == "cam-e2e"]
        assert device["offline"] == stats.uploaded
    finally:
        client.close()
        server.stop()


def test_wrong_model_is_refused_clearly(
    tmp_path: Path, artefacts: CutArtefacts, fomo_int8_graph: ModelGraph
) -> None:
    # The edge serves only the int8 model; the device runs the float one.
    server, _app = start_edge(_edge_config(tmp_path, models=[{"demo": "fomo96_int8"}]))
    try:
        client = _device(server.http_url, artefacts)
        with pytest.raises(RegistrationRefused, match="UNKNOWN_MODEL") as info:
            client.start()
        assert artefacts.model_id in str(info.value)
        assert fomo_int8_graph.model_id in str(info.value)  # the edge says what it serves
        client.close()
    finally:
        server.stop()


def test_unreachable_edge_at_start_runs_locally(
    artefacts: CutArtefacts, fomo_input: np.ndarray
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with _device(f"http://127.0.0.1:{port}", artefacts) as client:
        assert client.start() is False
        assert client.infer(fomo_input).mode is InferenceMode.LOCAL
        assert client.stats().queued == 1


@pytest.mark.parametrize("policy", ["adaptive", "fixed:10"])
def test_device_and_edge_count_the_same_inferences(
    tmp_path: Path, artefacts: CutArtefacts, fomo_input: np.ndarray, policy: str
) -> None:
    """Each side counts an inference by its cut: cut 0 edge-only, interior cuts split, cut N
    device-only, whatever the planner chose (the device once said 'split 2' where the edge
    said 'split_inferences: 0, edge_only: 2')."""
    server, app = start_edge(_edge_config(tmp_path, planner={"policy": policy}))
    try:
        client = _device(server.http_url, artefacts, device_id="cam-count", initial_cut=0)
        with client:
            assert client.start()
            for _ in range(12):
                client.infer(fomo_input)
        device = client.stats()
        (edge,) = [s for s in app.core.stats() if s.device_id == "cam-count"]
    finally:
        server.stop()
    assert device.local_fallbacks == 0 and device.edge_only >= 1
    if policy == "fixed:10":
        assert (device.edge_only, device.split) == (1, 11)
    assert (edge.split_inferences, edge.edge_only) == (device.split, device.edge_only)
    assert (edge.device_only, edge.inferences) == (device.device_only, device.inferences)
    assert edge.cuts == dict(device.cuts)
