"""Config validation: good files load, bad ones name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from sciot.errors import ConfigError
from sciot.sensors import default_config, load_config, parse_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sensors.yaml"


def test_example_config_loads() -> None:
    config = load_config(EXAMPLE)
    assert {s.type for s in config.sensors} >= {
        "temperature",
        "humidity",
        "pressure",
        "power",
        "vibration",
    }
    assert config.sensors[0].range == (-20.0, 60.0)


def test_seed_style_sampling_rate_is_accepted() -> None:
    config = parse_config({"sensors": [{"id": "t1", "type": "temperature", "sampling_rate": 0.5}]})
    assert config.sensors[0].rate_hz == 0.5


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({"sensors": []}, "sensors"),
        ({"sensors": [{"id": "a", "type": "temperature", "rate_hz": -1}]}, "rate_hz"),
        ({"sensors": [{"id": "a", "type": "temperature", "range": [5, 1]}]}, "range"),
        ({"sensors": [{"id": "a", "type": "temperature"}] * 2}, "appears twice"),
        ({"sensors": [{"id": "a b", "type": "temperature"}]}, "sensors.0.id"),
        ({"sensors": [{"id": "a", "type": "t"}], "bogus": 1}, "bogus"),
        ({"sensors": [{"id": "a", "type": "t"}], "processing": {"window": 8, "step": 9}}, "step"),
        ({"sensors": [{"id": "a", "type": "t"}], "anomalies": {"kinds": ["meteor"]}}, "kinds"),
    ],
)
def test_bad_config_names_the_problem(doc: object, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_config(doc)


def test_unreadable_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sensors: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_default_config_covers_every_type() -> None:
    assert len({s.type for s in default_config().sensors}) == 5
