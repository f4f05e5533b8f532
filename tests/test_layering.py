"""The layering of SPEC.md holds: a package imports only packages of lower layers.

`device` and `edge` run on different machines and never import each other; what they share
lives in `wire`, `planner` and below. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "sciot"

# Lower number = lower layer. A package may import packages with a strictly lower number.
LAYER = {
    "errors": -1,
    "delays": 0,
    "_settings": 0,
    "model": 1,
    "runtime": 2,
    "wire": 2,
    "planner": 2,
    "transport": 2,
    "edge": 3,
    "device": 3,
    "sensors": 3,
    "sim": 4,
    "analysis": 5,
    "dashboard": 5,
    "cli": 6,
}


def _imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "sciot" and len(parts) > 1:
                found.add(parts[1])
    return found


def _package_of(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


# sciot/__init__.py and sciot/__main__.py are the package's front door, not a layer.
LAYERED = sorted(p for p in SRC.rglob("*.py") if _package_of(p) in LAYER)


@pytest.mark.parametrize("path", LAYERED, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_respect_layers(path: Path) -> None:
    package = _package_of(path)
    for imported in _imported_packages(path) - {package}:
        assert imported in LAYER, f"{path.name} imports unknown package sciot.{imported}"
        assert LAYER[imported] < LAYER[package], (
            f"sciot.{package} ({path.relative_to(SRC)}) imports sciot.{imported}, "
            "which is not a lower layer"
        )
