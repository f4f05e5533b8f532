"""Reading and writing TFLite flatbuffers through LiteRT's bundled object API.

This is the only module that touches ``ai_edge_litert.schema_py_generated`` and
``ai_edge_litert.tools.flatbuffer_utils``: it turns bytes into a mutable ``ModelT`` (and
malformed bytes into a :class:`~sciot.errors.ModelError`), turns a ``ModelT`` back into bytes
with every constant buffer 16-byte aligned (as the converter does, and as TFLite Micro kernels
reading int32 biases need), and names the schema's enums. No TensorFlow is involved.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.tools import flatbuffer_utils

from sciot.errors import ModelError

_FILE_IDENTIFIER = b"TFL3"
_BUFFER_ALIGNMENT = 16

# TensorType enum value -> (numpy dtype name, bytes per element; 0 when not a dense array).
_DTYPES: dict[int, tuple[str, float]] = {
    schema.TensorType.FLOAT32: ("float32", 4),
    schema.TensorType.FLOAT16: ("float16", 2),
    schema.TensorType.INT32: ("int32", 4),
    schema.TensorType.UINT8: ("uint8", 1),
    schema.TensorType.INT64: ("int64", 8),
    schema.TensorType.STRING: ("object", 0),
    schema.TensorType.BOOL: ("bool", 1),
    schema.TensorType.INT16: ("int16", 2),
    schema.TensorType.COMPLEX64: ("complex64", 8),
    schema.TensorType.INT8: ("int8", 1),
    schema.TensorType.FLOAT64: ("float64", 8),
    schema.TensorType.COMPLEX128: ("complex128", 16),
    schema.TensorType.UINT64: ("uint64", 8),
    schema.TensorType.RESOURCE: ("resource", 0),
    schema.TensorType.VARIANT: ("variant", 0),
    schema.TensorType.UINT32: ("uint32", 4),
    schema.TensorType.UINT16: ("uint16", 2),
    schema.TensorType.INT4: ("int4", 0.5),
}
NOT_TRANSFERABLE_DTYPES = frozenset({"resource", "variant"})

_OP_NAMES: dict[int, str] = {
    value: name
    for name, value in vars(schema.BuiltinOperator).items()
    if not name.startswith("_") and isinstance(value, int)
}


def parse_model(data: bytes) -> Any:
    """Parse and sanity-check a flatbuffer; every failure becomes a ModelError."""
    if len(data) < 8:
        raise ModelError(f"not a TFLite model: {len(data)} bytes is too short for a flatbuffer")
    if data[4:8] != _FILE_IDENTIFIER:
        raise ModelError(
            "not a TFLite model: the file identifier is "
            f"{bytes(data[4:8])!r}, expected {_FILE_IDENTIFIER!r}"
        )
    try:
        model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    except (struct.error, IndexError, ValueError, TypeError, AttributeError, OverflowError) as exc:
        raise ModelError(
            f"TFLite model is corrupt or truncated ({len(data)} bytes): {exc}"
        ) from exc
    _check_model(model, len(data))
    return model


def _check_model(model: Any, size_bytes: int) -> None:
    """Reject references that point outside their tables (what truncation usually leaves)."""
    subgraphs = model.subgraphs or []
    if not subgraphs:
        raise ModelError("TFLite model has no subgraph; re-export it from the converter")
    n_buffers = len(model.buffers or [])
    n_codes = len(model.operatorCodes or [])
    for sg_index, sg in enumerate(subgraphs):
        n_tensors = len(sg.tensors or [])
        where = f"subgraph {sg_index}"
        for t in sg.tensors or []:
            if not 0 <= int(t.buffer) < max(n_buffers, 1):
                raise ModelError(
                    f"TFLite model is corrupt: {where} tensor refers to a missing buffer"
                )
        ids = list(sg.inputs or []) + list(sg.outputs or [])
        for op in sg.operators or []:
            if not 0 <= op.opcodeIndex < n_codes:
                raise ModelError(f"TFLite model is corrupt: {where} has an unknown operator code")
            ids += [i for i in _op_tensor_ids(op) if i >= 0]
            for ref in subgraph_refs(op):
                if not 0 <= ref < len(subgraphs):
                    raise ModelError(
                        f"TFLite model is corrupt: {where} calls missing subgraph {ref}"
                    )
        if any(not 0 <= int(i) < n_tensors for i in ids):
            raise ModelError(
                f"TFLite model is corrupt ({size_bytes} bytes): {where} refers to a missing tensor"
            )


def _op_tensor_ids(op: Any) -> Iterator[int]:
    yield from (int(i) for i in op.inputs or [])
    yield from (int(i) for i in op.outputs or [])
    yield from (int(i) for i in op.intermediates or [])


def serialize_model(model: Any) -> bytes:
    """Pack a ModelT with 16-byte aligned buffers (the object API packs them unaligned)."""
    buffers = model.buffers
    model.buffers = [_AlignedBuffer(b) for b in buffers or []]
    # Sizing the builder up front avoids the repeated grow-and-copy of a 1 KiB start, which
    # dominated splitting multi-megabyte models.
    payload = sum(len(b.data) for b in buffers or [] if b.data is not None)
    builder = flatbuffers.Builder(payload + _BUFFER_ALIGNMENT * len(buffers or []) + 65536)
    try:
        builder.Finish(model.Pack(builder), file_identifier=_FILE_IDENTIFIER)
    finally:
        model.buffers = buffers
    return bytes(builder.Output())


class _AlignedBuffer:
    """Packs a BufferT's bytes at a 16-byte boundary, relative to the end of the flatbuffer."""

    __slots__ = ("_buffer",)

    def __init__(self, buffer: Any) -> None:
        self._buffer = buffer

    def Pack(self, builder: flatbuffers.Builder) -> int:
        data = self._buffer.data
        data_offset = None
        if data is not None and len(data) > 0:
            payload = (
                data
                if isinstance(data, bytes | bytearray)
                else np.ascontiguousarray(data, dtype=np.uint8).reshape(-1).data
            )
            builder.StartVector(1, len(payload), _BUFFER_ALIGNMENT)
            builder.head = builder.head - len(payload)
            builder.Bytes[builder.head : builder.head + len(payload)] = payload
            data_offset = builder.EndVector()
        schema.BufferStart(builder)
        if data_offset is not None:
            schema.BufferAddData(builder, data_offset)
        result: int = schema.BufferEnd(builder)
        return result


def op_type_name(model: Any, op: Any) -> str:
    code = model.operatorCodes[op.opcodeIndex]
    builtin = int(flatbuffer_utils.get_builtin_code_from_operator_code(code))
    if builtin == schema.BuiltinOperator.CUSTOM:
        custom = code.customCode
        if isinstance(custom, bytes):
            custom = custom.decode("utf-8", errors="replace")
        return f"CUSTOM:{custom}"
    return _OP_NAMES.get(builtin, f"BUILTIN_{builtin}")


def tensor_name(tensor: Any) -> str:
    name = tensor.name
    if isinstance(name, bytes):
        return name.decode("utf-8", errors="replace")
    return str(name or "")


def dtype_of(tensor: Any) -> tuple[str, float]:
    try:
        return _DTYPES[int(tensor.type)]
    except KeyError:
        raise ModelError(
            f"tensor {tensor_name(tensor)!r} has unsupported type {tensor.type}"
        ) from None


def subgraph_refs(op: Any) -> tuple[int, ...]:
    """Subgraph indices an operator calls (WHILE, IF, CALL_ONCE, StableHLO regions...).

    The schema spreads them over many option tables, all named ``...SubgraphIndex`` or
    ``...SubgraphIndices``; finding them by name keeps this correct for every such op.
    """
    refs: list[int] = []
    for options in (op.builtinOptions, op.builtinOptions2):
        for _attr, value in _subgraph_fields(options):
            if isinstance(value, list):
                refs.extend(int(v) for v in value)
            else:
                refs.append(int(value))
    return tuple(refs)


def _subgraph_fields(options: Any) -> Iterator[tuple[str, Any]]:
    if options is None or not hasattr(options, "__dict__"):
        return
    for attr, value in vars(options).items():
        if "subgraph" in attr.lower() and value is not None:
            if isinstance(value, np.ndarray):
                value = value.tolist()
            yield attr, value


def remap_subgraph_refs(op: Any, new_index: dict[int, int]) -> None:
    """Rewrite the subgraph indices ``op`` (a copy the caller owns) calls.

    Option tables are copied before rewriting, so the parsed source model stays untouched
    and can be split again, from several threads at once.
    """
    for slot in ("builtinOptions", "builtinOptions2"):
        options = getattr(op, slot)
        fields = list(_subgraph_fields(options))
        if not fields:
            continue
        options = shallow_copy(options)
        for attr, value in fields:
            if isinstance(value, list):
                setattr(options, attr, [new_index[int(v)] for v in value])
            else:
                setattr(options, attr, new_index[int(value)])
        setattr(op, slot, options)


def shallow_copy(obj: Any) -> Any:
    """Copy a schema object's fields without copying the arrays they point to."""
    clone = object.__new__(type(obj))
    clone.__dict__.update(vars(obj))
    return clone


def new_buffer() -> Any:
    return schema.BufferT()
