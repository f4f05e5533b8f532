"""Running a device from its configuration: model resolution, transport choice, the loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sciot.device import (
    CutArtefacts,
    DeviceConfig,
    edge_url_for,
    open_transport,
    resolve_model_source,
    run_device,
    sample_input,
)
from sciot.errors import ConfigError
from sciot.model import ModelGraph
from sciot.model.zoo import demo_model_path
from sciot.transport import HttpClientTransport, WebSocketClientTransport


def test_model_is_a_demo_name_or_a_file(tmp_path: Path) -> None:
    assert resolve_model_source("fomo96") == demo_model_path("fomo96")
    copy = tmp_path / "mine.tflite"
    copy.write_bytes(demo_model_path("fomo96").read_bytes())
    assert resolve_model_source(str(copy)) == copy
    with pytest.raises(ConfigError, match="not found"):
        resolve_model_source(str(tmp_path / "absent.tflite"))
    with pytest.raises(ConfigError, match=r"key 'model'.*fomo96"):
        resolve_model_source("fomo97")


def test_edge_url_follows_the_transport() -> None:
    http = DeviceConfig(edge_url="http://127.0.0.1:8000")
    assert edge_url_for(http) == "http://127.0.0.1:8000"
    ws = DeviceConfig(edge_url="http://127.0.0.1:8000", transport="ws")
    assert edge_url_for(ws) == "ws://127.0.0.1:8000"
    with pytest.raises(ConfigError, match="edge_url"):
        edge_url_for(DeviceConfig(edge_url="ws://127.0.0.1:8000"))
    assert isinstance(open_transport(http), HttpClientTransport)
    assert isinstance(open_transport(ws), WebSocketClientTransport)


def test_sample_input_fits_the_model(fomo_graph: ModelGraph, tmp_path: Path) -> None:
    artefacts = CutArtefacts(fomo_graph)
    demo = sample_input(artefacts, "fomo96", 3)
    assert demo.shape == (1, 96, 96, 3)
    assert demo.dtype == np.float32
    noise = sample_input(artefacts, str(tmp_path / "custom.tflite"), 3)
    assert noise.shape == (1, 96, 96, 3)
    assert np.array_equal(noise, sample_input(artefacts, str(tmp_path / "custom.tflite"), 3))


def test_run_device_is_bounded_and_uploads_at_the_end(make_peer: Any) -> None:
    peer = make_peer(start_cut=4)
    stats = run_device(DeviceConfig(device_id="loop"), count=7, transport=peer)
    assert (stats.inferences, stats.split, stats.lost) == (7, 7, 0)
    assert stats.cuts == {4: 7}


def test_run_device_needs_a_bound(make_peer: Any) -> None:
    with pytest.raises(ConfigError, match="must end"):
        run_device(DeviceConfig(), transport=make_peer())
    with pytest.raises(ConfigError, match="count"):
        run_device(DeviceConfig(), count=-1, transport=make_peer())


def test_run_device_stops_on_request(make_peer: Any) -> None:
    calls: list[int] = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 3

    stats = run_device(DeviceConfig(), transport=make_peer(), should_stop=stop)
    assert stats.inferences == 3
