"""Small TFLite test models built with TensorFlow, cached on disk between test runs.

Each builder returns ``.tflite`` bytes for a graph shape the model toolkit must handle: a
residual / multi-branch CNN (float32, int8 per-channel, int8 per-tensor), a model with several
inputs and outputs (one output produced early, one input used only late), models whose main
graph calls subgraphs through WHILE (a ``tf.while_loop`` and stacked GRUs), and a model with a
resource variable, which some cuts cannot split. Builds are seeded; the cache key includes this
file's hash and the TensorFlow version, so editing a builder rebuilds it.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from reference_data import FOMO_DIR, require_reference

_SOURCE_HASH = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def _tf() -> Any:
    import pytest

    return pytest.importorskip("tensorflow")


def _residual_keras(tf: Any) -> Any:
    tf.keras.utils.set_random_seed(7)
    layers = tf.keras.layers
    inp = tf.keras.Input((16, 16, 3), batch_size=1, name="image")
    a = layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    b = layers.Conv2D(8, 3, padding="same")(a)
    r = layers.ReLU()(layers.Add()([a, b]))
    c = layers.Conv2D(8, 1)(r)
    d = layers.DepthwiseConv2D(3, padding="same")(r)
    x = layers.Concatenate()([c, d])
    x = layers.Conv2D(6, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Dense(5, activation="softmax")(x)
    return tf.keras.Model(inp, out)


def _convert(tf: Any, model: Any, *, int8: bool = False, per_tensor: bool = False) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        rng = np.random.default_rng(3)
        shapes = [tuple(int(d) for d in t.shape[1:]) for t in model.inputs]

        def representative() -> Any:
            for _ in range(16):
                yield [rng.random((1, *s), dtype=np.float32) for s in shapes]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        if per_tensor:
            converter._experimental_disable_per_channel = True
    return bytes(converter.convert())


def residual_f32() -> bytes:
    tf = _tf()
    return _convert(tf, _residual_keras(tf))


def residual_int8() -> bytes:
    tf = _tf()
    return _convert(tf, _residual_keras(tf), int8=True)


def residual_int8_per_tensor() -> bytes:
    tf = _tf()
    return _convert(tf, _residual_keras(tf), int8=True, per_tensor=True)


def multi_io_f32() -> bytes:
    tf = _tf()
    tf.keras.utils.set_random_seed(11)
    layers = tf.keras.layers
    img = tf.keras.Input((8, 8, 2), batch_size=1, name="img")
    vec = tf.keras.Input((4,), batch_size=1, name="vec")
    a = layers.Conv2D(4, 3, padding="same", activation="relu")(img)
    early = layers.GlobalAveragePooling2D(name="early")(a)
    b = layers.Conv2D(4, 3, padding="same", activation="relu")(a)
    x = layers.Dense(6, activation="relu")(layers.Flatten()(b))
    late = layers.Add(name="late")([layers.Dense(3)(x), layers.Dense(3)(vec)])
    return _convert(tf, tf.keras.Model([img, vec], [early, late]))


def while_loop_f32() -> bytes:
    tf = _tf()
    rng = np.random.default_rng(5)
    w = tf.constant(rng.normal(size=(6, 6)).astype(np.float32) * 0.5)
    w_in = tf.constant(rng.normal(size=(4, 6)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec((1, 4), tf.float32)])
    def step(x: Any) -> Any:
        h = tf.nn.relu(tf.matmul(x, w_in))
        i = tf.constant(0)
        _, h = tf.while_loop(
            lambda i, h: i < 3, lambda i, h: (i + 1, tf.tanh(tf.matmul(h, w) + h)), (i, h)
        )
        return tf.reduce_sum(h * 2.0, axis=1, keepdims=True) + 1.0

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [step.get_concrete_function()], step
    )
    return bytes(converter.convert())


def gru_f32() -> bytes:
    """Two stacked GRUs: the converter lowers each to a WHILE calling two subgraphs."""
    tf = _tf()
    tf.keras.utils.set_random_seed(13)
    inp = tf.keras.Input((6, 3), batch_size=1, name="series")
    x = tf.keras.layers.GRU(5, return_sequences=True)(inp)
    x = tf.keras.layers.GRU(4)(x)
    return _convert(tf, tf.keras.Model(inp, tf.keras.layers.Dense(2)(x)))


def stateful_f32() -> bytes:
    """A resource variable updated on every call (VAR_HANDLE, ASSIGN_VARIABLE, CALL_ONCE)."""
    tf = _tf()
    w = tf.constant(np.random.default_rng(0).normal(size=(4, 4)).astype(np.float32))

    class Accumulator(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.total = tf.Variable(tf.zeros((1, 4)))

        @tf.function(input_signature=[tf.TensorSpec((1, 4), tf.float32)])
        def __call__(self, x: Any) -> Any:
            h = tf.tanh(tf.matmul(x, w))
            self.total.assign_add(h)
            return tf.matmul(self.total.read_value(), w) * 2.0 + h

    module = Accumulator()
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.__call__.get_concrete_function()], module
    )
    converter.experimental_enable_resource_variables = True
    return bytes(converter.convert())


REFERENCE_FOMO = FOMO_DIR / "test_model.h5"


def _sciot_fomo(int8: bool) -> bytes:
    require_reference()
    _tf()
    from sciot.model.convert import convert_keras

    return convert_keras(REFERENCE_FOMO, int8=int8, num_calibration=16, seed=0).tflite_bytes


def sciot_fomo96_f32() -> bytes:
    """The SCIoT FOMO 96x96 reference model, converted by sciot's own converter."""
    return _sciot_fomo(int8=False)


def sciot_fomo96_int8() -> bytes:
    return _sciot_fomo(int8=True)


BUILDERS: dict[str, Callable[[], bytes]] = {
    "residual_f32": residual_f32,
    "residual_int8": residual_int8,
    "residual_int8_per_tensor": residual_int8_per_tensor,
    "multi_io_f32": multi_io_f32,
    "while_loop_f32": while_loop_f32,
    "gru_f32": gru_f32,
    "stateful_f32": stateful_f32,
    "sciot_fomo96_f32": sciot_fomo96_f32,
    "sciot_fomo96_int8": sciot_fomo96_int8,
}


class ModelCache:
    """Builds each test model at most once per source version, keeping the bytes on disk."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory

    def path(self, name: str) -> Path:
        target = self._dir / f"{name}-{_SOURCE_HASH}.tflite"
        if not target.exists():
            with warnings.catch_warnings():
                # The converter warns about its own defaults (quantised input statistics).
                warnings.simplefilter("ignore")
                data = BUILDERS[name]()
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(target)
        return target

    def bytes(self, name: str) -> bytes:
        return self.path(name).read_bytes()


def random_inputs(infos: Any, seed: int) -> dict[str, np.ndarray]:
    """Seeded inputs matching a model's input TensorInfos: the run check's own generator."""
    from sciot.runtime._feeds import random_feeds

    return random_feeds(infos, seed)
