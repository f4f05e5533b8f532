"""Device configuration: defaults, YAML loading, and errors that name the wrong key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sciot.device import DeviceConfig
from sciot.errors import ConfigError
from sciot.model import demo_model_path


def test_defaults_are_usable() -> None:
    config = DeviceConfig()
    assert config.timeout_s == 5.0
    assert config.transport == "http"
    assert config.backoff.initial_s < config.backoff.max_s
    assert config.offline_queue_size >= 10_000


def test_yaml_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "client.yaml"
    path.write_text(
        "device_id: cam-7\n"
        "edge_url: ws://127.0.0.1:9000/\n"
        "transport: ws\n"
        "timeout_s: 1.5\n"
        "backoff: {initial_s: 0.1, max_s: 2, factor: 3}\n"
        "crossing: {int8: true, compress: true}\n"
        "computation_delay: {enabled: true, type: uniform, mean: 0.002, std_dev: 0.001}\n"
        "local_inference: {enabled: true, probability: 0.25}\n"
        "offline_queue_size: 50\n"
        "seed: 7\n",
        encoding="utf-8",
    )
    config = DeviceConfig.from_yaml(path)
    assert config.device_id == "cam-7"
    assert config.edge_url == "ws://127.0.0.1:9000"
    assert config.backoff.factor == 3
    assert config.crossing.int8 and config.crossing.compress
    assert config.computation_delay.type == "uniform"
    assert config.local_inference.probability == 0.25
    assert config.offline_queue_size == 50


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    path = tmp_path / "client.yaml"
    path.write_text("", encoding="utf-8")
    assert DeviceConfig.from_yaml(path) == DeviceConfig()


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"timeot_s": 3}, "timeot_s"),
        ({"backoff": {"intial_s": 1}}, "backoff.intial_s"),
        ({"timeout_s": -1}, "timeout_s"),
        ({"transport": "carrier-pigeon"}, "transport"),
        ({"local_inference": {"probability": 1.5}}, "local_inference.probability"),
        ({"computation_delay": {"type": "weird"}}, "computation_delay.type"),
        ({"backoff": {"initial_s": 5, "max_s": 1}}, "backoff"),
        ({"edge_url": "127.0.0.1:8000"}, "edge_url"),
        ({"offline_queue_size": 0}, "offline_queue_size"),
        ({"device_id": ""}, "device_id"),
    ],
)
def test_bad_key_or_value_is_named(data: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=f"'{named}'"):
        DeviceConfig.from_mapping(data, source="client.yaml")


def test_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "client.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a mapping"):
        DeviceConfig.from_yaml(path)


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "client.yaml"
    path.write_text("device_id: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        DeviceConfig.from_yaml(path)
    with pytest.raises(ConfigError, match="cannot read"):
        DeviceConfig.from_yaml(tmp_path / "absent.yaml")


def test_delay_maps_onto_delay_spec() -> None:
    from sciot.delays import DelaySpec

    config = DeviceConfig.from_mapping(
        {"computation_delay": {"enabled": True, "type": "static", "mean": 0.003}}
    )
    spec = DelaySpec.from_mapping(config.computation_delay.as_mapping())
    assert spec.kind == "static"
    assert spec.mean_s == 0.003


def test_relative_model_path_is_read_beside_the_config(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    model = tmp_path / "models" / "mine.tflite"
    model.write_bytes(demo_model_path("fomo96").read_bytes())
    path = tmp_path / "client.yaml"
    path.write_text("model: models/mine.tflite\n", encoding="utf-8")
    assert DeviceConfig.from_yaml(path).model == str(model)
    path.write_text("model: fomo96\n", encoding="utf-8")
    assert DeviceConfig.from_yaml(path).model == "fomo96"


def test_a_non_model_file_is_refused_naming_its_path(tmp_path: Path) -> None:
    notes = tmp_path / "notes.tflite"
    notes.write_text("these are not weights")
    path = tmp_path / "client.yaml"
    path.write_text(f"model: {notes}\n")
    with pytest.raises(ConfigError) as exc:
        DeviceConfig.from_yaml(path)
    message = str(exc.value)
    assert str(path) in message and "key 'model'" in message and str(notes) in message
