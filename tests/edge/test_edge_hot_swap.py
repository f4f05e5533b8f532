"""Hot swap: a new version of a served model deployed into a running edge while devices run.

A real edge on loopback serves the demo FOMO model; devices over HTTP and WebSocket infer in
their own threads (one of them also runs some inferences alone, which it reports in batches).
Mid-run a second version (same graph, different weights, so a different model id and
different outputs) is deployed through the operator endpoint. Every inference must give
exactly what the whole model of the version that ran it gives (so no frame met the other
version's tail), none may be lost or fall back to a local run, every device must move to the
new version, the old version must be retired, and the edge's telemetry must hold each
inference once, under the version the device used.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from sciot.device import DeviceClient, DeviceConfig, InferenceMode, open_transport
from sciot.edge import EdgeConfig, RunningServer, start_edge
from sciot.model import _flatbuffer as fb
from sciot.model import load_model
from sciot.model.zoo import demo_model_path, load_demo_input
from sciot.runtime import SegmentExecutor

pytestmark = pytest.mark.slow

OPERATOR_TOKEN = "operator-token-for-the-hot-swap-test"
MAX_INFERENCES = 30_000  # a bound far above what the test needs: ~1 ms each here
RUN_LIMIT_S = 90.0


def second_version(data: bytes) -> bytes:
    """The same graph with its largest weight tensor scaled: a new model id, new outputs."""
    model = fb.parse_model(data)
    sizes = [0 if b.data is None else len(b.data) for b in model.buffers]
    index = sizes.index(max(sizes))
    weights = np.frombuffer(bytes(model.buffers[index].data), dtype=np.float32) * 1.5
    model.buffers[index].data = np.frombuffer(weights.tobytes(), dtype=np.uint8)
    return fb.serialize_model(model)


def whole_model_output(data: bytes, x: np.ndarray) -> dict[str, np.ndarray]:
    graph = load_model(data)
    return SegmentExecutor(data).run({graph.inputs[0].name: x})


@dataclass
class DeviceRun:
    """One device thread's inferences: (seq, model id it ran, mode, outputs)."""

    client: DeviceClient
    results: list[tuple[int, str, InferenceMode, dict[str, np.ndarray]]] = field(
        default_factory=list
    )
    error: BaseException | None = None
    done: bool = False


def _run_device(run: DeviceRun, x: np.ndarray, stop: threading.Event) -> None:
    deadline = time.monotonic() + RUN_LIMIT_S
    try:
        for _ in range(MAX_INFERENCES):
            if stop.is_set() or time.monotonic() > deadline:
                break
            outcome = run.client.infer(x)
            # The model id right after infer() is the version that ran it: a move to a newer
            # version happens at the start of the next decision.
            run.results.append(
                (outcome.seq, run.client.artefacts.model_id, outcome.mode, outcome.outputs)
            )
    except BaseException as exc:  # reported by the test thread
        run.error = exc
    finally:
        run.done = True


@pytest.fixture(params=["fixed:6", "adaptive"])
def edge(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[RunningServer, Any]]:
    """A fixed cut makes every inference split (the tails of both versions run); the adaptive
    planner shows the new version's cuts are planned from fresh measurements."""
    telemetry = tmp_path / "telemetry.sqlite"
    config = EdgeConfig.from_mapping(
        {
            "host": "127.0.0.1",
            "port": 0,
            "planner": {"policy": request.param},
            "auth": {"operator_token": OPERATOR_TOKEN},
            "telemetry": {"path": str(telemetry), "flush_interval_s": 0.05},
        }
    )
    server, app = start_edge(config)
    try:
        yield server, app
    finally:
        server.stop()


def _client(url: str, device_id: str, **overrides: Any) -> DeviceClient:
    config = DeviceConfig.from_mapping(
        {
            "device_id": device_id,
            "edge_url": url,
            "model": "fomo96",
            "timeout_s": 20.0,
            "report_every": 8,
            **overrides,
        }
    )
    return DeviceClient(config, open_transport(config))


def _wait(predicate: Any, what: str, runs: list[DeviceRun], limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():
        for run in runs:
            assert run.error is None, f"{run.client.config.device_id}: {run.error!r}"
            assert not run.done, f"{run.client.config.device_id} stopped before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_hot_swap_while_devices_run_loses_nothing_and_never_mixes_versions(
    edge: tuple[RunningServer, Any], tmp_path: Path
) -> None:
    server, app = edge
    telemetry = tmp_path / "telemetry.sqlite"
    fixed = app.core.policy.startswith("fixed:")
    old_bytes = demo_model_path("fomo96").read_bytes()
    new_bytes = second_version(old_bytes)
    old_id, new_id = load_model(old_bytes).model_id, load_model(new_bytes).model_id
    x = load_demo_input("fomo96", 3)
    expected = {old_id: whole_model_output(old_bytes, x), new_id: whole_model_output(new_bytes, x)}
    name = next(iter(expected[old_id]))
    assert not np.array_equal(expected[old_id][name], expected[new_id][name])

    runs = [
        DeviceRun(_client(server.http_url, "cam-http", transport="http")),
        DeviceRun(
            _client(
                server.http_url,
                "cam-ws",
                transport="ws",
                local_inference={"enabled": True, "probability": 0.3},
            )
        ),
    ]
    for run in runs:
        assert run.client.start()
    stop = threading.Event()
    threads = [threading.Thread(target=_run_device, args=(r, x, stop)) for r in runs]
    for thread in threads:
        thread.start()
    try:
        _wait(
            lambda: all(len(r.results) >= 20 for r in runs), "inferences on the old version", runs
        )
        headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
        refused = httpx.post(f"{server.http_url}/v1/models/fomo96", content=new_bytes)
        assert refused.status_code == 401
        accepted = httpx.post(
            f"{server.http_url}/v1/models/fomo96", content=new_bytes, headers=headers
        )
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["model_id"] == new_id
        _wait(lambda: all(r.client.model_updates == 1 for r in runs), "devices to move", runs)
        moved_at = [len(r.results) for r in runs]
        _wait(
            lambda: all(len(r.results) >= m + 20 for r, m in zip(runs, moved_at, strict=True)),
            "inferences on the new version",
            runs,
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=RUN_LIMIT_S)
    for run in runs:
        assert run.error is None, run.error
        run.client.close()

    listing = httpx.get(f"{server.http_url}/v1/models", headers=headers).json()
    assert [(m["model_id"], m["state"]) for m in listing["models"]] == [(new_id, "current")]

    device_rows: set[tuple[str, int, str]] = set()
    for run in runs:
        stats = run.client.stats()
        assert stats.lost == 0 and run.client.queued == 0 and run.client.unreported == 0
        versions = [model_id for _, model_id, _, _ in run.results]
        switch = versions.index(new_id)
        # One switch, never back: every inference before it on the old version, after on the new.
        assert set(versions[:switch]) == {old_id} and set(versions[switch:]) == {new_id}
        for seq, model_id, mode, outputs in run.results:
            assert mode in (InferenceMode.SPLIT, InferenceMode.DEVICE_ONLY), (seq, mode)
            for tensor, want in expected[model_id].items():
                assert np.array_equal(outputs[tensor], want), (run.client.config.device_id, seq)
            device_rows.add((run.client.config.device_id, seq, model_id))
        modes = {mode for _, model_id, mode, _ in run.results if model_id == new_id}
        if fixed:
            assert InferenceMode.SPLIT in modes  # the new version's tails ran on the edge
    for device in app.core.stats():
        # Registered on the new version, whose planner has planned it since.
        assert device.model_id == new_id and device.planner_updates > 0, device

    server.stop()
    with sqlite3.connect(telemetry) as db:
        rows = db.execute("SELECT device_id, seq, model_id FROM inferences").fetchall()
    assert len(rows) == len(device_rows)
    assert set(rows) == device_rows
