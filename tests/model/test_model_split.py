"""Splitting at every cut reproduces the full model bit for bit, for every test model."""

from __future__ import annotations

import numpy as np
import pytest

from sciot.errors import ModelError
from sciot.model import ModelGraph, extract_op, extract_segment, load_model, split_all, split_model
from sciot.runtime import SegmentExecutor
from sciot_test_models import ModelCache, random_inputs

MODELS = [
    "residual_f32",
    "residual_int8",
    "residual_int8_per_tensor",
    "multi_io_f32",
    "while_loop_f32",
    "gru_f32",
    "stateful_f32",
]


def assert_chain_matches(graph: ModelGraph, seed: int = 0) -> None:
    feeds = random_inputs(graph.inputs, seed)
    full = SegmentExecutor(graph.model_bytes).run(feeds)
    for split in split_all(graph):
        mid = SegmentExecutor(split.head).run(feeds) if split.head else feeds
        out = SegmentExecutor(split.tail).run(mid) if split.tail else mid
        for name, expected in full.items():
            got = out[name]
            assert got.dtype == expected.dtype, (split.cut.index, name)
            assert np.array_equal(got, expected), f"cut {split.cut.index}: {name} differs"


@pytest.mark.tensorflow
@pytest.mark.parametrize("name", MODELS)
def test_every_cut_is_bit_exact(test_models: ModelCache, name: str) -> None:
    graph = load_model(test_models.path(name))
    assert graph.num_ops > 3
    assert_chain_matches(graph)


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.parametrize("name", ["sciot_fomo96_f32", "sciot_fomo96_int8"])
def test_sciot_reference_fomo_every_cut_is_bit_exact(test_models: ModelCache, name: str) -> None:
    graph = load_model(test_models.path(name))
    assert graph.num_ops == 25
    assert_chain_matches(graph, seed=1)


@pytest.mark.tensorflow
@pytest.mark.parametrize("name", ["residual_int8", "multi_io_f32"])
def test_head_outputs_and_tail_inputs_are_the_cut_tensors(
    test_models: ModelCache, name: str
) -> None:
    graph = load_model(test_models.path(name))
    for k in range(1, graph.num_ops):
        split = split_model(graph, k)
        assert split.head is not None and split.tail is not None
        head, tail = load_model(split.head), load_model(split.tail)
        names = graph.cut(k).tensor_names
        assert tuple(t.name for t in head.outputs) == names
        assert tuple(t.name for t in tail.inputs) == names
        assert head.outputs == graph.cut(k).tensors
        assert tuple(t.name for t in tail.outputs) == tuple(t.name for t in graph.outputs)
        assert tuple(t.name for t in head.inputs) == tuple(t.name for t in graph.inputs)
        assert head.num_ops == k and tail.num_ops == graph.num_ops - k
        assert [op.op_type for op in head.ops + tail.ops] == [op.op_type for op in graph.ops]


@pytest.mark.tensorflow
def test_edges_have_one_side_only(test_models: ModelCache) -> None:
    graph = load_model(test_models.path("residual_f32"))
    edge_only = split_model(graph, 0)
    device_only = split_model(graph, graph.num_ops)
    assert edge_only.head is None and edge_only.tail is not None
    assert device_only.tail is None and device_only.head is not None
    assert load_model(edge_only.tail).num_ops == graph.num_ops
    assert load_model(device_only.head).num_ops == graph.num_ops


@pytest.mark.tensorflow
def test_weights_go_with_the_side_that_uses_them(test_models: ModelCache) -> None:
    graph = load_model(test_models.path("residual_f32"))
    sizes = []
    for split in split_all(graph):
        head = len(split.head) if split.head else 0
        tail = len(split.tail) if split.tail else 0
        sizes.append((head, tail))
    heads = [h for h, _ in sizes]
    tails = [t for _, t in sizes]
    # Pruned halves grow and shrink monotonically with the cut; none holds all weights twice.
    assert heads == sorted(heads) and tails == sorted(tails, reverse=True)
    for head, tail in sizes[1:-1]:
        assert head < len(graph.model_bytes) and tail < len(graph.model_bytes)


@pytest.mark.tensorflow
def test_called_subgraphs_travel_with_the_while_op(test_models: ModelCache) -> None:
    graph = load_model(test_models.path("while_loop_f32"))
    assert graph.calls_subgraphs and graph.subgraph_count == 3
    while_index = next(op.index for op in graph.ops if op.op_type == "WHILE")
    before = split_model(graph, while_index)
    after = split_model(graph, while_index + 1)
    assert before.tail is not None and load_model(before.tail).subgraph_count == 3
    assert before.head is not None and load_model(before.head).subgraph_count == 1
    assert after.head is not None and load_model(after.head).subgraph_count == 3
    assert after.tail is not None and load_model(after.tail).subgraph_count == 1


@pytest.mark.tensorflow
def test_unknown_cut_is_refused(test_models: ModelCache) -> None:
    graph = load_model(test_models.path("residual_f32"))
    with pytest.raises(ModelError, match="cuts run from 0 to 10"):
        split_model(graph, graph.num_ops + 1)
    with pytest.raises(ModelError, match="does not exist"):
        split_model(graph, -1)


@pytest.mark.tensorflow
def test_split_halves_are_stable(test_models: ModelCache) -> None:
    graph = load_model(test_models.path("residual_int8"))
    again = load_model(bytes(graph.model_bytes))
    assert split_model(graph, 4) == split_model(again, 4)
    assert graph.model_id == again.model_id


@pytest.mark.tensorflow
def test_cuts_that_would_split_a_resource_variable_are_refused(test_models: ModelCache) -> None:
    graph = load_model(test_models.path("stateful_f32"))
    blocked = [cut for cut in graph.cuts if not cut.splittable]
    assert blocked, "the VAR_HANDLE ... ASSIGN_VARIABLE span must block some cuts"
    assert graph.cut(0).splittable and graph.cut(graph.num_ops).splittable
    for cut in blocked:
        with pytest.raises(ModelError, match=f"cannot split at cut {cut.index}: .*resource"):
            split_model(graph, cut.index)
    produced = [split.cut.index for split in split_all(graph)]
    assert produced == [cut.index for cut in graph.cuts if cut.splittable]


@pytest.mark.tensorflow
def test_stacked_while_loops_split_between_them(test_models: ModelCache) -> None:
    graph = load_model(test_models.path("gru_f32"))
    loops = [op.index for op in graph.ops if op.op_type == "WHILE"]
    assert len(loops) == 2 and graph.subgraph_count == 5
    split = split_model(graph, loops[1])
    assert split.head is not None and split.tail is not None
    assert load_model(split.head).subgraph_count == 3
    assert load_model(split.tail).subgraph_count == 3


@pytest.mark.tensorflow
def test_segments_and_single_ops_check_their_range(test_models: ModelCache) -> None:
    graph = load_model(test_models.path("residual_f32"))
    with pytest.raises(ModelError, match="op range"):
        extract_segment(graph, 4, 2)
    with pytest.raises(ModelError, match="does not exist"):
        extract_op(graph, graph.num_ops)
    data, inputs, outputs = extract_op(graph, 2)  # the residual ADD reads two tensors
    assert len(inputs) == 2 and outputs == (graph.ops[2].name,)
    assert load_model(data).num_ops == 1


@pytest.mark.tensorflow
def test_one_graph_splits_from_many_threads(test_models: ModelCache) -> None:
    from concurrent.futures import ThreadPoolExecutor

    graph = load_model(test_models.path("while_loop_f32"))
    expected = [split_model(graph, k) for k in range(graph.num_ops + 1)]
    jobs = [k % (graph.num_ops + 1) for k in range(60)]
    with ThreadPoolExecutor(max_workers=4) as threads:
        results = list(threads.map(lambda k: split_model(graph, k), jobs))
    assert results == [expected[k] for k in jobs]
    assert split_model(graph, 2) == expected[2]  # the parsed model was not modified
