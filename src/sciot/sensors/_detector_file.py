"""A saved detector on disk: a pickle of its whole state, and a JSON schema beside it.

The pickle holds ``{"schema": ..., "state": ...}``; the schema (format, version, detector
name, inputs, settings, sensors) is also written as ``<file>.json`` so a person or another
tool can see what a saved detector expects without unpickling it, and so a state saved for
other inputs is refused with a reason instead of misjudging every window.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

from sciot.errors import SensorError
from sciot.sensors._inputs import DETECTOR_INPUTS

FORMAT = "sciot-sensor-detector"
FORMAT_VERSION = 2


def schema_path(path: Path) -> Path:
    """The JSON file beside a saved detector that describes its inputs and settings."""
    return path.with_suffix(path.suffix + ".json")


def write_detector_file(path: str | Path, schema: dict[str, Any], state: dict[str, Any]) -> None:
    """Write ``state`` (pickled) and ``schema`` (pickled with it and as JSON beside it)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            pickle.dump({"schema": schema, "state": state}, fh)
        schema_path(path).write_text(json.dumps(schema, indent=2), encoding="utf-8")
    except OSError as exc:
        raise SensorError(f"cannot save detector state to {path}: {exc}") from exc


def read_detector_file(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``(schema, state)`` a saved detector holds, once both files agree on this format.

    A pickle: read only files you trust.
    """
    path = Path(path)
    try:
        schema = json.loads(schema_path(path).read_text(encoding="utf-8"))
        with path.open("rb") as fh:
            saved = pickle.load(fh)
    except (OSError, json.JSONDecodeError, pickle.UnpicklingError, EOFError) as exc:
        raise SensorError(f"cannot load detector state from {path}: {exc}") from exc
    if (
        not isinstance(saved, dict)
        or schema.get("format") != FORMAT
        or saved.get("schema") != schema
    ):
        raise SensorError(f"{path} is not a saved sciot detector (or its .json schema differs)")
    if schema["version"] != FORMAT_VERSION or schema["inputs"] != list(DETECTOR_INPUTS):
        raise SensorError(
            f"{path} was saved with detector inputs {schema['inputs']} (format "
            f"{schema['version']}); this version uses {list(DETECTOR_INPUTS)}: refit it"
        )
    return schema, saved["state"]
