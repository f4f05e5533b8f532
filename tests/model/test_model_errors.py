"""Bad model input gives a ModelError that says what was wrong, never a crash."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from sciot.errors import ModelError
from sciot.model import load_model
from sciot_test_models import ModelCache


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model file not found"):
        load_model(tmp_path / "nope.tflite")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="is a directory"):
        load_model(tmp_path)


@pytest.mark.parametrize("data", [b"", b"abc", b"hello world, not a model at all"])
def test_not_a_model(data: bytes) -> None:
    with pytest.raises(ModelError, match="not a TFLite model"):
        load_model(data)


def test_keras_file_is_named(tmp_path: Path) -> None:
    h5 = tmp_path / "model.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    with pytest.raises(ModelError, match="looks like a Keras model"):
        load_model(h5)


@pytest.mark.tensorflow
@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.5, 0.7, 0.9, 0.99])
def test_truncated_model(test_models: ModelCache, fraction: float) -> None:
    data = test_models.bytes("residual_f32")
    with pytest.raises(ModelError, match=r"corrupt|truncated|not a TFLite"):
        load_model(data[: int(len(data) * fraction)])


@pytest.mark.tensorflow
def test_corrupted_bytes_never_crash(test_models: ModelCache) -> None:
    # Flipped bytes either still parse (harmless weight changes) or raise ModelError.
    import numpy as np

    data = bytearray(test_models.bytes("residual_int8"))
    rng = np.random.default_rng(0)
    for _ in range(40):
        damaged = bytearray(data)
        for pos in rng.integers(8, len(data), size=8):
            damaged[int(pos)] ^= 0xFF
        with contextlib.suppress(ModelError):
            load_model(bytes(damaged))


@pytest.mark.tensorflow
def test_operators_out_of_execution_order(test_models: ModelCache) -> None:
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(test_models.bytes("residual_f32")))
    ops = model.subgraphs[0].operators
    ops[0], ops[1] = ops[1], ops[0]
    swapped = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    with pytest.raises(ModelError, match="not in execution order"):
        load_model(swapped)
