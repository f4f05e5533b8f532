"""The edge server's configuration: YAML in, one validated, frozen object out.

Every key is checked once, here, with pydantic (``extra="forbid"``), so a typo such as
``max_frame_byte`` is a :class:`~sciot.errors.ConfigError` naming the key instead of a
silently ignored setting. The delay simulation block uses the SCIoT settings' vocabulary
(``enabled``, ``type``, ``mean``, ``std_dev``) so their ``settings.yaml`` values carry over.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sciot._settings import check_model_file, read_yaml, validate_settings
from sciot.delays import DelayConfig
from sciot.planner import POLICY_NAMES
from sciot.wire import DEFAULT_MAX_FRAME_BYTES

_STRICT = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class ModelConfig(BaseModel):
    """One model the edge serves: a shipped demo model by name, or a ``.tflite`` path."""

    model_config = _STRICT

    demo: str | None = None
    path: Path | None = None

    @field_validator("path")
    @classmethod
    def _a_model_file(cls, value: Path | None) -> Path | None:
        return None if value is None else check_model_file(value)

    @model_validator(mode="after")
    def _exactly_one_source(self) -> ModelConfig:
        if (self.demo is None) == (self.path is None):
            raise ValueError("give exactly one of 'demo' (a shipped model name) or 'path'")
        return self

    @property
    def label(self) -> str:
        return self.demo if self.demo is not None else str(self.path)


class PlannerConfig(BaseModel):
    """Which split policy decides the cuts, its seed (decisions are reproducible), and how much
    of the edge's time planning may take (it runs beside, not inside, the request path)."""

    model_config = _STRICT

    policy: str = Field(default="adaptive", min_length=1)
    seed: int = Field(default=0, ge=0)
    busy_fraction: float = Field(default=0.2, gt=0.0, le=1.0)
    min_round_s: float = Field(default=0.05, ge=0.0, le=10.0)

    @field_validator("policy")
    @classmethod
    def _known_policy(cls, value: str) -> str:
        # Checked here, so a typo is refused with the file and key before the server starts.
        # Whether fixed:K names a cut of the model is checked once the model is loaded.
        cut = value.removeprefix("fixed:")
        if value in POLICY_NAMES and value != "fixed:K":
            return value
        if value.startswith("fixed:") and cut.isdigit():
            return value
        raise ValueError(
            f"unknown policy {value!r}; choose one of {', '.join(POLICY_NAMES)} (K: a cut index)"
        )


class TelemetryConfig(BaseModel):
    """SQLite telemetry: one row per inference, written in batches by a background thread."""

    model_config = _STRICT

    enabled: bool = True
    path: Path = Path("sciot-telemetry.sqlite")
    flush_interval_s: float = Field(default=0.5, gt=0.0, le=60.0)
    max_pending_rows: int = Field(default=200_000, ge=1)


class LimitsConfig(BaseModel):
    """What one device may ask of the edge: report size and rate, how many devices the
    registry holds, and each device's share of the telemetry writer (see docs/edge.md)."""

    model_config = _STRICT

    max_report_records: int = Field(default=16_384, ge=1, le=65_535)
    max_records_per_s: float = Field(default=5_000.0, gt=0.0)
    record_burst: int = Field(default=131_072, ge=1)
    plausible_inferences_per_s: float = Field(default=100_000.0, gt=0.0)
    max_devices: int = Field(default=2_048, ge=1)
    max_devices_per_source: int = Field(default=256, ge=0)
    device_idle_s: float = Field(default=3_600.0, gt=0.0)
    telemetry_device_share: float = Field(default=0.25, gt=0.0, le=1.0)
    max_frames_per_s: float = Field(default=5_000.0, gt=0.0)
    frame_burst: int = Field(default=10_000, ge=1)
    max_connections: int = Field(default=1_024, ge=1)
    read_timeout_s: float = Field(default=10.0, gt=0.0, le=3_600.0)
    max_unfinished_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    shutdown_timeout_s: float = Field(default=5.0, gt=0.0, le=600.0)


class DelaySimulationConfig(BaseModel):
    """Computation delay is added to every tail run; network delay to every reply."""

    model_config = _STRICT

    computation: DelayConfig = DelayConfig()
    network: DelayConfig = DelayConfig()
    seed: int = Field(default=0, ge=0)


LOOPBACK_HOSTS = frozenset(("127.0.0.1", "localhost", "::1"))


class AuthConfig(BaseModel):
    """Device tokens, the operator token, and the overrides that weaken them on purpose."""

    model_config = _STRICT

    mode: Literal["off", "tokens"] = "off"
    """``tokens``: every frame must come from a provisioned device (``sciot token create``)."""
    token_file: Path = Path("sciot-tokens.json")
    operator_token: str | None = Field(default=None, min_length=16, max_length=256)
    """Guards ``/metrics``, ``/api/stats`` and ``/dashboard`` (bearer header, ``?token=``)."""
    allow_public_without_auth: bool = False
    """Serve beyond loopback with ``mode: off`` (anyone reachable can then speak for any
    device)."""
    allow_esp32_without_auth: bool = False
    """Run the ESP32 raw listener, which cannot carry a token, beside ``mode: tokens``."""

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml_off(cls, value: object) -> object:
        # YAML 1.1 reads a bare `off` as false: take it as the word it was meant to be.
        return "off" if value is False else value


class EdgeConfig(BaseModel):
    """Everything ``sciot serve`` needs; see ``docs/edge.md`` for each key."""

    model_config = _STRICT

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    models: tuple[ModelConfig, ...] = (ModelConfig(demo="fomo96"),)
    max_frame_bytes: int = Field(default=DEFAULT_MAX_FRAME_BYTES, ge=1024, le=1 << 30)
    tail_workers: int = Field(default=2, ge=1, le=64)
    # Tails predicted (by the startup profile) to take at most this long run on the event loop:
    # the hand-off to a worker thread costs more than they do. 0 sends every tail to a worker.
    inline_tail_max_s: float = Field(default=0.0002, ge=0.0, le=0.1)
    planner: PlannerConfig = PlannerConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    limits: LimitsConfig = LimitsConfig()
    delay_simulation: DelaySimulationConfig = DelaySimulationConfig()
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "warning"
    auth: AuthConfig = AuthConfig()
    tls_certfile: Path | None = None
    """Serve HTTP/WebSocket over TLS with this PEM certificate (chain); needs ``tls_keyfile``."""
    tls_keyfile: Path | None = None

    @model_validator(mode="after")
    def _some_model(self) -> EdgeConfig:
        if not self.models:
            raise ValueError("'models' must list at least one model")
        return self

    @model_validator(mode="after")
    def _no_public_without_auth(self) -> EdgeConfig:
        if (
            self.host not in LOOPBACK_HOSTS
            and self.auth.mode == "off"
            and not self.auth.allow_public_without_auth
        ):
            raise ValueError(
                f"host {self.host!r} is reachable beyond this machine while auth.mode is 'off', "
                "so anyone could speak for any device: provision tokens and set auth.mode: "
                "tokens, bind 127.0.0.1, or set auth.allow_public_without_auth: true"
            )
        return self

    @model_validator(mode="after")
    def _tls_pair(self) -> EdgeConfig:
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("give both tls_certfile and tls_keyfile, or neither")
        for path in (self.tls_certfile, self.tls_keyfile):
            if path is not None and not path.is_file():
                raise ValueError(f"TLS file {path} does not exist")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_certfile is not None

    @classmethod
    def from_mapping(cls, data: Any, *, source: str = "edge config") -> EdgeConfig:
        """Validate a parsed mapping; errors name the offending key and its source."""
        return validate_settings(cls, data, source=source, docs="docs/edge.md")

    def with_overrides(
        self, *, source: str = "edge config overrides", **changes: Any
    ) -> EdgeConfig:
        """A copy with some top-level keys replaced, validated like the file was.

        ``source`` names where the changes came from (a command-line flag) in errors.
        """
        merged = self.model_dump()
        merged.update({k: v for k, v in changes.items() if v is not None})
        return EdgeConfig.from_mapping(merged, source=source)


def load_edge_config(path: str | Path | None) -> EdgeConfig:
    """Read ``settings.yaml`` (or the defaults when ``path`` is ``None``)."""
    if path is None:
        return EdgeConfig()
    return EdgeConfig.from_mapping(read_yaml(path, what="edge config"), source=str(path))
