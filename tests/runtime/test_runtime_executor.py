"""SegmentExecutor: one interpreter reused, inputs and outputs by name, clear errors."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from sciot.errors import ExecutionError, ModelError
from sciot.model import load_model, split_model
from sciot.runtime import SegmentExecutor
from sciot_test_models import ModelCache, random_inputs

pytestmark = pytest.mark.tensorflow


def test_reuse_gives_fresh_outputs_per_call(test_models: ModelCache) -> None:
    graph = load_model(test_models.path("residual_f32"))
    executor = SegmentExecutor(graph.model_bytes)
    a, b = random_inputs(graph.inputs, 1), random_inputs(graph.inputs, 2)
    first = executor.run(a)
    second = executor.run(b)
    again = executor.run(a)
    (name,) = executor.output_names
    assert not np.array_equal(first[name], second[name])
    assert np.array_equal(first[name], again[name])
    # Outputs are the caller's: a later run must not change an earlier result.
    assert first[name] is not again[name]


def test_io_descriptions_match_the_graph(test_models: ModelCache) -> None:
    graph = load_model(test_models.path("residual_int8"))
    split = split_model(graph, 4)
    assert split.head is not None and split.tail is not None
    head, tail = SegmentExecutor(split.head), SegmentExecutor(split.tail)
    assert head.inputs == graph.inputs
    assert head.outputs == graph.cut(4).tensors == tail.inputs
    assert tail.outputs == graph.outputs
    assert tail.input_names == graph.cut(4).tensor_names


def test_accepts_path_and_bytes(test_models: ModelCache) -> None:
    path = test_models.path("multi_io_f32")
    graph = load_model(path)
    feeds = random_inputs(graph.inputs, 3)
    by_path = SegmentExecutor(path).run(feeds)
    by_str = SegmentExecutor(str(path), num_threads=2).run(feeds)
    for key, value in SegmentExecutor(path.read_bytes()).run(feeds).items():
        assert np.array_equal(value, by_path[key]) and np.array_equal(value, by_str[key])


@pytest.fixture(scope="module")
def executor(test_models: ModelCache) -> SegmentExecutor:
    return SegmentExecutor(test_models.path("multi_io_f32"))


def good_feeds(executor: SegmentExecutor) -> dict[str, np.ndarray]:
    return random_inputs(executor.inputs, 0)


def test_missing_input_is_named(executor: SegmentExecutor) -> None:
    feeds = good_feeds(executor)
    missing = executor.input_names[0]
    del feeds[missing]
    with pytest.raises(ExecutionError, match=f"missing input.*{missing}"):
        executor.run(feeds)


def test_unknown_input_is_named(executor: SegmentExecutor) -> None:
    feeds = good_feeds(executor)
    feeds["bogus"] = np.zeros(3, np.float32)
    with pytest.raises(ExecutionError, match=r"unknown input.*bogus"):
        executor.run(feeds)


def test_wrong_shape_is_named(executor: SegmentExecutor) -> None:
    feeds = good_feeds(executor)
    name = executor.input_names[0]
    feeds[name] = np.zeros((2, *feeds[name].shape[1:]), np.float32)
    with pytest.raises(ExecutionError, match=f"{name}.*shape"):
        executor.run(feeds)


def test_wrong_dtype_is_named(executor: SegmentExecutor) -> None:
    feeds = good_feeds(executor)
    name = executor.input_names[1]
    feeds[name] = feeds[name].astype(np.float64)
    with pytest.raises(ExecutionError, match=f"{name}.*dtype float64, expected float32"):
        executor.run(feeds)


def test_not_an_array(executor: SegmentExecutor) -> None:
    feeds: dict[str, object] = dict(good_feeds(executor))
    feeds[executor.input_names[0]] = [1.0, 2.0]
    with pytest.raises(ExecutionError, match="numpy array"):
        executor.run(feeds)  # type: ignore[arg-type]


def test_still_usable_after_errors(executor: SegmentExecutor) -> None:
    with pytest.raises(ExecutionError):
        executor.run({})
    outputs = executor.run(good_feeds(executor))
    assert set(outputs) == set(executor.output_names)


def test_bad_model_bytes(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="LiteRT cannot load"):
        SegmentExecutor(b"\x00" * 64)
    with pytest.raises(ModelError, match="cannot read model file"):
        SegmentExecutor(tmp_path / "missing.tflite")
    with pytest.raises(ExecutionError, match="num_threads"):
        SegmentExecutor(b"\x00" * 64, num_threads=0)


def test_any_op_range_chains(test_models: ModelCache) -> None:
    graph = load_model(test_models.path("multi_io_f32"))
    feeds = random_inputs(graph.inputs, 4)
    expected = SegmentExecutor(graph.model_bytes).run(feeds)
    bounds = [0, 2, 5, 6, graph.num_ops]
    live = dict(feeds)
    for start, stop in itertools.pairwise(bounds):
        segment = SegmentExecutor.for_range(graph, start, stop)
        assert segment.input_names == (
            graph.input_names if start == 0 else graph.cut(start).tensor_names
        )
        live = segment.run({name: live[name] for name in segment.input_names})
    assert live.keys() == expected.keys()
    for key, value in expected.items():
        assert np.array_equal(live[key], value)
    with pytest.raises(ExecutionError, match="op range"):
        SegmentExecutor.for_range(graph, 3, 3)


def test_litert_banner_never_reaches_stderr() -> None:
    """LiteRT's one-time XNNPACK INFO line is kept off stderr; the CLI owns that stream."""
    import subprocess
    import sys

    script = (
        "from sciot.model import demo_model_path, load_demo_input\n"
        "from sciot.runtime import SegmentExecutor\n"
        "ex = SegmentExecutor(demo_model_path('fomo96'))\n"
        "ex.run({ex.input_names[0]: load_demo_input('fomo96')})\n"
        "import sys; sys.stderr.write('still here\\n')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "XNNPACK" not in result.stderr
    assert result.stderr == "still here\n"
