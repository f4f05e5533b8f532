"""The trained global model becomes what the rest of sciot runs: validated, split TFLite.

After the last round the ServerApp converts the Keras model to TFLite float32 and full int8
(calibrated on samples of the clients' own training data), runs both with LiteRT on the
held-out set and compares their predicted classes with Keras's (per window, or per FOMO
cell), then analyses the int8 model and splits it at every cut with the model toolkit, and
checks that one interior head/tail pair chains to the full model's output bit for bit.
Files in the run directory: ``model.tflite`` (int8, what devices and the edge serve),
``model_float32.tflite``, ``analysis.json``, ``splits/`` (heads, tails, manifest) and the
report in ``summary.json``. Agreement below ``MIN_AGREEMENT`` fails the run after the files
are written, so the user can inspect them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from sciot.errors import ModelError
from sciot.federated._data import held_out_set, pooled_train_set
from sciot.federated._models import LocalTrainer
from sciot.federated._settings import FederatedSettings
from sciot.model import (
    ConversionResult,
    convert_keras_model,
    describe_graph,
    load_model,
    split_model,
    write_splits,
)
from sciot.runtime import SegmentExecutor

MIN_AGREEMENT = 0.99


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportReport:
    """What the export produced and how closely the TFLite models follow Keras."""

    model_path: str
    float32_path: str
    int8_bytes: int
    float32_bytes: int
    calibration_samples: int
    float32_agreement: float
    int8_agreement: float
    int8_accuracy: float
    validated_on: int
    num_ops: int
    splittable_cuts: int
    split_dir: str
    chained_cut: int
    chain_bit_exact: bool


def export_model(trainer: LocalTrainer, settings: FederatedSettings, out: Path) -> ExportReport:
    """Convert, validate, analyse and split the trainer's current model into ``out``."""
    model = trainer.model
    train = pooled_train_set(settings)
    rng = np.random.default_rng(settings.seed)
    count = min(settings.calibration_samples, len(train))
    calibration = train.x[rng.choice(len(train), size=count, replace=False)]
    float32 = convert_keras_model(model, source=f"federated {settings.model} model")
    int8 = convert_keras_model(
        model,
        int8=True,
        calibration=calibration,
        num_calibration=count,
        source=f"federated {settings.model} model",
    )
    model_path = int8.write(out / "model.tflite")
    float32_path = float32.write(out / "model_float32.tflite")

    test = held_out_set(settings)
    reference = trainer.evaluate(test).predictions
    f32_pred = _tflite_classes(float32, test.x)
    i8_pred = _tflite_classes(int8, test.x)
    graph = load_model(model_path)
    (out / "analysis.json").write_text(json.dumps(describe_graph(graph), indent=2) + "\n")
    manifest = write_splits(graph, out / "splits", model_label=f"federated-{settings.model}")
    chained_cut, bit_exact = _check_chain(int8, graph, test.x[0])
    report = ExportReport(
        model_path=str(model_path),
        float32_path=str(float32_path),
        int8_bytes=int8.size_bytes,
        float32_bytes=float32.size_bytes,
        calibration_samples=int8.num_calibration_samples,
        float32_agreement=float((f32_pred == reference).mean()),
        int8_agreement=float((i8_pred == reference).mean()),
        int8_accuracy=float((i8_pred == test.y).mean()),
        validated_on=len(test),
        num_ops=graph.num_ops,
        splittable_cuts=len(manifest["cuts"]),
        split_dir=str(out / "splits"),
        chained_cut=chained_cut,
        chain_bit_exact=bit_exact,
    )
    for name, value in (("float32", report.float32_agreement), ("int8", report.int8_agreement)):
        if value < MIN_AGREEMENT:
            raise ModelError(
                f"the {name} TFLite model agrees with the Keras model on {value:.1%} of "
                f"{len(test)} held-out samples (< {MIN_AGREEMENT:.0%}); files are in {out}"
            )
    if not bit_exact:
        raise ModelError(f"head and tail at cut {chained_cut} do not reproduce the full model")
    return report


def _quantized_input(result: ConversionResult, x: npt.NDArray[np.float32]) -> npt.NDArray[Any]:
    spec = result.inputs[0]
    if not spec.quantized:
        return x.astype(np.float32)
    codes = np.round(x / spec.scale) + spec.zero_point
    quantized: npt.NDArray[np.int8] = np.clip(codes, -128, 127).astype(np.int8)
    return quantized


def _tflite_classes(result: ConversionResult, x: npt.NDArray[np.float32]) -> npt.NDArray[Any]:
    """Predicted class per sample (or per cell) of a converted model, one sample at a time."""
    executor = SegmentExecutor(result.tflite_bytes)
    name = executor.input_names[0]
    out_name = executor.output_names[0]
    classes = []
    for sample in _quantized_input(result, x):
        outputs = executor.run({name: sample[None, ...]})
        classes.append(np.asarray(outputs[out_name])[0].argmax(axis=-1))
    return np.stack(classes)


def _check_chain(
    result: ConversionResult, graph: Any, sample: npt.NDArray[np.float32]
) -> tuple[int, bool]:
    """Split at the middle cut and compare head->tail with the whole model, bit for bit."""
    splittable = [c.index for c in graph.cuts if c.splittable and 0 < c.index < graph.num_ops]
    if not splittable:
        return 0, True
    k = splittable[len(splittable) // 2]
    split = split_model(graph, k)
    assert split.head is not None and split.tail is not None
    x = _quantized_input(result, sample[None, ...])
    whole = SegmentExecutor(result.tflite_bytes)
    expected = whole.run({whole.input_names[0]: x})[whole.output_names[0]]
    head, tail = SegmentExecutor(split.head), SegmentExecutor(split.tail)
    crossing = head.run({head.input_names[0]: x})
    got = tail.run({n: crossing[n] for n in tail.input_names})[tail.output_names[0]]
    return k, bool(np.array_equal(np.asarray(expected), np.asarray(got)))
