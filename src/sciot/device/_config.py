"""The device client's configuration, read from YAML and validated once.

Everything a device needs to know before it starts lives here: who it is, where the edge is and
how to reach it, which model it runs, how patient it is (timeouts, backoff), how the crossing
tensor travels (int8, compression), an emulated slower device (``speed_factor``), SCIoT-style
computation delay simulation, forced local inference, the offline queue bound and how often
device-only inferences are reported. A wrong key or value is a :class:`ConfigError` naming
the key, so a typo in ``client.yaml`` never silently falls back to a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sciot._settings import check_model_file, read_yaml, validate_settings
from sciot.delays import DelayConfig
from sciot.wire import TensorEncoding

_STRICT = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class BackoffConfig(BaseModel):
    """Exponential reconnect backoff: the wait after the n-th consecutive failure is
    ``min(max_s, initial_s * factor ** (n - 1))``, give or take ``jitter`` of it."""

    model_config = _STRICT

    initial_s: float = Field(default=0.5, gt=0, le=3600)
    max_s: float = Field(default=30.0, gt=0, le=86400)
    factor: float = Field(default=2.0, ge=1.0, le=100)
    jitter: float = Field(default=0.1, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _max_not_below_initial(self) -> BackoffConfig:
        if self.max_s < self.initial_s:
            raise ValueError(f"max_s ({self.max_s}) must be >= initial_s ({self.initial_s})")
        return self


class CrossingConfig(BaseModel):
    """How the tensor crossing the cut is encoded on the wire."""

    model_config = _STRICT

    int8: bool = False
    compress: bool = False

    def encoding(self, cut: int, num_ops: int) -> TensorEncoding:
        """How the crossing tensors of ``cut`` travel. The raw input at cut 0 is never
        quantised (that would change the model's answer); device-only sends none."""
        if cut == num_ops:
            return TensorEncoding.RAW
        if self.int8 and cut > 0:
            return TensorEncoding.INT8_ZLIB if self.compress else TensorEncoding.INT8
        return TensorEncoding.RAW_ZLIB if self.compress else TensorEncoding.RAW


class LocalInferenceConfig(BaseModel):
    """SCIoT's forced local inference: with ``probability`` an inference runs the whole model
    on the device with per-op profiling, which keeps the planner's device estimates fresh."""

    model_config = _STRICT

    enabled: bool = False
    probability: float = Field(default=0.1, ge=0.0, le=1.0)


EDGE_URL_SCHEMES = (
    "http://",
    "https://",
    "ws://",
    "wss://",
    "tcp://",
    "udp://",
    "mqtt://",
    "mqtts://",
)
"""The schemes an ``edge_url`` may use, one per transport (the ``s`` ones over TLS)."""


class DeviceConfig(BaseModel):
    """The device client's settings; see ``docs/device.md`` for every key."""

    model_config = _STRICT

    device_id: str = Field(default="device-01", min_length=1, max_length=64)
    edge_url: str = Field(default="http://127.0.0.1:8000", min_length=1)
    transport: Literal["http", "ws", "tcp", "udp", "mqtt"] = "http"
    model: str = Field(default="fomo96", min_length=1)
    timeout_s: float = Field(default=5.0, gt=0.0, le=600.0)
    backoff: BackoffConfig = BackoffConfig()
    initial_cut: int | None = Field(default=None, ge=0)
    profile: str = Field(default="default", min_length=1, max_length=64)
    speed_factor: float = Field(default=1.0, ge=1.0, le=10_000.0)
    crossing: CrossingConfig = CrossingConfig()
    computation_delay: DelayConfig = DelayConfig()
    local_inference: LocalInferenceConfig = LocalInferenceConfig()
    profile_fraction: float = Field(default=0.05, ge=0.0, le=1.0)
    offline_queue_size: int = Field(default=100_000, ge=1, le=10_000_000)
    offline_queue_path: Path | None = None
    """A SQLite file keeping the offline queue across restarts (default: memory only)."""
    upload_batch: int = Field(default=256, ge=1, le=65_535)
    report_every: int = Field(default=64, ge=1, le=65_535)
    report_interval_s: float = Field(default=0.5, gt=0.0, le=3600.0)
    report_results: bool = False
    seed: int = Field(default=0, ge=0)
    token: str | None = Field(default=None, repr=False)
    """The device's token (64 hex digits from ``sciot token create``); the edge with
    ``auth.mode: tokens`` refuses frames without it."""
    ca_file: Path | None = None
    """PEM CA bundle an ``https://`` / ``wss://`` edge's certificate is verified against
    (default: the system's trust store)."""

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if len(value) != 64 or any(c not in "0123456789abcdefABCDEF" for c in value):
            raise ValueError("must be the 64 hex digits `sciot token create` printed")
        return value.lower()

    @field_validator("ca_file")
    @classmethod
    def _ca_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.expanduser().is_file():
            raise ValueError(f"CA file {value} does not exist")
        return None if value is None else value.expanduser()

    @property
    def token_bytes(self) -> bytes | None:
        return None if self.token is None else bytes.fromhex(self.token)

    @field_validator("device_id", "profile")
    @classmethod
    def _printable_name(cls, value: str) -> str:
        if not value.isprintable() or value.strip() != value:
            raise ValueError("must be printable with no leading or trailing spaces")
        return value

    @field_validator("model")
    @classmethod
    def _model_file(cls, value: str) -> str:
        # A path (as the client resolves it: a .tflite name or an existing file) must hold a
        # TFLite model; anything else is a demo model name, checked when the client starts.
        path = Path(value).expanduser()
        if path.suffix == ".tflite" or path.is_file():
            check_model_file(path)
        return value

    @field_validator("edge_url")
    @classmethod
    def _url_has_scheme(cls, value: str) -> str:
        if not value.startswith(EDGE_URL_SCHEMES):
            raise ValueError(
                "must start with http://, https://, ws://, wss://, tcp://, udp://, mqtt:// "
                "or mqtts://"
            )
        return value.rstrip("/")

    @classmethod
    def from_mapping(cls, data: Any, *, source: str = "device config") -> DeviceConfig:
        """Validate a parsed mapping; errors name the offending key and its source."""
        return validate_settings(cls, data, source=source, docs="docs/device.md")

    @classmethod
    def from_yaml(cls, path: str | Path) -> DeviceConfig:
        """Read and validate a YAML file (an empty file means all defaults)."""
        source = Path(path)
        data = read_yaml(source, what="device config")
        if isinstance(data, dict) and isinstance(data.get("model"), str):
            # A relative model path is read relative to the config file, like an include.
            beside = source.parent / data["model"]
            if not Path(data["model"]).is_absolute() and beside.is_file():
                data = {**data, "model": str(beside)}
        return cls.from_mapping(data, source=str(source))


__all__ = [
    "BackoffConfig",
    "CrossingConfig",
    "DeviceConfig",
    "LocalInferenceConfig",
]
