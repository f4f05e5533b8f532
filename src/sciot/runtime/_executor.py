"""Running one model segment (a head, a tail, any op range) with a reusable LiteRT interpreter.

Building an interpreter costs far more than running a small segment, so a
:class:`SegmentExecutor` builds one once and then only copies inputs in and outputs out, through
tensor indices looked up at construction. Inputs and outputs are addressed by tensor name, so
a head's outputs feed a tail directly. An executor is not thread-safe (neither is the
interpreter); share work between threads with :class:`~sciot.runtime.InterpreterPool`.
Bytes this process has not run before are first built and run in the sandbox worker
(``_sandbox``), so a model that would crash LiteRT is refused with an error instead.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from sciot.errors import ExecutionError, ModelError
from sciot.model import ModelGraph, TensorInfo, extract_segment

ModelSource = bytes | bytearray | memoryview | str | Path


def read_model_bytes(model: ModelSource) -> bytes:
    if isinstance(model, bytes | bytearray | memoryview):
        return bytes(model)
    try:
        return Path(model).read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model file {model}: {exc.strerror or exc}") from exc


_BANNER = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
_banner_lock = threading.Lock()
_banner_seen = False


def _new_interpreter(model_bytes: bytes, num_threads: int) -> Interpreter:
    """An allocated interpreter; see :func:`_build_quietly` for the stderr handling."""
    global _banner_seen
    if _banner_seen:
        return _allocated(model_bytes, num_threads)
    with _banner_lock:
        if _banner_seen:
            return _allocated(model_bytes, num_threads)
        interpreter = _build_quietly(model_bytes, num_threads)
        _banner_seen = True
        return interpreter


def _allocated(model_bytes: bytes, num_threads: int) -> Interpreter:
    interpreter = Interpreter(model_content=model_bytes, num_threads=num_threads)
    interpreter.allocate_tensors()
    return interpreter


def _build_quietly(model_bytes: bytes, num_threads: int) -> Interpreter:
    """Build an interpreter, keeping LiteRT's once-per-process XNNPACK banner off stderr.

    The native library prints that INFO line straight to file descriptor 2 the first time a
    delegate is created; it would break the CLI's promise of one clear line on stderr. Only the
    first construction in a process is wrapped: file descriptor 2 goes to a temporary file and
    everything else written there meanwhile is copied back, so no real message is lost.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            return _allocated(model_bytes, num_threads)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().splitlines(True) if _BANNER not in line]
            if kept:
                os.write(2, b"".join(kept))


class SegmentExecutor:
    """One LiteRT interpreter for one segment, built once, run many times."""

    __slots__ = (
        "_in_index",
        "_in_specs",
        "_inputs",
        "_interpreter",
        "_out_index",
        "_outputs",
        "model_bytes",
    )

    def __init__(self, model: ModelSource, *, num_threads: int = 1, sandboxed: bool = True) -> None:
        if num_threads < 1:
            raise ExecutionError(f"num_threads must be >= 1, got {num_threads}")
        self.model_bytes = read_model_bytes(model)
        if sandboxed:
            from sciot.runtime._sandbox import require_runnable

            require_runnable(self.model_bytes, num_threads)
        try:
            self._interpreter = _new_interpreter(self.model_bytes, num_threads)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"LiteRT cannot load this model: {_first_line(exc)}") from exc
        in_details = self._interpreter.get_input_details()
        out_details = self._interpreter.get_output_details()
        self._inputs = tuple(_tensor_info(d) for d in in_details)
        self._outputs = tuple(_tensor_info(d) for d in out_details)
        self._in_index = {d["name"]: int(d["index"]) for d in in_details}
        self._out_index = {d["name"]: int(d["index"]) for d in out_details}
        self._in_specs = {info.name: (info.shape, np.dtype(info.dtype)) for info in self._inputs}

    @classmethod
    def for_range(
        cls, graph: ModelGraph, start: int = 0, stop: int | None = None, *, num_threads: int = 1
    ) -> SegmentExecutor:
        """An executor of ops [start, stop) of ``graph``: cut ``start``'s tensors in, cut
        ``stop``'s out (the model's own inputs and outputs at the ends)."""
        stop = graph.num_ops if stop is None else stop
        if start == 0 and stop == graph.num_ops:
            return cls(graph.model_bytes, num_threads=num_threads)
        try:
            data = extract_segment(graph, start, stop)
        except ModelError as exc:
            raise ExecutionError(str(exc)) from exc
        return cls(data, num_threads=num_threads)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(self._in_index)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(self._out_index)

    @property
    def inputs(self) -> tuple[TensorInfo, ...]:
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorInfo, ...]:
        return self._outputs

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the segment once; outputs are fresh arrays the caller may keep."""
        self.set_inputs(inputs)
        self.invoke()
        return self.get_outputs()

    def set_inputs(self, inputs: Mapping[str, np.ndarray]) -> None:
        """Validate and copy inputs into the interpreter (the first third of :meth:`run`)."""
        check_inputs(self._in_specs, inputs)
        interpreter = self._interpreter
        try:
            for name, index in self._in_index.items():
                interpreter.set_tensor(index, inputs[name])
        except (ValueError, RuntimeError) as exc:
            raise ExecutionError(f"LiteRT rejected an input: {_first_line(exc)}") from exc

    def invoke(self) -> None:
        try:
            self._interpreter.invoke()
        except (ValueError, RuntimeError) as exc:
            raise ExecutionError(f"LiteRT failed to run the segment: {_first_line(exc)}") from exc

    def get_outputs(self) -> dict[str, np.ndarray]:
        # LiteRT hands 0-d tensors back as numpy scalars; a tail expects arrays.
        get = self._interpreter.get_tensor
        return {name: np.asarray(get(index)) for name, index in self._out_index.items()}


def check_inputs(
    specs: Mapping[str, tuple[tuple[int, ...], np.dtype[Any]]],
    inputs: Mapping[str, np.ndarray],
) -> None:
    """Raise ExecutionError naming the first missing, unexpected or mis-shaped input."""
    missing = [name for name in specs if name not in inputs]
    if missing:
        raise ExecutionError(f"missing input(s) {missing}; this segment expects {list(specs)}")
    if len(inputs) != len(specs):
        unknown = [name for name in inputs if name not in specs]
        raise ExecutionError(f"unknown input(s) {unknown}; this segment expects {list(specs)}")
    for name, (shape, dtype) in specs.items():
        array = inputs[name]
        if not isinstance(array, np.ndarray):
            raise ExecutionError(
                f"input {name!r} must be a numpy array, got {type(array).__name__}"
            )
        if array.dtype != dtype:
            raise ExecutionError(f"input {name!r} has dtype {array.dtype}, expected {dtype.name}")
        if array.shape != shape:
            raise ExecutionError(f"input {name!r} has shape {array.shape}, expected {shape}")


def _tensor_info(detail: Mapping[str, Any]) -> TensorInfo:
    dtype = np.dtype(detail["dtype"])
    shape = tuple(int(d) for d in detail["shape"])
    q = detail.get("quantization_parameters") or {}
    scales = tuple(float(s) for s in q.get("scales", ()))
    zero_points = tuple(int(z) for z in q.get("zero_points", ()))
    return TensorInfo(
        name=str(detail["name"]),
        shape=shape,
        dtype=dtype.name,
        nbytes=math.prod(shape) * dtype.itemsize,
        scale=scales,
        zero_point=zero_points if scales else (),
        quantized_dimension=int(q.get("quantized_dimension", 0)) if scales else 0,
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def names_of(infos: Sequence[TensorInfo]) -> tuple[str, ...]:
    return tuple(t.name for t in infos)
