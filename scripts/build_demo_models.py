"""Rebuild the demo models shipped in ``sciot.model.zoo``: train, convert, score, describe.

Two small models, each trained from seeded synthetic data so anyone can rerun this and get
models whose outputs mean something:

- ``fomo96``: a FOMO-style detector (MobileNetV2 alpha 0.35 cut after ``block_6_expand_relu``,
  a 1x1 conv head, 12x12 centroid map with softmax over background/circle/square/triangle),
  input 96x96x3 float in [0, 1].
- ``sensor1d``: a Conv1D classifier of 128-sample, 3-channel sensor windows (normal vs
  anomalous).

Each is written as float32 and full-int8 TFLite with a JSON metadata file; accuracies are
measured with LiteRT on a held-out synthetic set and written to the metadata and the zoo
README. Needs the ``convert`` extra (TensorFlow). Bounded time: a few minutes on 2 cores.

    .venv/bin/python scripts/build_demo_models.py            # full build
    .venv/bin/python scripts/build_demo_models.py --quick    # short training, smoke test
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from sciot.model.convert import ConversionResult, IOSpec, convert_keras_model
from sciot.model.zoo import (
    FOMO_CLASSES,
    SENSOR_CLASSES,
    SENSOR_FAULTS,
    score_fomo,
    synthetic_fomo_scenes,
    synthetic_sensor_windows,
)

ZOO_DIR = Path(__file__).resolve().parents[1] / "src" / "sciot" / "model" / "zoo"
MAX_MODEL_BYTES = 1_000_000
OBJECT_CELL_WEIGHT = 20.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    fomo_train: int
    fomo_epochs: int
    sensor_train: int
    sensor_epochs: int
    eval_count: int
    calibration_count: int


FULL = Budget(
    fomo_train=3000,
    fomo_epochs=15,
    sensor_train=8000,
    sensor_epochs=40,
    eval_count=1000,
    calibration_count=200,
)
QUICK = Budget(
    fomo_train=800,
    fomo_epochs=3,
    sensor_train=1000,
    sensor_epochs=3,
    eval_count=200,
    calibration_count=50,
)


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short training (smoke test)")
    parser.add_argument("--out", type=Path, default=ZOO_DIR, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=("fomo96", "sensor1d"), default=None)
    parser.add_argument("--fomo-epochs", type=int, default=None, help="override the budget")
    parser.add_argument("--fomo-train", type=int, default=None, help="override the budget")
    args = parser.parse_args(argv)
    budget = QUICK if args.quick else FULL
    overrides = {"fomo_epochs": args.fomo_epochs, "fomo_train": args.fomo_train}
    budget = Budget(**{**_fields(budget), **{k: v for k, v in overrides.items() if v}})

    from sciot.model._keras_legacy import import_keras, import_tensorflow

    tf = import_tensorflow()
    keras = import_keras()
    tf.config.experimental.enable_op_determinism()
    args.out.mkdir(parents=True, exist_ok=True)

    rows: list[tuple[str, str, int, str]] = []
    if args.only in (None, "fomo96"):
        rows += build_fomo(keras, budget, args.seed, args.out, tf.__version__)
    if args.only in (None, "sensor1d"):
        rows += build_sensor(keras, budget, args.seed, args.out, tf.__version__)
    write_readme(args.out)
    print(f"{'model':<16} {'dtype':<8} {'bytes':>8}  accuracy")
    for name, dtype, size, accuracy in rows:
        print(f"{name:<16} {dtype:<8} {size:>8}  {accuracy}")
    return 0


def _fields(budget: Budget) -> dict[str, int]:
    return {f: getattr(budget, f) for f in budget.__slots__}


# --- FOMO ------------------------------------------------------------------------------------


def fomo_keras_model(keras: Any) -> Any:
    """MobileNetV2 (alpha 0.35, random init) cut at stride 8, plus the FOMO head."""
    backbone = keras.applications.MobileNetV2(
        input_shape=(96, 96, 3), alpha=0.35, include_top=False, weights=None
    )
    features = backbone.get_layer("block_6_expand_relu").output
    head = keras.layers.Conv2D(32, 1, activation="relu", name="head")(features)
    logits = keras.layers.Conv2D(len(FOMO_CLASSES), 1, name="logits")(head)
    probs = keras.layers.Softmax(name="softmax")(logits)
    model = keras.Model(backbone.input, probs, name="fomo96")
    for layer in model.layers:
        # Keras's MobileNetV2 uses momentum 0.999, tuned for ImageNet-length runs; over a few
        # hundred steps the moving statistics would stay near their initial values.
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    return model


def build_fomo(
    keras: Any, budget: Budget, seed: int, out: Path, tf_version: str
) -> list[tuple[str, str, int, str]]:
    started = time.monotonic()
    keras.utils.set_random_seed(seed)  # each model reproducible alone (--only) or in a full run
    log(f"fomo96: generating {budget.fomo_train} training scenes")
    train = synthetic_fomo_scenes(budget.fomo_train, seed=seed + 1)
    held_out = synthetic_fomo_scenes(budget.eval_count, seed=seed + 2)
    model = fomo_keras_model(keras)
    weights = np.where(train.targets > 0, OBJECT_CELL_WEIGHT, 1.0).astype(np.float32)
    schedule = keras.optimizers.schedules.CosineDecay(
        3e-3, decay_steps=budget.fomo_epochs * (budget.fomo_train // 32 + 1)
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(),
    )
    log(f"fomo96: training {budget.fomo_epochs} epochs")
    model.fit(
        train.images,
        train.targets,
        sample_weight=weights,
        batch_size=32,
        epochs=budget.fomo_epochs,
        shuffle=True,
        verbose=2,
    )
    train_s = time.monotonic() - started
    rows: list[tuple[str, str, int, str]] = []
    for int8 in (False, True):
        result = convert_keras_model(
            model,
            int8=int8,
            calibration=train.images[: budget.calibration_count] if int8 else None,
            num_calibration=budget.calibration_count,
            seed=seed,
            progress=log,
            source="scripts/build_demo_models.py (fomo96)",
        )
        predicted = run_tflite(result, held_out.images).argmax(axis=-1)
        score = score_fomo(predicted, held_out.targets)
        name = "fomo96_int8" if int8 else "fomo96"
        accuracy = {
            "metric": "centroid detection on held-out synthetic scenes (match within 1.5 cells)",
            "eval_samples": budget.eval_count,
            "precision": round(score.precision, 4),
            "recall": round(score.recall, 4),
            "f1": round(score.f1, 4),
        }
        write_model(
            out,
            name,
            result,
            task="fomo",
            description=(
                "FOMO-style centroid detector: truncated MobileNetV2 (alpha 0.35) + 1x1 conv "
                "head; 12x12 map, softmax over the classes, one cell per object centroid"
            ),
            input_range=(0.0, 1.0),
            class_names=FOMO_CLASSES,
            accuracy=accuracy,
            build={
                "script": "scripts/build_demo_models.py",
                "seed": seed,
                "train_samples": budget.fomo_train,
                "epochs": budget.fomo_epochs,
                "object_cell_weight": OBJECT_CELL_WEIGHT,
                "train_seconds": round(train_s, 1),
                "tensorflow": tf_version,
            },
        )
        rows.append(
            (
                name,
                result.quantization,
                result.size_bytes,
                f"P={score.precision:.3f} R={score.recall:.3f} F1={score.f1:.3f}",
            )
        )
    return rows


# --- sensor ----------------------------------------------------------------------------------


def sensor_keras_model(keras: Any) -> Any:
    """Four Conv1D layers (three strided), global max pooling (faults are local), dense head."""
    inputs = keras.Input(shape=(128, 3), name="window")
    x = keras.layers.Conv1D(24, 7, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv1D(32, 5, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv1D(48, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv1D(64, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.GlobalMaxPooling1D()(x)
    x = keras.layers.Dense(32, activation="relu")(x)
    x = keras.layers.Dense(len(SENSOR_CLASSES))(x)
    outputs = keras.layers.Softmax()(x)
    return keras.Model(inputs, outputs, name="sensor1d")


def build_sensor(
    keras: Any, budget: Budget, seed: int, out: Path, tf_version: str
) -> list[tuple[str, str, int, str]]:
    started = time.monotonic()
    keras.utils.set_random_seed(seed)
    train = synthetic_sensor_windows(budget.sensor_train, seed=seed + 11)
    held_out = synthetic_sensor_windows(budget.eval_count, seed=seed + 12)
    model = sensor_keras_model(keras)
    schedule = keras.optimizers.schedules.CosineDecay(
        3e-3, decay_steps=budget.sensor_epochs * (budget.sensor_train // 64 + 1)
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(),
    )
    log(f"sensor1d: training {budget.sensor_epochs} epochs on {budget.sensor_train} windows")
    model.fit(
        train.windows,
        train.labels,
        batch_size=64,
        epochs=budget.sensor_epochs,
        shuffle=True,
        verbose=2,
    )
    train_s = time.monotonic() - started
    rows: list[tuple[str, str, int, str]] = []
    for int8 in (False, True):
        result = convert_keras_model(
            model,
            int8=int8,
            calibration=train.windows[: budget.calibration_count] if int8 else None,
            num_calibration=budget.calibration_count,
            seed=seed,
            progress=log,
            source="scripts/build_demo_models.py (sensor1d)",
        )
        predicted = run_tflite(result, held_out.windows).argmax(axis=-1)
        scores = binary_scores(predicted, held_out.labels)
        faults = np.asarray(held_out.faults)
        for fault in SENSOR_FAULTS:
            scores[f"recall_{fault}"] = round(float(np.mean(predicted[faults == fault] == 1)), 4)
        name = "sensor1d_int8" if int8 else "sensor1d"
        write_model(
            out,
            name,
            result,
            task="classification",
            description=(
                "Conv1D classifier of 128-sample, 3-channel sensor windows: normal vs anomalous "
                "(spike, level shift, stuck sensor, high-frequency or noise burst)"
            ),
            input_range=(-2.5, 2.5),
            class_names=SENSOR_CLASSES,
            accuracy={
                "metric": "window classification on held-out synthetic windows (50% anomalous)",
                "eval_samples": budget.eval_count,
                **scores,
            },
            build={
                "script": "scripts/build_demo_models.py",
                "seed": seed,
                "train_samples": budget.sensor_train,
                "epochs": budget.sensor_epochs,
                "train_seconds": round(train_s, 1),
                "tensorflow": tf_version,
            },
        )
        rows.append(
            (
                name,
                result.quantization,
                result.size_bytes,
                f"acc={scores['accuracy']:.3f} F1={scores['f1']:.3f}",
            )
        )
    return rows


def binary_scores(
    predicted: npt.NDArray[np.integer], labels: npt.NDArray[np.integer]
) -> dict[str, float]:
    tp = int(np.sum((predicted == 1) & (labels == 1)))
    fp = int(np.sum((predicted == 1) & (labels == 0)))
    fn = int(np.sum((predicted == 0) & (labels == 1)))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": round(float(np.mean(predicted == labels)), 4),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
    }


# --- shared ----------------------------------------------------------------------------------


def run_tflite(result: ConversionResult, samples: npt.NDArray[np.float32]) -> npt.NDArray[Any]:
    """Run the converted model over ``samples`` with LiteRT, dequantising int8 I/O."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=result.tflite_bytes)
    interpreter.allocate_tensors()
    (inp,) = interpreter.get_input_details()
    (out,) = interpreter.get_output_details()
    quantize_in = _quantizer(result.inputs[0])
    spec_out = result.outputs[0]
    outputs = []
    for sample in samples:
        interpreter.set_tensor(inp["index"], quantize_in(sample[np.newaxis]))
        interpreter.invoke()
        raw = interpreter.get_tensor(out["index"])[0]
        if spec_out.quantized:
            raw = (raw.astype(np.float32) - spec_out.zero_point) * spec_out.scale
        outputs.append(raw)
    return np.stack(outputs)


def _quantizer(spec: IOSpec) -> Callable[[npt.NDArray[np.float32]], npt.NDArray[Any]]:
    if not spec.quantized:
        return lambda x: x.astype(np.float32)
    scale, zero_point = spec.scale, spec.zero_point
    return lambda x: np.clip(np.round(x / scale) + zero_point, -128, 127).astype(np.int8)


def write_model(
    out: Path,
    name: str,
    result: ConversionResult,
    *,
    task: str,
    description: str,
    input_range: tuple[float, float],
    class_names: tuple[str, ...],
    accuracy: dict[str, Any],
    build: dict[str, Any],
) -> None:
    if result.size_bytes >= MAX_MODEL_BYTES:
        raise SystemExit(f"{name} is {result.size_bytes} bytes; the zoo limit is 1 MB")
    tflite_path = out / f"{name}.tflite"
    _replace(tflite_path, result.tflite_bytes)

    def io(spec: IOSpec) -> dict[str, Any]:
        return {
            "shape": list(spec.shape),
            "dtype": spec.dtype,
            "scale": spec.scale,
            "zero_point": spec.zero_point,
        }

    metadata = {
        "name": name,
        "file": tflite_path.name,
        "size_bytes": result.size_bytes,
        "sha256": hashlib.sha256(result.tflite_bytes).hexdigest(),
        "task": task,
        "description": description,
        "quantization": result.quantization,
        "input": {**io(result.inputs[0]), "range": list(input_range)},
        "output": io(result.outputs[0]),
        "class_names": list(class_names),
        "accuracy": accuracy,
        "calibration": result.calibration,
        "build": build,
    }
    _replace(out / f"{name}.json", (json.dumps(metadata, indent=2) + "\n").encode())
    log(f"wrote {tflite_path} ({result.size_bytes} bytes)")


def _replace(path: Path, data: bytes) -> None:
    """Write beside, then rename: readers never see a half-written model."""
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def write_readme(out: Path) -> None:
    """Regenerate the zoo README's model table from the metadata files."""
    lines = [
        "# Demo models",
        "",
        "Small TFLite models shipped inside the package so every sciot feature can be tried",
        "without TensorFlow or a model of your own. Get one with",
        "`sciot.model.demo_model_path(name)`, its metadata with `demo_model_info(name)`, and a",
        "valid input with `load_demo_input(name, seed)`.",
        "",
        "They are rebuilt, deterministically, by `scripts/build_demo_models.py` (needs the",
        "`convert` extra; a few minutes on 2 cores). The script generates seeded synthetic",
        "training data, trains the Keras models from scratch, converts each to float32 and",
        "full int8 (int8 weights, activations, inputs and outputs; calibrated on 200 training",
        "samples), scores both with LiteRT on a held-out synthetic set and writes the files",
        "below with one JSON metadata file per model. Do not edit this file by hand: the",
        "script writes it.",
        "",
        "| model | input | output | bytes | accuracy (held-out synthetic) |",
        "|---|---|---|---:|---|",
    ]
    for meta_path in sorted(out.glob("*.json")):
        meta = json.loads(meta_path.read_text())
        inp, outp, acc = meta["input"], meta["output"], meta["accuracy"]
        shown = ", ".join(
            f"{key} {acc[key]:.3f}"
            for key in ("accuracy", "precision", "recall", "f1")
            if key in acc
        )
        lines.append(
            f"| `{meta['name']}` | {'x'.join(map(str, inp['shape']))} {inp['dtype']} "
            f"| {'x'.join(map(str, outp['shape']))} {outp['dtype']} | {meta['size_bytes']} "
            f"| {shown} (n={acc['eval_samples']}) |"
        )
    lines += [
        "",
        "## fomo96",
        "",
        "A FOMO-style detector: MobileNetV2 (alpha 0.35) cut after `block_6_expand_relu`",
        "(stride 8), a 32-filter 1x1 conv head and a 1x1 conv to the classes, softmax per cell.",
        "Input 96x96 RGB float in [0, 1]; output a 12x12 map of class probabilities over",
        "`background, circle, square, triangle`: the cell holding an object's centroid carries",
        "its class. Trained on coloured shapes on shaded, noisy backgrounds. Accuracy: a",
        "detection is a group of neighbouring cells of one class; it is correct when an object",
        "of that class has its centroid within 1.5 cells.",
        "",
        "## sensor1d",
        "",
        "A Conv1D classifier of sensor windows: 128 samples x 3 channels of periodic signals",
        "with noise (float, mostly within [-2.5, 2.5]); output probabilities of",
        "`normal, anomalous`. Anomalous windows carry one fault on one channel: a spike, a level",
        "shift, a stuck sensor, a high-frequency burst or a noise burst.",
        *_fault_recall_lines(out),
        "",
        "## int8 models",
        "",
        "`*_int8` models take and return int8: quantise an input with",
        "`q = round(x / scale) + zero_point` using the input's `scale` and `zero_point` from the",
        "metadata (`load_demo_input` does this), and dequantise outputs the same way backwards.",
        "",
    ]
    (out / "README.md").write_text("\n".join(lines))


def _fault_recall_lines(out: Path) -> list[str]:
    meta_path = out / "sensor1d.json"
    if not meta_path.is_file():
        return []
    accuracy = json.loads(meta_path.read_text())["accuracy"]
    shown = ", ".join(
        f"{fault.replace('_', ' ')} {accuracy[f'recall_{fault}']:.2f}"
        for fault in SENSOR_FAULTS
        if f"recall_{fault}" in accuracy
    )
    return ["", f"Recall by fault (float32): {shown}."] if shown else []


if __name__ == "__main__":
    raise SystemExit(main())
