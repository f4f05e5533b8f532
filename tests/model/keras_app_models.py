"""Third-party-style test models: Keras applications converted the ways users convert them.

A new user's model is rarely one this project built: it is a stock architecture from
``keras.applications`` (here with ``weights=None``, seeded, at the smallest input each allows)
converted with one of the converter's usual settings. Those settings change the graph a lot:
float16 weights add a ``DEQUANTIZE`` per weight, dynamic-range quantisation gives hybrid
int8-weight kernels, full int8 quantises everything, and pruned weights with the sparsity
optimisation add ``DENSIFY`` ops. Every cut of each must run and chain bit-exactly.

Built once and cached as ``.tflite`` files; the cache key is this file's hash and the
TensorFlow version, so editing a builder or upgrading TensorFlow rebuilds.
Run as a script to build the whole set and print the time it took:
``.venv/bin/python tests/model/keras_app_models.py DIR``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

_SOURCE_HASH = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
SIZE = 32  # the smallest input these applications accept; keeps every cut check quick

ARCHITECTURES = ("mobilenetv3small", "efficientnetb0", "densenet121")
CONVERSIONS = ("f32", "int8", "f16", "dynamic")
# The two larger architectures take most of the build and check time; they are slow tests.
LARGE = frozenset({"efficientnetb0", "densenet121"})


def _tf() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import tensorflow as tf
    return tf


def _application(tf: Any, name: str) -> Any:
    tf.keras.utils.set_random_seed(0)
    apps = tf.keras.applications
    shape = (SIZE, SIZE, 3)
    if name == "mobilenetv3small":  # squeeze-excite blocks and hard-swish
        return apps.MobileNetV3Small(
            input_shape=shape, weights=None, classes=10, include_preprocessing=False
        )
    if name == "efficientnetb0":  # swish, squeeze-excite, dynamic reshapes
        return apps.EfficientNetB0(input_shape=shape, weights=None, classes=10)
    if name == "densenet121":  # long concatenation chains: many tensors cross a cut
        return apps.DenseNet121(input_shape=shape, weights=None, classes=10)
    raise KeyError(name)


def _pruned(tf: Any) -> Any:
    """A small CNN with 90% of every kernel zeroed, as magnitude pruning leaves it."""
    tf.keras.utils.set_random_seed(0)
    layers = tf.keras.layers
    inp = tf.keras.Input((16, 16, 3), batch_size=1, name="image")
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(inp)
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(128, activation="relu")(x)
    model = tf.keras.Model(inp, layers.Dense(10)(x))
    rng = np.random.default_rng(0)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            weights[0] = weights[0] * (rng.random(weights[0].shape) < 0.1)
            layer.set_weights(weights)
    return model


def _convert(tf: Any, model: Any, how: str) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if how == "int8":
        rng = np.random.default_rng(3)
        shape = tuple(int(d) for d in model.inputs[0].shape[1:])

        def representative() -> Any:
            for _ in range(4):
                yield [rng.random((1, *shape), dtype=np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif how == "f16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif how == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif how == "sparse":
        converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    elif how == "sparse_f16":
        converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY, tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif how != "f32":
        raise KeyError(how)
    return bytes(converter.convert())


def model_names() -> list[str]:
    names = [f"{arch}_{how}" for arch in ARCHITECTURES for how in CONVERSIONS]
    return [*names, "pruned_sparse", "pruned_sparse_f16"]


def is_large(name: str) -> bool:
    return name.split("_")[0] in LARGE


def build(name: str) -> bytes:
    tf = _tf()
    arch, how = name.split("_", 1)
    # The converter prints its saved-model signature (hundreds of lines) on stdout.
    with contextlib.redirect_stdout(io.StringIO()):
        if arch == "pruned":
            return _convert(tf, _pruned(tf), how)
        return _convert(tf, _application(tf, arch), how)


class KerasAppCache:
    """Builds each model at most once per builder version and TensorFlow version."""

    def __init__(self, directory: Path, *, build_fn: Callable[[str], bytes] = build) -> None:
        self._dir = directory
        self._build = build_fn

    def path(self, name: str) -> Path:
        target = self._dir / f"{name}-{_SOURCE_HASH}-tf{_tf_version()}.tflite"
        if not target.exists():
            self._dir.mkdir(parents=True, exist_ok=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data = self._build(name)
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(target)
        return target


def _tf_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("tensorflow-cpu", "tensorflow"):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return "none"


def main(argv: list[str]) -> None:
    cache = KerasAppCache(Path(argv[0]) if argv else Path("keras-app-models"))
    started = time.perf_counter()
    for name in model_names():
        t0 = time.perf_counter()
        path = cache.path(name)
        print(f"{name:<28} {path.stat().st_size:>11,} B {time.perf_counter() - t0:6.1f} s")
    print(f"total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
