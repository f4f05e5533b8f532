"""Fixtures for the model toolkit tests: cached TensorFlow-built test models."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from keras_app_models import KerasAppCache

from sciot_test_models import ModelCache


@pytest.fixture(scope="session")
def test_models(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> ModelCache:
    # The pytest cache keeps built models across runs; without it (-p no:cacheprovider)
    # they are rebuilt once per session.
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        return ModelCache(cache.mkdir("sciot-test-models"))
    return ModelCache(tmp_path_factory.mktemp("sciot-test-models"))


@pytest.fixture(scope="session")
def keras_apps() -> KerasAppCache:
    """Keras applications converted four ways, built once per machine.

    Building the set costs minutes of TensorFlow conversion, so it lives in the user's cache
    directory (``SCIOT_TEST_CACHE`` overrides it), not in the checkout: a fresh clone on the
    same machine reuses it. File names carry the builder's hash and the TensorFlow version, so
    a changed builder or TensorFlow never reuses a stale model.
    """
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sciot"
    root = Path(os.environ.get("SCIOT_TEST_CACHE", default))
    return KerasAppCache(root / "keras-apps")
