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
    "federated": 5,
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


@pytest.mark.parametrize("package", ["device", "edge"])
def test_device_and_edge_import_nothing_from_sim(package: str) -> None:
    """Emulation (paced heads, emulated devices) lives in ``sim``; what runs on a real device
    or a real edge box never needs it."""
    for path in sorted((SRC / package).rglob("*.py")):
        assert "sim" not in _imported_packages(path), (
            f"{path.relative_to(SRC)} imports sciot.sim; emulation belongs in sciot.sim"
        )


def _imported_modules(path: Path) -> set[str]:
    """Every ``sciot.x.y`` module a file imports (inside functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("sciot.")}


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


@pytest.mark.parametrize("package", ["device", "edge", "sim"])
def test_no_import_circle_inside_a_package(package: str) -> None:
    """Modules of a package import each other in one direction only (a package's
    ``__init__`` re-exporting its modules is not a circle)."""
    modules = {_module_name(p): p for p in (SRC / package).rglob("*.py") if p.name != "__init__.py"}
    graph = {name: _imported_modules(path) & set(modules) for name, path in modules.items()}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph[start]:
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    circles = sorted(name for name in graph if reaches(name, name, {name}))
    assert not circles, f"import circle through {', '.join(circles)}"
