"""Settings are validated once, with one clear message per mistake, and survive Flower's
run config (flat TOML scalars) unchanged."""

from __future__ import annotations

import pytest

from sciot.errors import ConfigError
from sciot.federated import FederatedSettings, settings_from_run_config


def test_run_config_round_trip_keeps_every_field() -> None:
    settings = FederatedSettings(
        model="fomo", clients=7, strategy="fedprox", alpha=0.3, fail_partitions="1,4"
    )
    config = settings.to_run_config()
    assert all(isinstance(v, bool | int | float | str) for v in config.values())
    assert settings_from_run_config(config) == settings


def test_unset_alpha_travels_as_zero_and_comes_back_unset() -> None:
    config = FederatedSettings(alpha=None).to_run_config()
    assert config["alpha"] == 0.0
    assert settings_from_run_config(config).alpha is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"clients": 0}, "clients must be >= 1"),
        ({"alpha": 0.0}, "alpha must be > 0"),
        ({"strategy": "fedsgd"}, "strategy must be one of fedavg, fedprox, fedadam"),
        ({"model": "resnet"}, "model must be one of sensor, fomo"),
        ({"min_clients": 5, "clients": 3}, "min_clients (5) must not exceed clients (3)"),
        ({"fraction_train": 0.0}, "fraction_train must be in (0, 1]"),
        ({"fail_partitions": "1,x"}, "fail_partitions must be comma-separated integers"),
        ({"learning_rate": 0.0}, "learning_rate must be > 0"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        FederatedSettings(**kwargs)  # type: ignore[arg-type]
    assert message in str(err.value)


def test_unknown_run_config_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"unknown federated run-config key.*roundz"):
        settings_from_run_config({"roundz": 3})


def test_out_dir_becomes_absolute_for_other_processes(tmp_path: object) -> None:
    settings = FederatedSettings().with_out_dir("relative/run")
    assert settings.out_path.is_absolute()
