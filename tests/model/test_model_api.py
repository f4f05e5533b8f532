"""Importing the model toolkit and the runtime needs no TensorFlow.

The public names themselves are pinned for every package in tests/test_exported_members.py.
"""

from __future__ import annotations

import subprocess
import sys


def test_import_needs_no_tensorflow() -> None:
    code = (
        "import sys, sciot.model, sciot.runtime, sciot.cli.model\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"
