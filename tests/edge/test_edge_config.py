"""Edge configuration: YAML validated once; a wrong key or value is a ConfigError naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sciot.edge import EdgeConfig, load_edge_config
from sciot.errors import ConfigError


def test_defaults_serve_the_demo_model() -> None:
    config = load_edge_config(None)
    assert [m.label for m in config.models] == ["fomo96"]
    assert config.telemetry.enabled and config.planner.policy == "adaptive"


def test_yaml_file_with_sciot_delay_block(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(
        "port: 0\n"
        "max_frame_bytes: 65536\n"
        "models:\n  - demo: fomo96_int8\n"
        "planner: {policy: 'fixed:3', seed: 7}\n"
        "telemetry: {path: " + str(tmp_path / "t.sqlite") + "}\n"
        "delay_simulation:\n"
        "  network: {enabled: true, type: gaussian, mean: 0.02, std_dev: 0.005}\n"
    )
    config = load_edge_config(path)
    assert config.max_frame_bytes == 65536
    assert config.models[0].demo == "fomo96_int8"
    assert config.delay_simulation.network.enabled
    assert config.planner.seed == 7


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("max_frame_byte: 10\n", "unknown key 'max_frame_byte'"),
        ("telemetry: {pth: x}\n", "unknown key 'telemetry.pth'"),
        ("tail_workers: 0\n", "key 'tail_workers'"),
        ("models: [{demo: a, path: b}]\n", "exactly one"),
        ("models: []\n", "at least one model"),
        ("delay_simulation: {network: {type: lognormal}}\n", "delay_simulation.network.type"),
        ("- just a list\n", "expected a mapping"),
        ("port: [\n", "not valid YAML"),
    ],
)
def test_bad_config_names_the_problem(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_edge_config(path)
    assert needle in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read edge config"):
        load_edge_config(tmp_path / "absent.yaml")


def test_overrides_are_validated() -> None:
    config = EdgeConfig().with_overrides(port=0, host=None)
    assert config.port == 0 and config.host == "127.0.0.1"
    with pytest.raises(ConfigError, match="port"):
        EdgeConfig().with_overrides(port=70000)


def test_fixed_policy_beyond_the_model_is_refused_at_startup(tmp_path: Path) -> None:
    from sciot.edge import build_edge

    config = EdgeConfig.from_mapping(
        {"planner": {"policy": "fixed:999"}, "telemetry": {"path": str(tmp_path / "t.sqlite")}}
    )
    with pytest.raises(ConfigError, match=r"planner\.policy.*cut 999"):
        build_edge(config)
    assert not (tmp_path / "t.sqlite").exists()


def test_a_non_model_file_is_refused_naming_its_path_and_key(tmp_path: Path) -> None:
    notes = tmp_path / "notes.tflite"
    notes.write_text("these are not weights")
    path = tmp_path / "settings.yaml"
    path.write_text(f"models:\n  - path: {notes}\n")
    with pytest.raises(ConfigError) as exc:
        load_edge_config(path)
    message = str(exc.value)
    assert str(path) in message and "models.0.path" in message and str(notes) in message
    assert "not a TFLite model" in message


@pytest.mark.parametrize("policy", ["nosuch", "fixed:x", "fixed:K"])
def test_an_unknown_policy_names_the_file_and_the_key(tmp_path: Path, policy: str) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(f"planner:\n  policy: '{policy}'\n")
    with pytest.raises(ConfigError, match=r"settings\.yaml: key 'planner\.policy': unknown policy"):
        load_edge_config(path)


def test_an_override_names_its_flag() -> None:
    with pytest.raises(ConfigError, match=r"^--policy: key 'planner\.policy'"):
        EdgeConfig().with_overrides(source="--policy", planner={"policy": "nosuch"})
