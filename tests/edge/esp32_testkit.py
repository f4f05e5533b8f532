"""The ESP32 seed firmware's split MobileNetV2, rebuilt for the compatibility tests.

The seed's nodes run MobileNetV2 0.35/224 up to ``block_16_project_BN`` and send that uint8
7x7x112 activation (scale 0.1441399, zero point 121) raw. No pretrained weights are available
offline, so the network is built with ``weights=None``, its batch-norm statistics calibrated
on the training images (so activations have a useful range), and its classifier trained on a
three-class texture task (horizontal stripes, vertical stripes, checkerboards)
from the firmware-quantised activations. The tail (``Conv_1`` .. ``predictions``) is then
converted to full int8 with sciot's converter. Held-out images never seen in training or
calibration are passed through the head and quantised exactly as the firmware does.

Everything is seeded and cached on disk (pytest's cache) keyed by this file's hash.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SEED_SCALE = 0.1441399
SEED_ZERO_POINT = 121
CLASSES = 3
_SOURCE_HASH = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


@dataclass(frozen=True)
class Esp32Split:
    tail_tflite: bytes
    heldout_raw: np.ndarray  # (n, 7, 7, 112) uint8, as the firmware sends it
    heldout_labels: np.ndarray  # (n,)
    keras_classes: np.ndarray  # the float Keras whole model's class per held-out image


def _images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ii, jj = np.mgrid[0:224, 0:224]
    xs, ys = [], []
    for n in range(count):
        label = n % CLASSES
        period = int(rng.integers(12, 28))
        phase = int(rng.integers(0, period))
        grid_i = (ii + phase) // (period // 2) % 2
        grid_j = (jj + phase) // (period // 2) % 2
        pattern = [grid_i, grid_j, grid_i ^ grid_j][label]
        img = (pattern[..., None] * 2.0 - 1.0) * np.ones(3) + rng.normal(0, 0.3, (224, 224, 3))
        xs.append(img.astype(np.float32))
        ys.append(label)
    return np.stack(xs), np.array(ys)


def _firmware_quantise(features: np.ndarray) -> np.ndarray:
    q = np.rint(features / SEED_SCALE) + SEED_ZERO_POINT
    return np.clip(q, 0, 255).astype(np.uint8)


def _build() -> Esp32Split:
    from sciot.model._keras_legacy import import_keras
    from sciot.model.convert import convert_keras_model

    keras = import_keras()
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(
        input_shape=(224, 224, 3), alpha=0.35, weights=None, classes=CLASSES
    )
    cut = model.get_layer("block_16_project_BN")
    head = keras.Model(model.input, cut.output)
    train_x, train_y = _images(150, 1)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    model(train_x[:32], training=True)  # batch-norm statistics from real activations
    train_q = _firmware_quantise(head.predict(train_x, verbose=0, batch_size=16))
    train_real = (train_q.astype(np.float32) - SEED_ZERO_POINT) * SEED_SCALE
    inp = keras.Input((7, 7, 112))
    out = inp
    tail_layers = model.layers[model.layers.index(cut) + 1 :]
    for layer in tail_layers:
        out = layer(out)
    tail = keras.Model(inp, out)
    for layer in tail.layers[:-1]:
        layer.trainable = False
    tail.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    tail.fit(train_real, train_y, epochs=60, batch_size=16, verbose=0)
    test_x, test_y = _images(30, 99)
    test_q = _firmware_quantise(head.predict(test_x, verbose=0, batch_size=16))
    keras_classes = np.argmax(model.predict(test_x, verbose=0, batch_size=16), axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converted = convert_keras_model(tail, int8=True, calibration=train_real)
    return Esp32Split(
        tail_tflite=converted.tflite_bytes,
        heldout_raw=test_q,
        heldout_labels=test_y,
        keras_classes=keras_classes,
    )


def esp32_split(directory: Path) -> Esp32Split:
    """Build once per source version; later runs read the cached files (no TensorFlow)."""
    tail = directory / f"esp32-tail-{_SOURCE_HASH}.tflite"
    arrays = directory / f"esp32-heldout-{_SOURCE_HASH}.npz"
    if not (tail.exists() and arrays.exists()):
        import pytest

        pytest.importorskip("tensorflow")
        built = _build()
        np.savez(
            arrays,
            raw=built.heldout_raw,
            labels=built.heldout_labels,
            keras=built.keras_classes,
        )
        tail.write_bytes(built.tail_tflite)
        return built
    data: Any = np.load(arrays)
    return Esp32Split(
        tail_tflite=tail.read_bytes(),
        heldout_raw=data["raw"],
        heldout_labels=data["labels"],
        keras_classes=data["keras"],
    )
