"""The shipped example configurations stay valid and complete as the settings evolve."""

from __future__ import annotations

from pathlib import Path

import yaml

from sciot.device import DeviceConfig
from sciot.edge import EdgeConfig, load_edge_config
from sciot.sensors import load_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_edge_example_loads_and_lists_every_setting() -> None:
    path = EXAMPLES / "edge.yaml"
    assert load_edge_config(path) == EdgeConfig()
    assert yaml.safe_load(path.read_text()) == EdgeConfig().model_dump(mode="json")


def test_device_example_loads_and_lists_every_setting() -> None:
    path = EXAMPLES / "device.yaml"
    assert DeviceConfig.from_yaml(path) == DeviceConfig()
    assert yaml.safe_load(path.read_text()) == DeviceConfig().model_dump(mode="json")


def test_sensors_example_loads() -> None:
    load_config(EXAMPLES / "sensors.yaml")
