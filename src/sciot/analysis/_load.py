"""Read a run directory written by :func:`sciot.sim.run_simulation` back into typed rows.

Every number the analysis shows is recomputed from these raw per-inference rows, never copied
from the run's own summary, so a report can be checked against the data it came from.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from sciot.errors import ConfigError
from sciot.sim import ROW_FIELDS, InferenceRow

_TYPES = {f.name: f.type for f in fields(InferenceRow)}
# Columns a row may lack: those added to the format later (``seed``), which have a default, so
# runs written before them still load.
_OPTIONAL = frozenset(
    f.name
    for f in fields(InferenceRow)
    if f.default is not MISSING or f.default_factory is not MISSING
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunData:
    run_dir: Path
    rows: tuple[InferenceRow, ...]
    meta: dict[str, Any]
    op_times: tuple[dict[str, float], ...]

    @property
    def scenarios(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.scenario for r in self.rows))

    @property
    def policies(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.policy for r in self.rows))

    @property
    def seeds(self) -> tuple[int, ...]:
        """The seeds the run repeated every scenario and policy with (one for older runs)."""
        return tuple(sorted({int(getattr(r, "seed", 0)) for r in self.rows}))

    @property
    def live(self) -> bool:
        """Whether the run was live (wall time) rather than on the virtual clock."""
        return str(self.meta.get("config", {}).get("emulation", "virtual")) != "virtual"

    def span_s(self, scenario: str) -> float:
        """The simulated span a scenario's events are placed in (its fractions scale to it)."""
        spans = self.meta.get("spans_s") or {}
        if scenario in spans:
            return float(spans[scenario])
        return float(self.meta.get("config", {}).get("duration_s", 0.0))


def load_run(run_dir: str | Path) -> RunData:
    """Load every ``<scenario>.csv``, ``run.json`` and ``op_times.csv`` of a run."""
    root = Path(run_dir)
    meta_path = root / "run.json"
    if not meta_path.is_file():
        raise ConfigError(f"{root} is not a simulation run (no run.json); run `sciot simulate`")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {meta_path}: {exc}") from exc
    rows: list[InferenceRow] = []
    for name in meta.get("config", {}).get("scenarios", []):
        rows += _read_rows(root / f"{name}.csv")
    if not rows:
        raise ConfigError(f"{root} holds no inference rows")
    return RunData(run_dir=root, rows=tuple(rows), meta=meta, op_times=_read_op_times(root))


def _read_rows(path: Path) -> list[InferenceRow]:
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            _check_columns(path, tuple(reader.fieldnames or ()))
            return [_parse(record, path, i) for i, record in enumerate(reader)]
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc


def _check_columns(path: Path, columns: tuple[str, ...]) -> None:
    missing = [name for name in ROW_FIELDS if name not in columns and name not in _OPTIONAL]
    unknown = [name for name in columns if name not in _TYPES]
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"lacks {', '.join(missing)}")
        if unknown:
            problems.append(f"has unknown {', '.join(unknown)}")
        raise ConfigError(
            f"{path} is not a table of inference rows: it {' and '.join(problems)} "
            f"(expected {', '.join(ROW_FIELDS)}); was it written by `sciot simulate`?"
        )


def _parse(record: dict[str, str], path: Path, line: int) -> InferenceRow:
    values: dict[str, Any] = {}
    try:
        for name, text in record.items():
            kind = _TYPES[name]
            if kind == "bool":
                values[name] = text == "True"
            elif kind == "int":
                values[name] = int(text)
            elif kind == "float":
                values[name] = float(text) if text else math.nan
            else:
                values[name] = text
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"{path}, row {line + 1}: bad value ({exc})") from exc
    return InferenceRow(**values)


def _read_op_times(root: Path) -> tuple[dict[str, float], ...]:
    path = root / "op_times.csv"
    if not path.is_file():
        return ()
    with path.open(newline="") as handle:
        return tuple({k: float(v) for k, v in rec.items()} for rec in csv.DictReader(handle))


__all__ = ["RunData", "load_run"]
