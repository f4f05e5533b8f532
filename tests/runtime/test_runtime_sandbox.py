"""The sandbox: LiteRT runs unseen models in a worker process first, so ours cannot crash.

A worker that dies (here: killed with SIGKILL mid-check, the way an abort in native code ends
it) costs the cut it was on, reported with the signal; a fresh worker checks the rest.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.tools import flatbuffer_utils

from sciot.errors import ModelError
from sciot.model import load_model, split_model
from sciot.runtime import SegmentExecutor, _sandbox, check_cuts, verify_cuts
from sciot_test_models import ModelCache

pytestmark = pytest.mark.tensorflow


def _with_opcode(data: bytes, edit: str) -> bytes:
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    code = model.operatorCodes[0]
    if edit == "version":
        code.version = 99
    else:
        code.builtinCode = schema.BuiltinOperator.CUSTOM
        code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
        code.customCode = "MyOp"
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def test_unseen_bytes_are_run_in_the_worker_then_trusted(test_models: ModelCache) -> None:
    graph = load_model(test_models.path("residual_int8"))
    head = split_model(graph, 3).head
    assert head is not None
    fresh = head + b""  # same bytes: trust is by content, not by object
    _sandbox._trusted.discard(_sandbox.digest(head))
    assert not _sandbox.is_trusted(fresh)
    SegmentExecutor(fresh)
    assert _sandbox.is_trusted(head)


def test_an_op_litert_cannot_run_is_refused_by_name(test_models: ModelCache) -> None:
    data = _with_opcode(test_models.bytes("residual_f32"), "version")
    graph = load_model(data)  # the flatbuffer itself is fine
    with pytest.raises(ModelError, match=r"LiteRT cannot load this model: .*CONV_2D.*99"):
        SegmentExecutor(data)
    with pytest.raises(ModelError, match=r"LiteRT cannot run this model: .*CONV_2D"):
        check_cuts(graph)


def test_a_custom_op_is_refused_before_it_reaches_litert(test_models: ModelCache) -> None:
    data = _with_opcode(test_models.bytes("residual_f32"), "custom")
    with pytest.raises(ModelError, match=r"op \d+ is the custom op 'MyOp'"):
        load_model(data)


@pytest.mark.parametrize("edit", ["version", "custom"])
def test_cli_refuses_such_models_in_one_line(
    test_models: ModelCache, tmp_path: Path, edit: str
) -> None:
    path = tmp_path / f"{edit}.tflite"
    path.write_bytes(_with_opcode(test_models.bytes("residual_f32"), edit))
    result = subprocess.run(
        [sys.executable, "-m", "sciot", "model", "split", str(path), "--all", "-o", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sciot: error:"), result.stderr
    assert ("CONV_2D" if edit == "version" else "'MyOp'") in lines[0]


def test_a_worker_that_dies_costs_one_cut_and_the_rest_are_checked(
    test_models: ModelCache,
) -> None:
    graph = load_model(test_models.path("residual_f32"))
    killed: list[int] = []

    def kill_after_two(done: int, total: int) -> None:
        if done == 2 and not killed:
            worker = _sandbox._current_worker()
            killed.append(worker._process.pid)
            os.kill(worker._process.pid, signal.SIGKILL)  # the worker is ours

    results = check_cuts(graph, progress=kill_after_two)
    assert killed
    assert sorted(results) == list(range(graph.num_ops + 1))
    blamed = {k: reason for k, reason in results.items() if reason is not None}
    assert len(blamed) <= 1
    for reason in blamed.values():
        assert "LiteRT crashed (signal SIGKILL" in reason
    # The excluded cut is listed with its reason and refused; the others still split.
    verified = graph.with_excluded({k: f"the run check failed: {r}" for k, r in blamed.items()})
    for k in blamed:
        assert not verified.cut(k).splittable
    # A fresh worker serves the next request.
    assert verify_cuts(graph).cuts == graph.cuts
    assert _sandbox._current_worker()._process.pid != killed[0]


def test_a_worker_that_died_idle_is_not_blamed_on_the_next_model(
    test_models: ModelCache,
) -> None:
    graph = load_model(test_models.path("residual_f32"))
    SegmentExecutor(graph.model_bytes)
    worker = _sandbox._current_worker()
    os.kill(worker._process.pid, signal.SIGKILL)  # the worker is ours
    worker._process.wait(timeout=10)
    head = split_model(graph, 2).head
    assert head is not None
    _sandbox._trusted.discard(_sandbox.digest(head))
    SegmentExecutor(head)  # a fresh worker runs it; no crash is reported
    assert _sandbox.is_trusted(head)
