"""OpProfiler: one time per op, and the same outputs as running the segment whole."""

from __future__ import annotations

import numpy as np
import pytest

from sciot.errors import ExecutionError
from sciot.model import extract_segment, load_model
from sciot.runtime import OpProfiler, SegmentExecutor
from sciot_test_models import ModelCache, random_inputs

pytestmark = pytest.mark.tensorflow


@pytest.mark.parametrize("name", ["residual_int8", "multi_io_f32", "while_loop_f32"])
def test_profile_whole_model(test_models: ModelCache, name: str) -> None:
    graph = load_model(test_models.path(name))
    profiler = OpProfiler(graph)
    feeds = random_inputs(graph.inputs, 5)
    outputs, times_s = profiler.run(feeds)
    assert len(times_s) == graph.num_ops
    assert all(t >= 0.0 for t in times_s)
    full = SegmentExecutor(graph.model_bytes).run(feeds)
    assert outputs.keys() == full.keys()
    for key, value in full.items():
        assert np.array_equal(outputs[key], value) and outputs[key].dtype == value.dtype


def test_profile_a_range_matches_the_segment(test_models: ModelCache) -> None:
    graph = load_model(test_models.path("residual_f32"))
    start, stop = 2, 7
    profiler = OpProfiler(graph, start, stop)
    assert profiler.input_names == graph.cut(start).tensor_names
    assert profiler.output_names == graph.cut(stop).tensor_names
    segment = SegmentExecutor(extract_segment(graph, start, stop))
    feeds = random_inputs(segment.inputs, 9)
    outputs, times_s = profiler.run(feeds)
    assert len(times_s) == stop - start
    for key, value in segment.run(feeds).items():
        assert np.array_equal(outputs[key], value)


def test_bad_range_and_inputs(test_models: ModelCache) -> None:
    graph = load_model(test_models.path("residual_f32"))
    with pytest.raises(ExecutionError, match="op range"):
        OpProfiler(graph, 3, 3)
    with pytest.raises(ExecutionError, match="op range"):
        OpProfiler(graph, 0, graph.num_ops + 1)
    with pytest.raises(ExecutionError, match="missing input"):
        OpProfiler(graph, 0, 2).run({})


def test_stateful_models_are_refused(test_models: ModelCache) -> None:
    graph = load_model(test_models.path("stateful_f32"))
    with pytest.raises(ExecutionError, match=r"op by op.*resource"):
        OpProfiler(graph)
    last = graph.num_ops
    first_free = min(k for k in range(1, last) if graph.cut(k).splittable)
    outputs, times_s = OpProfiler(graph, first_free, last).run(
        random_inputs(graph.cut(first_free).tensors, 1)
    )
    assert len(times_s) == last - first_free and set(outputs) == set(graph.output_names)
