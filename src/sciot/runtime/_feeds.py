"""Inputs made up for checking a model: zeros to probe it, seeded noise to compare outputs.

Random inputs cover each dtype's whole range (integers from min to max, floats from a standard
normal), so a comparison between a full model and its chained halves exercises saturation and
sign paths too, not only the values a calibrated input would take.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sciot.model import TensorInfo


def zero_feeds(infos: Sequence[TensorInfo]) -> dict[str, np.ndarray]:
    return {t.name: np.zeros(t.shape, dtype=np.dtype(t.dtype)) for t in infos}


def random_feeds(infos: Sequence[TensorInfo], seed: int) -> dict[str, np.ndarray]:
    """Seeded inputs matching ``infos`` (any dtype LiteRT accepts)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for info in infos:
        dtype = np.dtype(info.dtype)
        if dtype.kind == "f":
            array = rng.standard_normal(info.shape).astype(dtype)
        elif dtype.kind in "iu":
            bounds = np.iinfo(dtype)
            array = rng.integers(bounds.min, bounds.max, size=info.shape, endpoint=True)
            array = array.astype(dtype)
        else:
            array = rng.integers(0, 2, size=info.shape).astype(dtype)
        feeds[info.name] = array
    return feeds
