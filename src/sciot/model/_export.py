"""Writing a model's analysis and its splits to disk, as the ``sciot model`` commands do.

``describe_graph`` is the JSON document ``sciot model inspect --json`` prints and
``write_splits`` lays out a directory of head/tail flatbuffers with a ``manifest.json`` that
other tools (the edge server, the benches) read instead of re-splitting. Both are plain
library calls so anything the CLI does can be done from Python.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sciot.errors import ConfigError, ModelError
from sciot.model._c_array import write_c_array
from sciot.model._graph import ModelGraph, load_model
from sciot.model._split import split_model
from sciot.model._types import TensorInfo

MANIFEST_NAME = "manifest.json"


def tensor_to_dict(tensor: TensorInfo) -> dict[str, Any]:
    return {
        "name": tensor.name,
        "shape": list(tensor.shape),
        "dtype": tensor.dtype,
        "nbytes": tensor.nbytes,
        "scale": list(tensor.scale),
        "zero_point": list(tensor.zero_point),
        "quantized_dimension": tensor.quantized_dimension,
    }


def describe_graph(graph: ModelGraph) -> dict[str, Any]:
    """The model's ops, inputs, outputs and cuts as JSON-ready data."""
    return {
        "model_id": graph.model_id,
        "size_bytes": len(graph.model_bytes),
        "num_ops": graph.num_ops,
        "total_macs": graph.total_macs,
        "subgraphs": graph.subgraph_count,
        "num_folded_ops": len(graph.folded_ops),
        "folded_ops": [
            {"index": op.index, "op_type": op.op_type, "name": op.name} for op in graph.folded_ops
        ],
        "inputs": [tensor_to_dict(t) for t in graph.inputs],
        "outputs": [tensor_to_dict(t) for t in graph.outputs],
        "ops": [
            {
                "index": op.index,
                "op_type": op.op_type,
                "name": op.name,
                "inputs": [tensor_to_dict(t) for t in op.inputs],
                "outputs": [tensor_to_dict(t) for t in op.outputs],
                "macs": op.macs,
                "calls_subgraphs": list(op.calls_subgraphs),
            }
            for op in graph.ops
        ],
        "cuts": [
            {
                "index": cut.index,
                "tensors": [tensor_to_dict(t) for t in cut.tensors],
                "bytes": cut.crossing_bytes,
                "splittable": cut.splittable,
                "blocked_reason": cut.blocked_reason,
            }
            for cut in graph.cuts
        ],
    }


def write_splits(
    graph: ModelGraph,
    out_dir: str | Path,
    cuts: Iterable[int] | None = None,
    *,
    model_label: str,
    c_array: bool = False,
) -> dict[str, Any]:
    """Split at ``cuts`` (every splittable cut when None) and write the halves and manifest.

    Files are ``cut_<k>_head.tflite`` / ``cut_<k>_tail.tflite`` (k zero-padded to three
    digits) and, with ``c_array``, ``cut_<k>_head.c`` / ``.h``. Returns the manifest written
    to ``manifest.json``; its paths are relative to ``out_dir``. Each entry's ``head_spec``
    is what a TFLite Micro build of that head needs without parsing it: its input and output
    tensors (shape, dtype, quantisation) and the operators to register. ``excluded`` lists the
    cuts that were not written (blocked, or failed a run check) with the reason.
    """
    indices = _cut_indices(graph, cuts)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output directory {out}: {exc.strerror or exc}") from exc
    entries = []
    for k in indices:
        split = split_model(graph, k)
        stem = f"cut_{k:03d}"
        head = _write(out, f"{stem}_head.tflite", split.head)
        tail = _write(out, f"{stem}_tail.tflite", split.tail)
        if c_array and split.head is not None:
            write_c_array(split.head, out, f"{stem}_head")
        entries.append(
            {
                "index": k,
                "head": head,
                "tail": tail,
                "tensors": list(split.cut.tensor_names),
                "bytes": split.cut.crossing_bytes,
                "head_spec": None if split.head is None else head_spec(split.head),
            }
        )
    manifest = {
        "model": model_label,
        "num_ops": graph.num_ops,
        "cuts": entries,
        "num_folded_ops": len(graph.folded_ops),
        "excluded": [
            {"index": c.index, "reason": c.blocked_reason} for c in graph.cuts if not c.splittable
        ],
    }
    _write(out, MANIFEST_NAME, (json.dumps(manifest, indent=2) + "\n").encode())
    return manifest


def head_spec(head: bytes) -> dict[str, Any]:
    """Inputs, outputs and operator list of a head, as a TFLite Micro build declares them.

    ``ops`` counts every stored operator, folded ones included (a float16-weight head still
    needs the ``DEQUANTIZE`` kernel registered), in order of first use.
    """
    graph = load_model(head)
    stored = sorted(
        [(graph.stored_index(op.index), op.op_type) for op in graph.ops]
        + [(op.index, op.op_type) for op in graph.folded_ops]
    )
    counts: dict[str, int] = {}
    for _, op_type in stored:
        counts[op_type] = counts.get(op_type, 0) + 1
    return {
        "size_bytes": len(head),
        "inputs": [tensor_to_dict(t) for t in graph.inputs],
        "outputs": [tensor_to_dict(t) for t in graph.outputs],
        "num_operators": len(stored),
        "ops": [{"op_type": name, "count": n} for name, n in counts.items()],
    }


def _cut_indices(graph: ModelGraph, cuts: Iterable[int] | None) -> list[int]:
    if cuts is None:
        return [c.index for c in graph.cuts if c.splittable]
    indices = list(dict.fromkeys(cuts))
    if not indices:
        raise ConfigError("no cut given: pass at least one cut index, or split at every cut")
    for k in indices:
        graph.cut(k)  # raises ModelError naming the valid range
    return indices


def _write(out: Path, name: str, data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        (out / name).write_bytes(data)
    except OSError as exc:
        raise ModelError(f"cannot write {out / name}: {exc.strerror or exc}") from exc
    return name
