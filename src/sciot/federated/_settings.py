"""One validated description of a federated run, shared by the CLI, both engines and the apps.

The simulation engine hands a :class:`FederatedSettings` to the ServerApp directly; the
deployment engine sends the same fields as Flower's run config (flat TOML scalars, see
:meth:`FederatedSettings.to_run_config`), and the ServerApp rebuilds the settings from it with
:func:`settings_from_run_config`. Clients receive what they need in each round's
``ConfigRecord``, so a SuperNode needs no settings of its own besides its partition id.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args

from sciot.errors import ConfigError

ModelKind = Literal["sensor", "fomo"]
StrategyName = Literal["fedavg", "fedprox", "fedadam"]
MODEL_KINDS: tuple[str, ...] = get_args(ModelKind)
STRATEGY_NAMES: tuple[str, ...] = get_args(StrategyName)

# Run-config value meaning "no Dirichlet label skew" (TOML has no null).
NO_ALPHA = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class FederatedSettings:
    """Everything that defines one federated training run.

    ``alpha`` is the Dirichlet concentration of each client's label mix (small: each client
    sees mostly one class; ``None``: every client keeps its site's own mix).
    ``fail_partitions`` / ``fail_round`` make those clients raise in that round, which is how
    the tests show that a client dropping out mid-round does not stop the run.
    """

    model: ModelKind = "sensor"
    clients: int = 10
    rounds: int = 5
    strategy: StrategyName = "fedavg"
    alpha: float | None = None
    seed: int = 0
    samples_per_client: int = 160
    test_samples_per_client: int = 40
    local_epochs: int = 2
    batch_size: int = 32
    learning_rate: float = 0.006
    proximal_mu: float = 0.01
    server_learning_rate: float = 0.03
    fraction_train: float = 1.0
    min_clients: int = 2
    round_timeout_s: float = 300.0
    calibration_samples: int = 200
    export: bool = True
    out_dir: str = "federated-run"
    fail_partitions: str = ""
    fail_round: int = 0

    def __post_init__(self) -> None:
        if self.model not in MODEL_KINDS:
            raise ConfigError(f"model must be one of {', '.join(MODEL_KINDS)}, got {self.model!r}")
        if self.strategy not in STRATEGY_NAMES:
            raise ConfigError(
                f"strategy must be one of {', '.join(STRATEGY_NAMES)}, got {self.strategy!r}"
            )
        _at_least("clients", self.clients, 1)
        _at_least("rounds", self.rounds, 1)
        _at_least("samples_per_client", self.samples_per_client, 8)
        _at_least("test_samples_per_client", self.test_samples_per_client, 1)
        _at_least("local_epochs", self.local_epochs, 1)
        _at_least("batch_size", self.batch_size, 1)
        _at_least("calibration_samples", self.calibration_samples, 1)
        _at_least("min_clients", self.min_clients, 1)
        if self.min_clients > self.clients:
            raise ConfigError(
                f"min_clients ({self.min_clients}) must not exceed clients ({self.clients})"
            )
        if self.alpha is not None and not self.alpha > 0.0:
            raise ConfigError(f"alpha must be > 0 (or unset for no label skew), got {self.alpha}")
        for name in ("learning_rate", "server_learning_rate", "round_timeout_s"):
            if not getattr(self, name) > 0.0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.proximal_mu < 0.0:
            raise ConfigError(f"proximal_mu must be >= 0, got {self.proximal_mu}")
        if not 0.0 < self.fraction_train <= 1.0:
            raise ConfigError(f"fraction_train must be in (0, 1], got {self.fraction_train}")
        self.failing_partitions()  # validates the list

    def failing_partitions(self) -> frozenset[int]:
        """Partition ids told to fail in ``fail_round`` (empty for a normal run)."""
        try:
            return frozenset(int(p) for p in self.fail_partitions.split(",") if p.strip())
        except ValueError as exc:
            raise ConfigError(
                f"fail_partitions must be comma-separated integers, got {self.fail_partitions!r}"
            ) from exc

    @property
    def out_path(self) -> Path:
        return Path(self.out_dir)

    def with_out_dir(self, out_dir: str | Path) -> FederatedSettings:
        """The same run writing to ``out_dir`` (made absolute so other processes agree)."""
        return replace(self, out_dir=str(Path(out_dir).resolve()))

    def to_run_config(self) -> dict[str, bool | int | float | str]:
        """The settings as Flower run-config scalars (``alpha`` None becomes 0.0)."""
        out: dict[str, bool | int | float | str] = {}
        for key, value in asdict(self).items():
            out[key] = NO_ALPHA if key == "alpha" and value is None else value
        return out


def settings_from_run_config(config: dict[str, Any]) -> FederatedSettings:
    """Rebuild settings from a run config; unknown keys are an error, missing ones default."""
    known = {f.name: f for f in fields(FederatedSettings)}
    unknown = sorted(set(config) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown federated run-config key(s): {', '.join(unknown)}; "
            f"valid keys: {', '.join(known)}"
        )
    values: dict[str, Any] = {}
    defaults = FederatedSettings()
    for key, raw in config.items():
        default = getattr(defaults, key)
        if key == "alpha":
            values[key] = None if float(raw) == NO_ALPHA else float(raw)
        elif isinstance(default, bool):
            values[key] = bool(raw)
        elif isinstance(default, int):
            values[key] = int(raw)
        elif isinstance(default, float):
            values[key] = float(raw)
        else:
            values[key] = str(raw)
    return FederatedSettings(**values)


def _at_least(name: str, value: int, low: int) -> None:
    if value < low:
        raise ConfigError(f"{name} must be >= {low}, got {value}")
