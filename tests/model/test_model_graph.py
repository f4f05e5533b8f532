"""Graph analysis: operators, tensors and the live tensors crossing every cut."""

from __future__ import annotations

import hashlib

import pytest

from sciot.errors import ModelError
from sciot.model import ModelGraph, load_model
from sciot_test_models import ModelCache

pytestmark = pytest.mark.tensorflow


@pytest.fixture(scope="module")
def residual(test_models: ModelCache) -> ModelGraph:
    return load_model(test_models.path("residual_f32"))


def test_ops_are_listed_in_order_with_shapes_and_macs(residual: ModelGraph) -> None:
    assert [op.index for op in residual.ops] == list(range(residual.num_ops))
    conv = residual.ops[0]
    assert conv.op_type == "CONV_2D"
    assert conv.outputs[0].shape == (1, 16, 16, 8)
    assert conv.outputs[0].nbytes == 16 * 16 * 8 * 4
    assert conv.macs == 16 * 16 * 8 * 3 * 3 * 3
    assert conv.name == conv.outputs[0].name
    assert residual.total_macs == sum(op.macs for op in residual.ops)
    assert residual.ops[5].op_type == "CONCATENATION" and residual.ops[5].macs == 0


def test_cuts_cover_edge_only_to_device_only(residual: ModelGraph) -> None:
    assert len(residual.cuts) == residual.num_ops + 1
    assert [c.index for c in residual.cuts] == list(range(residual.num_ops + 1))
    assert residual.cut(0).tensors == residual.inputs
    assert residual.cut(residual.num_ops).tensors == residual.outputs
    for cut in residual.cuts:
        assert cut.crossing_bytes == sum(t.nbytes for t in cut.tensors)
        assert cut.splittable


def test_a_cut_inside_a_residual_block_crosses_two_tensors(residual: ModelGraph) -> None:
    # conv a -> conv b -> add(a, b): between conv b and add both a and b are live.
    assert [op.op_type for op in residual.ops[:3]] == ["CONV_2D", "CONV_2D", "ADD"]
    inside = residual.cut(2)
    assert inside.tensor_names == (residual.ops[0].outputs[0].name, residual.ops[1].outputs[0].name)
    assert inside.crossing_bytes == 2 * 16 * 16 * 8 * 4
    # After the add, one tensor feeds both branches (conv and depthwise): it crosses once.
    assert residual.cut(3).tensor_names == (residual.ops[2].outputs[0].name,)
    # Between the two branches, the add output is still needed by the second one.
    assert len(residual.cut(4).tensors) == 2


def test_multi_io_outputs_produced_early_keep_crossing(test_models: ModelCache) -> None:
    graph = load_model(test_models.path("multi_io_f32"))
    assert len(graph.inputs) == 2 and len(graph.outputs) == 2
    early = next(op for op in graph.ops if op.op_type == "MEAN")
    early_output = early.outputs[0]
    assert early_output in graph.outputs
    for cut in graph.cuts[early.index + 1 :]:
        assert early_output in cut.tensors
    # An input read only by a late op crosses every cut before that op.
    vec = next(t for t in graph.inputs if t.shape == (1, 4))
    first_use = min(op.index for op in graph.ops if vec in op.inputs)
    for cut in graph.cuts[: first_use + 1]:
        assert vec in cut.tensors
    assert vec not in graph.cut(first_use + 1).tensors


def test_int8_tensors_carry_quantisation(test_models: ModelCache) -> None:
    graph = load_model(test_models.path("residual_int8"))
    (image,) = graph.inputs
    assert image.dtype == "int8" and image.nbytes == 16 * 16 * 3
    assert len(image.scale) == 1 and len(image.zero_point) == 1 and image.is_quantized
    weights = graph.ops[0].inputs[1]
    assert len(weights.scale) == 8  # per-channel: one scale per output channel
    per_tensor = load_model(test_models.path("residual_int8_per_tensor"))
    assert len(per_tensor.ops[0].inputs[1].scale) == 1


def test_loads_from_path_and_bytes_alike(test_models: ModelCache) -> None:
    path = test_models.path("residual_int8")
    data = path.read_bytes()
    from_path, from_bytes = load_model(path), load_model(data)
    assert from_path.model_id == from_bytes.model_id == hashlib.sha256(data).hexdigest()[:16]
    assert from_path.cuts == from_bytes.cuts
    assert load_model(str(path)).ops == from_path.ops


def test_cut_out_of_range(residual: ModelGraph) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        residual.cut(residual.num_ops + 1)


@pytest.mark.parametrize(
    "name", ["residual_int8", "multi_io_f32", "while_loop_f32", "gru_f32", "stateful_f32"]
)
def test_cut_tensors_match_the_definition(test_models: ModelCache, name: str) -> None:
    """Brute force over the glossary's definition, from the ops' own inputs and outputs."""
    graph = load_model(test_models.path(name))
    n = graph.num_ops
    for k, cut in enumerate(graph.cuts):
        available = set(graph.inputs) | {t for op in graph.ops[:k] for t in op.outputs}
        needed = {t for op in graph.ops[k:] for t in op.inputs} | set(graph.outputs)
        expected = available & needed
        if k == 0:
            expected = set(graph.inputs)
        assert set(cut.tensors) == expected, f"{name} cut {k} of {n}"
