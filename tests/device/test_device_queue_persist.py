"""The offline queue on disk: order, bounds and drop counts kept across restarts, records kept
until the edge acknowledged them, and a device killed (-9) with a backlog that uploads all of
it after its restart."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sciot.device import CutArtefacts, DeviceClient, DeviceConfig, open_transport
from sciot.device._queue_store import PersistentOfflineQueue
from sciot.edge import EdgeConfig, read_telemetry, start_edge
from sciot.model import ModelGraph
from sciot.wire import OfflineRecord

MODEL_ID = "ab" * 8


def _record(seq: int) -> OfflineRecord:
    return OfflineRecord(seq=seq, cut=3, started_at_s=1000.0 + seq, device_seconds=0.01)


def _queue(path: Path, capacity: int = 100) -> PersistentOfflineQueue:
    return PersistentOfflineQueue(path, capacity, device_id="cam", model_id=MODEL_ID)


def test_records_survive_a_restart_in_order_until_confirmed(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    queue = _queue(path)
    for seq in range(10):
        assert queue.push(_record(seq))
    taken = queue.take(4)
    assert [r.seq for r in taken] == [0, 1, 2, 3]
    queue.put_back(taken[2:])  # 2 and 3 did not fit the frame
    queue.close()  # killed before the edge acknowledged 0 and 1
    again = _queue(path)
    assert again.restored == 10
    assert [r.seq for r in again.take(100)] == list(range(10))
    assert again.confirm() == 10
    again.close()
    assert len(_queue(path)) == 0


def test_drops_are_counted_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    queue = _queue(path, capacity=5)
    kept = [queue.push(_record(seq)) for seq in range(8)]
    assert kept.count(False) == 3 and queue.dropped == 3
    queue.close()
    again = _queue(path, capacity=5)
    assert again.dropped == 3
    assert [r.seq for r in again.take(10)] == [3, 4, 5, 6, 7]
    again.close()
    smaller = _queue(path, capacity=2)  # a smaller bound drops the oldest, counted
    assert smaller.dropped == 6 and len(smaller) == 2
    smaller.close()


def test_an_unwritable_queue_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(Exception, match=r"offline queue .* cannot be opened"):
        _queue(blocker / "q.sqlite")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_DEVICE_KILLED_WITH_A_BACKLOG = """
import os, signal, sys
from sciot.device import DeviceClient, DeviceConfig, open_transport
from sciot.model.zoo import load_demo_input
config = DeviceConfig.from_mapping({
    "device_id": "cam-restart", "edge_url": sys.argv[1], "timeout_s": 0.5,
    "offline_queue_path": sys.argv[2],
})
client = DeviceClient(config, open_transport(config))
client.start()
x = load_demo_input("fomo96", 0)
for _ in range(int(sys.argv[3])):
    client.infer(x)
assert client.queued == int(sys.argv[3]), client.stats()
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.slow
def test_a_device_killed_with_a_backlog_uploads_all_of_it_after_restart(
    tmp_path: Path, fomo_graph: ModelGraph
) -> None:
    port, inferences = _free_port(), 40
    url = f"http://127.0.0.1:{port}"
    queue_path = tmp_path / "device" / "queue.sqlite"
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(_DEVICE_KILLED_WITH_A_BACKLOG),
            *(url, str(queue_path), str(inferences)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -9, child.stderr[-2000:]
    telemetry = tmp_path / "telemetry.sqlite"
    config = EdgeConfig.from_mapping(
        {"port": 0, "telemetry": {"path": str(telemetry), "flush_interval_s": 60.0}}
    )
    server, _app = start_edge(config, port=port)
    try:
        device_config = DeviceConfig.from_mapping(
            {
                "device_id": "cam-restart",
                "edge_url": url,
                "timeout_s": 10.0,
                "offline_queue_path": str(queue_path),
            }
        )
        client = DeviceClient(
            device_config, open_transport(device_config), artefacts=CutArtefacts(fomo_graph)
        )
        assert client.queued == inferences
        assert client.start()
        assert client.flush() == inferences
        assert client.queued == 0 and client.stats().lost == 0
        client.close()
        # Read while the edge's next flush is a minute away: the acks meant "on disk".
        rows = [r for r in read_telemetry(telemetry) if r["device_id"] == "cam-restart"]
        assert len(rows) == inferences
        assert all(r["outcome"] == "offline" for r in rows)
        assert sorted(int(r["seq"]) for r in rows) == list(range(1, inferences + 1))
    finally:
        server.stop()
    assert len(_queue(queue_path)) == 0
