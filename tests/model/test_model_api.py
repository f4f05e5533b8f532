"""The public names others build on stay exported, and importing them needs no TensorFlow."""

from __future__ import annotations

import subprocess
import sys

import sciot.model
import sciot.runtime

# Names other layers depend on; adding names is fine, removing one is an API change.
MODEL_API = {
    "Cut",
    "ModelGraph",
    "OpInfo",
    "SplitModel",
    "TensorInfo",
    "c_identifier",
    "describe_graph",
    "extract_op",
    "extract_segment",
    "load_model",
    "resolve_model_path",
    "split_all",
    "split_model",
    "write_c_array",
    "write_splits",
}
RUNTIME_API = {"InterpreterPool", "OpProfiler", "SegmentExecutor"}


def test_exported_members() -> None:
    assert set(sciot.model.__all__) >= MODEL_API
    assert set(sciot.runtime.__all__) == RUNTIME_API
    for module in (sciot.model, sciot.runtime):
        for name in module.__all__:
            assert getattr(module, name) is not None


def test_import_needs_no_tensorflow() -> None:
    code = (
        "import sys, sciot.model, sciot.runtime, sciot.cli.model\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"
