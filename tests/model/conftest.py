"""Fixtures for the model toolkit tests: cached TensorFlow-built test models."""

from __future__ import annotations

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
def keras_apps(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> KerasAppCache:
    """Keras applications converted four ways, built once and kept in the pytest cache."""
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        return KerasAppCache(cache.mkdir("sciot-keras-apps"))
    return KerasAppCache(tmp_path_factory.mktemp("sciot-keras-apps"))
