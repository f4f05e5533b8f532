"""The public API is a contract: each package's ``__all__`` matches the committed list.

An addition or removal shows up in review as a change to ``tests/exported_members.txt``.
After a deliberate change, regenerate the list with
``SCIOT_UPDATE_EXPORTS=1 python -m pytest tests/test_exported_members.py``.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

PACKAGES = (
    "sciot",
    "sciot.errors",
    "sciot.delays",
    "sciot.model",
    "sciot.runtime",
    "sciot.wire",
    "sciot.planner",
    "sciot.transport",
    "sciot.edge",
    "sciot.device",
    "sciot.sensors",
    "sciot.sim",
    "sciot.analysis",
    "sciot.dashboard",
    "sciot.federated",
)
LISTING = Path(__file__).with_name("exported_members.txt")


def _current() -> str:
    lines: list[str] = []
    for name in PACKAGES:
        module = importlib.import_module(name)
        exported = getattr(module, "__all__", None)
        assert exported is not None, f"{name} has no __all__"
        missing = [member for member in exported if not hasattr(module, member)]
        assert not missing, f"{name}.__all__ names members it does not define: {missing}"
        lines.extend(f"{name}.{member}" for member in sorted(exported))
    return "\n".join(lines) + "\n"


def test_exported_members_match_the_committed_list() -> None:
    current = _current()
    if os.environ.get("SCIOT_UPDATE_EXPORTS"):
        LISTING.write_text(current)
    expected = LISTING.read_text()
    added = sorted(set(current.splitlines()) - set(expected.splitlines()))
    removed = sorted(set(expected.splitlines()) - set(current.splitlines()))
    assert not added and not removed, f"API changed: added {added}, removed {removed}"
