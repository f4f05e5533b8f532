"""Fixtures for the edge tests."""

from __future__ import annotations

import pytest
from edge_testkit import Fomo, load_fomo


@pytest.fixture(scope="session")
def fomo() -> Fomo:
    """The demo model, an input, the full model's output and every cut's crossing tensors."""
    return load_fomo()
