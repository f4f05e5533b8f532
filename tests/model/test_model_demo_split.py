"""Every shipped demo model splits bit-exactly at every cut (no TensorFlow needed)."""

from __future__ import annotations

import numpy as np
import pytest

from sciot.model import demo_names, load_model, resolve_model_path, split_all
from sciot.runtime import SegmentExecutor
from sciot_test_models import random_inputs

NAMES = demo_names()


@pytest.mark.skipif(not NAMES, reason="no demo models shipped")
@pytest.mark.parametrize("name", NAMES or ["none"])
def test_demo_model_every_cut_bit_exact(name: str) -> None:
    graph = load_model(resolve_model_path(name))
    feeds = random_inputs(graph.inputs, seed=42)
    full = SegmentExecutor(graph.model_bytes).run(feeds)
    checked = 0
    for split in split_all(graph):
        mid = SegmentExecutor(split.head).run(feeds) if split.head else feeds
        assert set(mid) == set(split.cut.tensor_names)
        out = SegmentExecutor(split.tail).run(mid) if split.tail else mid
        for key, expected in full.items():
            assert out[key].dtype == expected.dtype
            assert np.array_equal(out[key], expected), f"{name} cut {split.cut.index}: {key}"
        checked += 1
    assert checked == graph.num_ops + 1
