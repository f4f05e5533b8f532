"""Reading YAML settings into pydantic models, with errors that name the key.

The edge, the device and the sensor pipeline each have a settings file; all three read it
the same way and report a problem the same way: one :class:`~sciot.errors.ConfigError` line
that names the file, the dotted key and what was wrong with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from sciot.errors import ConfigError

Settings = TypeVar("Settings", bound=BaseModel)


def read_yaml(path: str | Path, *, what: str) -> Any:
    """The parsed document of a YAML file; ``what`` names it in errors ("edge config")."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {file}: {exc.strerror or exc}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML ({exc})") from exc


_TFLITE_IDENTIFIER = b"TFL3"
_KERAS_SIGNATURES = (b"\x89HDF", b"PK\x03\x04")  # legacy .h5 and .keras (a zip)


def check_model_file(path: Path) -> Path:
    """``path`` if it is, or may become, a TFLite model; else a ``ValueError`` naming it.

    Settings validators call this so that a settings key pointing at the wrong file is refused
    with the file's path and the key, before anything starts. Only the 8-byte header is read;
    a missing file is left to the loader, which names it too.
    """
    if not path.exists():
        return path
    if path.is_dir():
        raise ValueError(f"{path} is a directory, expected a .tflite file")
    try:
        with path.open("rb") as handle:
            header = handle.read(8)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if header.startswith(_KERAS_SIGNATURES):
        raise ValueError(f"{path} is a Keras model; convert it first (sciot model convert)")
    if header[4:8] != _TFLITE_IDENTIFIER:
        raise ValueError(
            f"{path} is not a TFLite model (file identifier {header[4:8]!r}, expected "
            f"{_TFLITE_IDENTIFIER!r})"
        )
    return path


def validate_settings(
    model: type[Settings], data: Any, *, source: str, docs: str | None = None
) -> Settings:
    """Validate a parsed mapping (``None``, an empty file, means all defaults).

    ``docs`` is the page an unknown key's message points to.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {describe_validation(exc, docs=docs)}") from exc


def describe_validation(exc: ValidationError, *, docs: str | None = None) -> str:
    """One clause per problem, each naming the dotted key path."""
    hint = f" (check its spelling; see {docs})" if docs else " (check its spelling)"
    parts = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "<root>"
        if error["type"] == "extra_forbidden":
            parts.append(f"unknown key '{key}'{hint}")
        elif error["type"] == "value_error":
            # Our own validators' messages already say what was wrong and name the value.
            parts.append(f"key '{key}': {error['msg'].removeprefix('Value error, ')}")
        else:
            parts.append(f"key '{key}': {error['msg']} (got {error.get('input')!r})")
    return "; ".join(parts)
