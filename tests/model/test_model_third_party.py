"""Models built the way users build them: every cut is an activation cut, runs and is exact.

The set (``keras_app_models``) is Keras applications converted float32, full int8, float16
weights and dynamic-range, plus a pruned model whose sparse weights the converter expands
with ``DENSIFY``. The check runs every head and tail in LiteRT with its default delegates, in
the sandbox worker, on three random inputs, and compares head-then-tail with the full model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from keras_app_models import KerasAppCache, is_large, model_names

from sciot.model import ModelGraph, load_model, split_all, split_model
from sciot.runtime import SegmentExecutor, check_cuts
from sciot_test_models import random_inputs

pytestmark = pytest.mark.tensorflow


def _params() -> list[object]:
    return [
        pytest.param(name, marks=pytest.mark.slow) if is_large(name) else name
        for name in model_names()
    ]


def _activation_names(graph: ModelGraph) -> set[str]:
    names = {t.name for t in graph.inputs}
    names.update(t.name for op in graph.ops for t in op.outputs)
    return names


@pytest.mark.parametrize("name", _params())
def test_every_cut_runs_and_is_exact(keras_apps: KerasAppCache, name: str) -> None:
    graph = load_model(keras_apps.path(name))
    assert all(cut.splittable for cut in graph.cuts)
    results = check_cuts(graph)
    assert sorted(results) == list(range(graph.num_ops + 1))
    failed = {k: reason for k, reason in results.items() if reason is not None}
    example = next(iter(failed.items()), None)
    assert not failed, f"{len(failed)} of {len(results)} cuts fail, e.g. {example}"
    # Only activations cross: every crossing tensor is an input or an activation op's output.
    activations = _activation_names(graph)
    for cut in graph.cuts:
        assert set(cut.tensor_names) <= activations, cut.index


@pytest.mark.parametrize(
    ("name", "folded"),
    [
        ("mobilenetv3small_f16", {"DEQUANTIZE"}),
        ("pruned_sparse", {"DENSIFY"}),
        ("pruned_sparse_f16", {"DENSIFY", "DEQUANTIZE"}),
    ],
)
def test_weight_expanding_ops_are_folded(
    keras_apps: KerasAppCache, name: str, folded: set[str]
) -> None:
    graph = load_model(keras_apps.path(name))
    assert {op.op_type for op in graph.folded_ops} == folded
    assert not {op.op_type for op in graph.ops} & folded


def test_float16_weights_cut_like_float32(keras_apps: KerasAppCache) -> None:
    """Same architecture, same activations: the float16-weight model's cuts cross exactly the
    float32 model's tensors, so its crossing bytes are activation sizes, never weights."""
    f32 = load_model(keras_apps.path("mobilenetv3small_f32"))
    f16 = load_model(keras_apps.path("mobilenetv3small_f16"))
    assert f16.folded_ops and not f32.folded_ops
    assert f16.num_ops == f32.num_ops
    assert [c.crossing_bytes for c in f16.cuts] == [c.crossing_bytes for c in f32.cuts]
    assert [op.op_type for op in f16.ops] == [op.op_type for op in f32.ops]


def test_chained_halves_equal_the_full_model_in_process(keras_apps: KerasAppCache) -> None:
    """The same property checked without the sandbox's comparison code, by tensor name."""
    graph = load_model(keras_apps.path("mobilenetv3small_f16"))
    full = SegmentExecutor(graph.model_bytes)
    feeds = [random_inputs(graph.inputs, seed) for seed in (4, 5)]
    expected = [full.run(f) for f in feeds]
    for split in split_all(graph):
        head = SegmentExecutor(split.head) if split.head else None
        tail = SegmentExecutor(split.tail) if split.tail else None
        for f, want in zip(feeds, expected, strict=True):
            mid = head.run(f) if head else f
            assert set(mid) == set(split.cut.tensor_names)
            got = tail.run(mid) if tail else mid
            for tensor, value in want.items():
                assert np.array_equal(got[tensor], value), (split.cut.index, tensor)


def test_shared_weights_are_duplicated_into_both_halves(keras_apps: KerasAppCache) -> None:
    graph = load_model(keras_apps.path("mobilenetv3small_f16"))
    # A DEQUANTIZE whose output two ops read, with a cut between those readers.
    readers: dict[str, list[int]] = {}
    for op in graph.ops:
        for t in op.inputs:
            readers.setdefault(t.name, []).append(op.index)
    folded_outputs = {op.outputs[0].name for op in graph.folded_ops}
    shared = [(name, ks) for name, ks in readers.items() if name in folded_outputs and len(ks) > 1]
    assert shared, "the test model should share a float16 constant between ops"
    name, users = shared[0]
    k = users[0] + 1
    split = split_model(graph, k)
    assert split.head is not None and split.tail is not None
    for half in (load_model(split.head), load_model(split.tail)):
        assert name in {op.outputs[0].name for op in half.folded_ops}


def test_inspect_of_a_float16_model_lists_activation_cuts(keras_apps: KerasAppCache) -> None:
    path = keras_apps.path("mobilenetv3small_f16")
    result = subprocess.run(
        [sys.executable, "-m", "sciot", "model", "inspect", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    graph = load_model(path)
    assert doc["num_folded_ops"] == len(graph.folded_ops) > 0
    assert all(cut["splittable"] for cut in doc["cuts"])
    activations = _activation_names(graph)
    for cut in doc["cuts"]:
        assert {t["name"] for t in cut["tensors"]} <= activations
        assert cut["bytes"] == sum(t["nbytes"] for t in cut["tensors"])
    table = subprocess.run(
        [sys.executable, "-m", "sciot", "model", "inspect", str(path), "--no-check"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert table.returncode == 0, table.stderr
    assert f"{len(graph.folded_ops)} constant-derived ops folded (DEQUANTIZE)" in table.stdout


def test_op_profiler_times_the_activation_ops_of_a_float16_model(
    keras_apps: KerasAppCache,
) -> None:
    from sciot.runtime import OpProfiler

    graph = load_model(keras_apps.path("pruned_sparse_f16"))
    feeds = random_inputs(graph.inputs, 0)
    outputs, times = OpProfiler(graph).run(feeds)
    assert len(times) == graph.num_ops  # folded ops run inside the op that reads them
    for name, expected in SegmentExecutor(graph.model_bytes).run(feeds).items():
        assert np.array_equal(outputs[name], expected)
