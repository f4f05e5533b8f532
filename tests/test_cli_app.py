"""The top-level command starts and shows its groups."""

from __future__ import annotations

import subprocess
import sys


def test_help_lists_groups() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sciot", "--help"], capture_output=True, text=True, check=True
    )
    assert "model" in out.stdout
