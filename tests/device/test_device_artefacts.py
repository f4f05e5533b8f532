"""Cut artefacts: every head prepared once; profiled and plain head runs agree bit for bit."""

from __future__ import annotations

import time

import numpy as np
import pytest

from sciot.device import CutArtefacts
from sciot.errors import ExecutionError
from sciot.model import ModelGraph


@pytest.fixture(scope="module")
def artefacts(fomo_graph: ModelGraph) -> CutArtefacts:
    return CutArtefacts(fomo_graph)


def test_profiled_head_equals_plain_head_at_every_cut(
    artefacts: CutArtefacts, fomo_input: np.ndarray
) -> None:
    for cut in range(artefacts.num_ops + 1):
        plain = artefacts.run_head(cut, fomo_input, profile=False, clock=time.perf_counter)
        profiled = artefacts.run_head(cut, fomo_input, profile=True, clock=time.perf_counter)
        names = (
            artefacts.output_names
            if cut == artefacts.num_ops
            else artefacts.graph.cut(cut).tensor_names
        )
        assert tuple(plain.tensors) == tuple(profiled.tensors) == names
        for name in names:
            assert np.array_equal(plain.tensors[name], profiled.tensors[name]), (cut, name)
        assert profiled.op_seconds is not None
        assert len(profiled.op_seconds) == cut
        assert plain.op_seconds is None or cut == 0


def test_a_whole_model_run_op_by_op_keeps_any_earlier_cuts_tensors(
    artefacts: CutArtefacts, fomo_input: np.ndarray
) -> None:
    """What a probe sent alongside a device-only inference carries: the same tensors the
    head of its cut would send, from the one run the device makes anyway."""
    n = artefacts.num_ops
    full = artefacts.run_full(fomo_input)
    for keep in range(n):
        run = artefacts.run_head(n, fomo_input, profile=True, clock=time.perf_counter, keep=keep)
        head = artefacts.run_head(keep, fomo_input, profile=False, clock=time.perf_counter)
        assert run.kept is not None and tuple(run.kept) == tuple(head.tensors), keep
        assert all(np.array_equal(run.kept[k], v) for k, v in head.tensors.items()), keep
        assert all(np.array_equal(run.tensors[k], v) for k, v in full.items()), keep
    with pytest.raises(ExecutionError, match="op by op"):
        artefacts.run_head(n, fomo_input, profile=False, clock=time.perf_counter, keep=3)
    with pytest.raises(ExecutionError, match="op by op"):
        artefacts.run_head(6, fomo_input, profile=True, clock=time.perf_counter, keep=6)


def test_full_model_head_is_the_fallback(artefacts: CutArtefacts, fomo_input: np.ndarray) -> None:
    head = artefacts.run_head(artefacts.num_ops, fomo_input, profile=False, clock=time.perf_counter)
    full = artefacts.run_full(fomo_input)
    assert all(np.array_equal(head.tensors[n], full[n]) for n in full)


def test_every_cut_usable_and_out_of_range_not(artefacts: CutArtefacts) -> None:
    assert all(artefacts.usable(cut) for cut in range(artefacts.num_ops + 1))
    assert not artefacts.usable(-1)
    assert not artefacts.usable(artefacts.num_ops + 1)


def test_input_by_name_and_wrong_name(artefacts: CutArtefacts, fomo_input: np.ndarray) -> None:
    assert artefacts.prepare_input({artefacts.input_name: fomo_input}) is fomo_input
    with pytest.raises(ExecutionError, match="expected the input"):
        artefacts.prepare_input({"image": fomo_input})
