"""The Keras models trained across the fleet and the one local training loop they share.

Both are small enough to train on a device-class CPU in seconds: ``sensor`` is a Conv1D
classifier of 128x3 windows (the ``sensor1d`` demo model's input and output), ``fomo`` a
FOMO-style detector whose 96x96 input becomes a 12x12 map of per-cell class probabilities.

:class:`LocalTrainer` is built once per process and reused for every round and every virtual
client that process serves: its step is a compiled ``tf.function`` and it keeps its own Adam
moments, which it zeroes at the start of each local fit, so no client's optimiser state leaks
into another's. FedProx's proximal term enters as its gradient ``mu * (w - w_global)``; with
``mu = 0`` the same step is plain FedAvg local training. TensorFlow is imported inside.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from sciot.errors import MissingExtraError
from sciot.federated._data import Dataset

Weights = list[npt.NDArray[np.float32]]

# FOMO's cells are mostly background: objects weigh this much more in the loss.
_FOMO_OBJECT_WEIGHT = 10.0
_ADAM_BETA1, _ADAM_BETA2, _ADAM_EPS = 0.9, 0.999, 1e-7


@dataclass(frozen=True, slots=True, kw_only=True)
class FitResult:
    loss: float
    examples: int


@dataclass(frozen=True, slots=True, kw_only=True)
class EvalResult:
    loss: float
    accuracy: float
    examples: int
    predictions: npt.NDArray[np.int64]


def import_tensorflow() -> ModuleType:
    """TensorFlow, imported quietly and with oneDNN's reordered arithmetic off (as sciot.model
    does), or the extra that provides it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    try:
        import tensorflow
    except ImportError as exc:
        raise MissingExtraError("tensorflow-cpu", "convert", "Federated training") from exc
    module: ModuleType = tensorflow
    return module


def import_keras() -> ModuleType:
    import_tensorflow()
    import keras

    module: ModuleType = keras
    return module


def build_model(kind: str, seed: int = 0) -> Any:
    """A freshly initialised Keras model of ``kind``: the same seed, the same initial weights.

    Every initializer carries its own seed: Keras's unseeded ones draw from process-wide
    state, so two models built in one process would start from different weights.
    """
    keras = import_keras()
    seeds = iter(range(seed * 1000, seed * 1000 + 1000))

    def init() -> Any:
        return keras.initializers.GlorotUniform(seed=next(seeds))

    if kind == "sensor":
        return _sensor_model(keras, init)
    return _fomo_model(keras, init)


def _sensor_model(keras: Any, init: Any) -> Any:
    conv = keras.layers.Conv1D
    inputs = keras.Input(shape=(128, 3), name="window")
    x = conv(16, 7, padding="same", activation="relu", kernel_initializer=init())(inputs)
    x = conv(24, 5, strides=2, padding="same", activation="relu", kernel_initializer=init())(x)
    x = conv(32, 3, strides=2, padding="same", activation="relu", kernel_initializer=init())(x)
    x = keras.layers.GlobalMaxPooling1D()(x)
    x = keras.layers.Dense(16, activation="relu", kernel_initializer=init())(x)
    outputs = keras.layers.Dense(2, activation="softmax", kernel_initializer=init())(x)
    return keras.Model(inputs, outputs, name="sensor_federated")


def _fomo_model(keras: Any, init: Any) -> Any:
    inputs = keras.Input(shape=(96, 96, 3), name="image")
    x = keras.layers.Conv2D(
        8, 3, strides=2, padding="same", activation="relu", kernel_initializer=init()
    )(inputs)
    for filters in (16, 24):
        x = keras.layers.DepthwiseConv2D(
            3, strides=2, padding="same", activation="relu", depthwise_initializer=init()
        )(x)
        x = keras.layers.Conv2D(filters, 1, activation="relu", kernel_initializer=init())(x)
    x = keras.layers.DepthwiseConv2D(
        3, padding="same", activation="relu", depthwise_initializer=init()
    )(x)
    x = keras.layers.Conv2D(32, 1, activation="relu", name="head", kernel_initializer=init())(x)
    outputs = keras.layers.Conv2D(
        4, 1, activation="softmax", name="cells", kernel_initializer=init()
    )(x)
    return keras.Model(inputs, outputs, name="fomo_federated")


class LocalTrainer:
    """One model and its compiled training step, reused across rounds and clients."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._tf = import_tensorflow()
        self.model = build_model(kind)
        tf = self._tf
        variables = self.model.trainable_variables
        self._global = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self._m = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self._v = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self._t = tf.Variable(0.0, trainable=False)
        self._step = tf.function(self._train_step, reduce_retracing=True)
        self._predict = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)

    def set_weights(self, weights: Weights) -> None:
        self.model.set_weights(weights)

    def get_weights(self) -> Weights:
        return [np.asarray(w, dtype=np.float32) for w in self.model.get_weights()]

    def fit(
        self,
        data: Dataset,
        *,
        epochs: int,
        batch_size: int,
        learning_rate: float,
        proximal_mu: float,
        seed: int,
    ) -> FitResult:
        """Local epochs of Adam from the current weights (which are also the global ones)."""
        tf = self._tf
        for g, v in zip(self._global, self.model.trainable_variables, strict=True):
            g.assign(v)
        for slot in (*self._m, *self._v):
            slot.assign(tf.zeros_like(slot))
        self._t.assign(0.0)
        rng = np.random.default_rng(seed)
        lr = tf.constant(learning_rate, tf.float32)
        mu = tf.constant(proximal_mu, tf.float32)
        losses: list[float] = []
        for _ in range(epochs):
            order = rng.permutation(len(data))
            for start in range(0, len(data), batch_size):
                batch = order[start : start + batch_size]
                loss = self._step(tf.constant(data.x[batch]), tf.constant(data.y[batch]), lr, mu)
                losses.append(float(loss))
        return FitResult(loss=float(np.mean(losses)) if losses else 0.0, examples=len(data))

    def _train_step(self, x: Any, y: Any, lr: Any, mu: Any) -> Any:
        tf = self._tf
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            probs = self.model(x, training=True)
            loss = self._loss(tf, y, probs)
        grads = tape.gradient(loss, variables)
        self._t.assign_add(1.0)
        correction = tf.sqrt(1.0 - _ADAM_BETA2**self._t) / (1.0 - _ADAM_BETA1**self._t)
        for var, grad, g, m, v in zip(
            variables, grads, self._global, self._m, self._v, strict=True
        ):
            grad = grad + mu * (var - g)
            m.assign(_ADAM_BETA1 * m + (1.0 - _ADAM_BETA1) * grad)
            v.assign(_ADAM_BETA2 * v + (1.0 - _ADAM_BETA2) * tf.square(grad))
            var.assign_sub(lr * correction * m / (tf.sqrt(v) + _ADAM_EPS))
        return loss

    def _loss(self, tf: Any, y: Any, probs: Any) -> Any:
        per_sample = tf.keras.losses.sparse_categorical_crossentropy(y, probs)
        if self.kind != "fomo":
            return tf.reduce_mean(per_sample)
        weights = tf.where(y > 0, _FOMO_OBJECT_WEIGHT, 1.0)
        return tf.reduce_sum(per_sample * weights) / tf.reduce_sum(weights)

    def evaluate(self, data: Dataset, batch_size: int = 256) -> EvalResult:
        """Loss (the training loss, weighted alike) and accuracy (per window or per cell)."""
        tf = self._tf
        probs = np.concatenate(
            [
                np.asarray(self._predict(tf.constant(data.x[s : s + batch_size])))
                for s in range(0, len(data), batch_size)
            ]
        )
        loss = float(self._loss(tf, tf.constant(data.y), tf.constant(probs)))
        predictions = probs.argmax(axis=-1).astype(np.int64)
        accuracy = float((predictions == data.y).mean())
        return EvalResult(loss=loss, accuracy=accuracy, examples=len(data), predictions=predictions)
