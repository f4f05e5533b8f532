"""The demo models shipped in the package: present, small, loadable, described truthfully, and
good at their task on fresh synthetic data (no TensorFlow needed for any of it)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from ai_edge_litert.interpreter import Interpreter

from sciot.errors import ConfigError, ModelError
from sciot.model import (
    demo_model_info,
    demo_model_names,
    demo_model_path,
    load_demo_input,
    load_model,
)
from sciot.model.zoo import (
    SENSOR_FAULTS,
    dequantize,
    quantize,
    score_fomo,
    synthetic_fomo_scenes,
    synthetic_sensor_windows,
)

EXPECTED = ("fomo96", "fomo96_int8", "sensor1d", "sensor1d_int8")
PRESENT = tuple(n for n in EXPECTED if n in demo_model_names())


def _run(name: str, sample: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """One inference through LiteRT, output dequantised to floats."""
    interpreter = Interpreter(model_path=str(demo_model_path(name)))
    interpreter.allocate_tensors()
    (inp,) = interpreter.get_input_details()
    (out,) = interpreter.get_output_details()
    interpreter.set_tensor(inp["index"], sample)
    interpreter.invoke()
    return dequantize(interpreter.get_tensor(out["index"]), demo_model_info(name).output)


def _batch(name: str, samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    spec = demo_model_info(name).input
    outputs = []
    for sample in samples:
        x = sample[np.newaxis]
        outputs.append(_run(name, quantize(x, spec) if spec.quantized else x)[0])
    return np.stack(outputs)


def test_fomo96_is_shipped_in_float32_and_int8() -> None:
    assert {"fomo96", "fomo96_int8"} <= set(demo_model_names())


@pytest.mark.parametrize("name", PRESENT)
def test_model_loads_and_metadata_matches_the_file(name: str) -> None:
    info = demo_model_info(name)
    path = demo_model_path(name)
    data = path.read_bytes()
    assert info.path == path and info.name == name
    assert len(data) == info.size_bytes < 1_000_000
    assert hashlib.sha256(data).hexdigest() == info.sha256
    interpreter = Interpreter(model_content=data)
    interpreter.allocate_tensors()
    (inp,) = interpreter.get_input_details()
    (out,) = interpreter.get_output_details()
    assert tuple(inp["shape"]) == info.input.shape
    assert tuple(out["shape"]) == info.output.shape
    assert np.dtype(inp["dtype"]).name == info.input.dtype
    assert np.dtype(out["dtype"]).name == info.output.dtype
    assert inp["quantization"] == pytest.approx((info.input.scale, info.input.zero_point))
    assert info.output.shape[-1] == len(info.class_names)
    assert info.quantization == ("int8" if name.endswith("_int8") else "float32")
    assert load_model(data).num_ops > 3


@pytest.mark.parametrize("name", PRESENT)
def test_demo_input_is_valid_and_outputs_are_probabilities(name: str) -> None:
    info = demo_model_info(name)
    sample = load_demo_input(name, seed=5)
    assert sample.shape == info.input.shape
    assert sample.dtype.name == info.input.dtype
    np.testing.assert_array_equal(sample, load_demo_input(name, seed=5))
    probs = _run(name, sample)
    assert probs.shape == info.output.shape
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=0.02)


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(ModelError, match="unknown demo model 'fomo9'") as caught:
        demo_model_path("fomo9")
    assert "fomo96" in str(caught.value)
    with pytest.raises(ModelError, match="valid names"):
        demo_model_info("../errors")
    with pytest.raises(ModelError):
        load_demo_input("nope")


def test_metadata_files_are_complete() -> None:
    for name in PRESENT:
        meta = json.loads(demo_model_path(name).with_suffix(".json").read_text())
        assert meta["build"]["script"] == "scripts/build_demo_models.py"
        assert meta["accuracy"]["eval_samples"] >= 100
        assert meta["input"]["range"][0] < meta["input"]["range"][1]
        if meta["quantization"] == "int8":
            assert "samples" in meta["calibration"]


@pytest.mark.parametrize("name", [n for n in PRESENT if n.startswith("fomo96")])
def test_fomo96_finds_shapes_in_fresh_scenes(name: str) -> None:
    scenes = synthetic_fomo_scenes(60, seed=4242)
    predicted = _batch(name, scenes.images).argmax(axis=-1)
    score = score_fomo(predicted, scenes.targets)
    recorded = float(demo_model_info(name).accuracy["f1"])
    assert score.f1 >= min(0.5, recorded - 0.15), score


@pytest.mark.parametrize("name", [n for n in PRESENT if n.startswith("sensor1d")])
def test_sensor1d_tells_anomalous_windows_apart(name: str) -> None:
    windows = synthetic_sensor_windows(200, seed=4242)
    predicted = _batch(name, windows.windows).argmax(axis=-1)
    accuracy = float(np.mean(predicted == windows.labels))
    assert accuracy >= min(0.8, float(demo_model_info(name).accuracy["accuracy"]) - 0.1)


def test_score_fomo_counts_hits_misses_and_false_alarms() -> None:
    target = np.zeros((1, 12, 12), dtype=np.int64)
    target[0, 2, 2] = 1
    target[0, 8, 8] = 2
    predicted = np.zeros_like(target)
    predicted[0, 2, 2] = predicted[0, 2, 3] = 1  # one object lit over two cells: one hit
    predicted[0, 8, 8] = 3  # right place, wrong class: a false alarm and a miss
    score = score_fomo(predicted, target)
    assert (score.true_positives, score.false_positives, score.false_negatives) == (1, 1, 1)
    assert score.f1 == pytest.approx(0.5)


def test_synthetic_data_is_seeded() -> None:
    a, b = synthetic_fomo_scenes(3, seed=1), synthetic_fomo_scenes(3, seed=1)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, synthetic_fomo_scenes(3, seed=2).images)
    assert a.images.min() >= 0.0 and a.images.max() <= 1.0
    windows = synthetic_sensor_windows(50, seed=3)
    np.testing.assert_array_equal(windows.windows, synthetic_sensor_windows(50, seed=3).windows)
    assert 0 < windows.labels.sum() < 50
    assert [bool(f) for f in windows.faults] == [bool(x) for x in windows.labels]
    assert {f for f in windows.faults if f} <= set(SENSOR_FAULTS)
    with pytest.raises(ConfigError, match="count"):
        synthetic_fomo_scenes(-1, seed=0)
    with pytest.raises(ConfigError, match="anomaly_rate"):
        synthetic_sensor_windows(3, seed=0, anomaly_rate=1.5)


def test_zoo_files_are_package_data() -> None:
    """hatchling puts every file under src/sciot in the wheel unless .gitignore excludes it."""
    zoo = Path(demo_model_path("fomo96")).parent
    assert zoo.name == "zoo" and (zoo / "__init__.py").is_file()
    assert (zoo / "README.md").is_file()
    files = [str(demo_model_path(n)) for n in PRESENT]
    files += [str(demo_model_path(n).with_suffix(".json")) for n in PRESENT]
    try:
        done = subprocess.run(
            ["git", "-C", str(zoo), "check-ignore", *files], capture_output=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        pytest.skip("git not available")
    if done.returncode == 128:
        pytest.skip("not a git checkout (installed package)")
    assert done.returncode == 1, f"ignored, so left out of the wheel: {done.stdout!r}"


def test_demo_models_need_no_tensorflow() -> None:
    code = (
        "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"
        "from sciot.model import demo_model_path, load_demo_input, load_model\n"
        "x = load_demo_input('fomo96_int8', seed=1)\n"
        "print(load_model(demo_model_path('fomo96_int8').read_bytes()).num_ops, x.dtype)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[1] == "int8"
