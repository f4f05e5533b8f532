"""Turning what a user typed (a path or a shipped demo model's name) into a model file."""

from __future__ import annotations

import importlib
from pathlib import Path

from sciot.errors import ModelError


def demo_names() -> tuple[str, ...]:
    """Names of the shipped demo models, or () when the zoo is not installed."""
    try:
        zoo = importlib.import_module("sciot.model.zoo")
    except ImportError:
        return ()
    names: tuple[str, ...] = tuple(zoo.demo_model_names())
    return names


def resolve_model_path(source: str | Path) -> Path:
    """An existing path as is; otherwise a demo model name (``fomo96``) to its file."""
    path = Path(source)
    if path.exists():
        return path
    names = demo_names()
    if str(source) in names:
        zoo = importlib.import_module("sciot.model.zoo")
        demo: Path = zoo.demo_model_path(str(source))
        return demo
    hint = f" or a demo model name ({', '.join(names)})" if names else ""
    raise ModelError(f"model file not found: {source}; pass a .tflite path{hint}")
