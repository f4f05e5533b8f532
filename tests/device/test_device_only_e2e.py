"""Device-only against the real edge over loopback: no network call but the periodic reports,
and the planner's exploration still brings the device back to splitting when that pays.

The device's transport is the real HTTP client wrapped in :class:`CountingLink`, which counts
each call's message type and adds a configurable delay in front of it: an emulated link, not a
stand-in for the edge. The device is emulated 100x slower than this machine (about 20 ms a
frame), so a 200 ms link makes device-only the best cut and a fast link makes offloading worth
it again, by a margin machine load does not close either way: at 30x (6 ms a frame) a loaded
machine's loopback round trip could match the device and keep it local; over a 50 ms link, a
frame's time, its measured compute times 100, went past the link's on a machine busy with
other work (a run preempted for half a millisecond is a 50 ms frame), and the edge moved the
device off device-only before the test could watch it there.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sciot.device import CutArtefacts, DeviceClient, DeviceConfig, InferenceMode
from sciot.edge import EdgeConfig, RunningServer, read_telemetry, start_edge
from sciot.model import ModelGraph
from sciot.transport import HttpClientTransport
from sciot.wire import MessageType

pytestmark = pytest.mark.slow


class CountingLink:
    """Delegates every call to a real transport after ``delay_s``; counts calls by type."""

    def __init__(self, inner: HttpClientTransport) -> None:
        self.inner = inner
        self.delay_s = 0.0
        self.calls: Counter[int] = Counter()

    def request(self, payload: bytes, *, timeout_s: float) -> bytes:
        self.calls[payload[3]] += 1
        if self.delay_s > 0.0:
            time.sleep(self.delay_s)
        return self.inner.request(payload, timeout_s=timeout_s)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[RunningServer]:
    config = EdgeConfig.from_mapping(
        {
            "host": "127.0.0.1",
            "port": 0,
            "telemetry": {"path": str(tmp_path / "telemetry.sqlite"), "flush_interval_s": 0.05},
        }
    )
    server, _app = start_edge(config)
    try:
        yield server
    finally:
        server.stop()


def _run_until(
    client: DeviceClient, x: np.ndarray, done: object, *, max_inferences: int, max_s: float
) -> int:
    """Infer until ``done(client)`` holds; returns how many inferences it took (bounded)."""
    deadline_s = time.monotonic() + max_s
    for n in range(1, max_inferences + 1):
        client.infer(x)
        if done(client) or time.monotonic() > deadline_s:  # type: ignore[operator]
            return n
    return max_inferences


def test_device_only_calls_only_to_report_and_returns_to_split_when_the_link_improves(
    edge: RunningServer, fomo_graph: ModelGraph, fomo_input: np.ndarray, tmp_path: Path
) -> None:
    artefacts = CutArtefacts(fomo_graph)
    n = artefacts.num_ops
    link = CountingLink(HttpClientTransport(edge.http_url))
    link.delay_s = 0.2
    config = DeviceConfig.from_mapping(
        {
            "device_id": "cam-slow",
            "edge_url": edge.http_url,
            "speed_factor": 100.0,
            "initial_cut": 0,
            "report_every": 8,
            "report_interval_s": 60.0,
            "timeout_s": 10.0,
        }
    )
    with DeviceClient(config, link, artefacts=artefacts) as client:
        assert client.start()
        # A slow link: the planner moves the device to device-only.
        took = _run_until(client, fomo_input, lambda c: c.cut == n, max_inferences=300, max_s=30)
        assert client.cut == n, f"never chose device-only in {took} inferences"

        # The first device-only inference after a split reports at once (a probe of
        # device-only is one inference long); from then on, one call per 8 inferences.
        first = client.infer(fomo_input)
        assert first.mode is InferenceMode.DEVICE_ONLY and first.network_s > 0.0
        link.calls.clear()
        client.flush()
        probes_before = client.stats().probes_alongside
        outcomes = []
        while len(outcomes) < 40 and client.cut == n:
            outcomes.append(client.infer(fomo_input))
        client.flush()
        device_only = [o for o in outcomes if o.mode is InferenceMode.DEVICE_ONLY]
        assert len(device_only) >= 8, "the edge left device-only at once; nothing to measure"
        # Off the inference path: probes sent alongside (each reply that keeps the device
        # local is reported at once with its round trip), and the reports.
        probes = client.stats().probes_alongside - probes_before
        assert set(link.calls) <= {MessageType.DEVICE_ONLY_REPORT, MessageType.INFER_REQUEST}
        assert link.calls.get(MessageType.INFER_REQUEST, 0) == probes
        reports = link.calls[MessageType.DEVICE_ONLY_REPORT]
        assert len(device_only) // 8 <= reports <= len(device_only) // 8 + probes + 1
        on_path = sum(o.network_s > 0.0 for o in device_only)
        assert on_path <= reports, "no inference waited for anything but a report"

        # The link gets fast: reports show it, and the device goes back to splitting.
        link.delay_s = 0.0
        took = _run_until(client, fomo_input, lambda c: c.cut < n, max_inferences=400, max_s=30)
        assert client.cut < n, f"still device-only after {took} inferences on a fast link"
        outcome = client.infer(fomo_input)
        assert outcome.mode is InferenceMode.SPLIT
        want = artefacts.run_full(fomo_input)
        assert all(np.array_equal(outcome.outputs[k], v) for k, v in want.items())
        stats = client.stats()
    assert stats.lost == 0 and stats.local_fallbacks == 0
    edge.stop()
    rows = read_telemetry(tmp_path / "telemetry.sqlite")
    assert len(rows) == stats.inferences  # one row per inference, device-only ones included
    assert sum(r["outcome"] == "device_only" for r in rows) == stats.device_only
    assert not any(r["outcome"] == "offline" for r in rows)
