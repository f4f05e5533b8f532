"""A network partition between devices and a real edge, counted end to end.

The devices speak HTTP to a real edge on loopback through :class:`EmulatedTransport`, whose
link is down for a window in the middle of the run (requests vanish, calls time out), and, in
a second variant, through a link that delivers every request but loses the replies for the
window (the edge served and recorded what the device then counted as failed). Either way,
every inference a device made must be a telemetry row once the partition heals.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sciot.device import CutArtefacts, DeviceClient, DeviceConfig
from sciot.edge import EdgeConfig, RunningServer, read_telemetry, start_edge
from sciot.errors import TransportError
from sciot.model import ModelGraph, load_model
from sciot.model.zoo import demo_model_path, load_demo_input
from sciot.transport import EmulatedTransport, HttpClientTransport

pytestmark = pytest.mark.slow

DEVICES = 3
RUN_S = 4.0
DOWN_FROM_S, DOWN_TO_S = 1.0, 2.5


class Partition:
    """A link with no delay, down from ``DOWN_FROM_S`` to ``DOWN_TO_S`` after ``t0``."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0

    def delay_s(self, payload_bytes: int, now_s: float, rng: np.random.Generator) -> float:
        return 0.0

    def is_down(self, now_s: float) -> bool:
        return DOWN_FROM_S <= now_s - self.t0 < DOWN_TO_S


class RepliesLost:
    """Delivers every request; loses the reply while the partition lasts."""

    def __init__(self, inner: HttpClientTransport, partition: Partition) -> None:
        self._inner = inner
        self._partition = partition

    def request(self, payload: bytes, *, timeout_s: float) -> bytes:
        reply = self._inner.request(payload, timeout_s=timeout_s)
        if self._partition.is_down(time.monotonic()):
            raise TransportError("reply lost in the partition")
        return reply

    def close(self) -> None:
        self._inner.close()


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[tuple[RunningServer, Path]]:
    telemetry = tmp_path / "telemetry.sqlite"
    config = EdgeConfig.from_mapping(
        {"port": 0, "telemetry": {"path": str(telemetry), "flush_interval_s": 0.2}}
    )
    server, _app = start_edge(config)
    try:
        yield server, telemetry
    finally:
        server.stop()


def _run(client: DeviceClient, done: dict[str, int]) -> None:
    x = load_demo_input("fomo96", 0)
    try:
        client.start()
        end = time.monotonic() + RUN_S
        while time.monotonic() < end:
            client.infer(x)
            time.sleep(0.005)
        deadline = time.monotonic() + 20.0
        while (client.queued or client.unreported) and time.monotonic() < deadline:
            client.flush(force=True)
            time.sleep(0.05)
        stats = client.stats()
        done[client.config.device_id] = stats.inferences
        done[client.config.device_id + ".lost"] = stats.lost
    finally:
        client.close()


@pytest.mark.parametrize("variant", ["requests_vanish", "replies_lost"])
def test_a_partition_loses_no_inference(edge: tuple[RunningServer, Path], variant: str) -> None:
    server, telemetry = edge
    graph: ModelGraph = load_model(demo_model_path("fomo96"))
    partition = Partition(time.monotonic())
    clients = []
    for i in range(DEVICES):
        config = DeviceConfig.from_mapping(
            {
                "device_id": f"cam-{i}",
                "edge_url": server.http_url,
                "timeout_s": 0.3,
                "backoff": {"initial_s": 0.1, "max_s": 0.3},
                "report_interval_s": 0.2,
                "seed": i,
            }
        )
        inner = HttpClientTransport(server.http_url)
        transport = (
            EmulatedTransport(inner, partition, rng=np.random.default_rng(i))
            if variant == "requests_vanish"
            else RepliesLost(inner, partition)
        )
        clients.append(DeviceClient(config, transport, artefacts=CutArtefacts(graph)))
    done: dict[str, int] = {}
    threads = [threading.Thread(target=_run, args=(c, done)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(RUN_S + 60.0)
    assert not any(t.is_alive() for t in threads)
    time.sleep(0.5)  # the edge's next flush
    rows = read_telemetry(telemetry)
    for client in clients:
        device_id = client.config.device_id
        assert done[device_id + ".lost"] == 0
        assert client.stats().failures > 0, "the partition never hit this device"
        seqs = {int(r["seq"]) for r in rows if r["device_id"] == device_id}  # type: ignore[call-overload]
        missing = set(range(1, done[device_id] + 1)) - seqs
        assert not missing, f"{device_id}: {len(missing)} inferences done but not recorded"
