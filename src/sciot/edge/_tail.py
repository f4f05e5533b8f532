"""The tail service: checks the tensors a device sent for a cut and runs the tail on them.

Transport-independent and stateless beyond the prepared models: the frame router hands it a
served model, a cut and the decoded tensors; it answers with a one-line problem (wrong names,
shapes or dtypes) or with the result tensors and the edge seconds they took. How a tail runs
is a :data:`~sciot.edge._delays.TailRun`: by default the model's interpreter pool, wrapped in
a :class:`~sciot.edge._delays.DelayedTail` when a slower edge is emulated.
"""

from __future__ import annotations

import time

import numpy as np

from sciot.edge._delays import TailRun
from sciot.edge._models import ServedModel
from sciot.wire import Tensor


def run_on_pool(
    model: ServedModel, cut: int, inputs: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Ops [cut, N) on one of the cut's pooled interpreters (an interpreter is not
    thread-safe, so each run borrows one)."""
    pool = model.tails[cut]
    assert pool is not None
    with pool.acquire() as executor:
        return executor.run(inputs)


class TailService:
    """Validates crossing tensors and runs tails through ``run_tail``."""

    def __init__(self, run_tail: TailRun = run_on_pool) -> None:
        self._run_tail = run_tail

    @staticmethod
    def check(model: ServedModel, cut: int, tensors: tuple[Tensor, ...]) -> str | None:
        """What is wrong with ``tensors`` for ``cut``, or ``None``: names in any order, each
        with the shape and dtype the cut's crossing has."""
        spec = model.crossing[cut]
        names = tuple(t.name for t in tensors)
        if names != spec.names:
            if sorted(names) != sorted(spec.names):
                return f"cut {cut} expects tensors {list(spec.names)}, got {list(names)}"
            order = {name: i for i, name in enumerate(names)}
            tensors = tuple(tensors[order[name]] for name in spec.names)
        for tensor, shape, dtype in zip(tensors, spec.shapes, spec.dtypes, strict=True):
            array = tensor.array
            if array.shape != shape or array.dtype != dtype:
                return (
                    f"tensor {tensor.name!r} at cut {cut} must be {dtype.name}{list(shape)}, "
                    f"got {array.dtype.name}{list(array.shape)}"
                )
        return None

    def run(
        self, model: ServedModel, cut: int, tensors: tuple[Tensor, ...]
    ) -> tuple[tuple[Tensor, ...], float]:
        """The result tensors of ops [cut, N) and the seconds they took (emulated delay
        included); the caller has checked the tensors and that the cut has a tail."""
        started = time.perf_counter()
        outputs = self._run_tail(model, cut, {t.name: t.array for t in tensors})
        edge_s = time.perf_counter() - started
        return _result_tensors(model, outputs), edge_s


def _result_tensors(model: ServedModel, outputs: dict[str, np.ndarray]) -> tuple[Tensor, ...]:
    results = []
    for info in model.outputs:
        per_tensor = len(info.scale) == 1
        results.append(
            Tensor(
                name=info.name,
                array=outputs[info.name],
                scale=info.scale[0] if per_tensor else 0.0,
                zero_point=info.zero_point[0] if per_tensor else 0,
            )
        )
    return tuple(results)


__all__ = ["TailService", "run_on_pool"]
