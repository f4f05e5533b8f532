"""Keras -> TFLite conversion on the real SCIoT reference model, and the convert CLI.

Conversions are slow (seconds each), so the reference model is loaded and converted once per
session. The acceptance criteria of the conversion issue live here: float32 matches Keras,
int8 agrees on the argmax of >= 95% of the 12x12 cells, and every cut of both converted models
chains head -> tail bit-exactly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from reference_data import FOMO_DIR, require_reference
from sciot.errors import ConfigError, MissingExtraError, ModelError
from sciot.model import (
    ConversionResult,
    convert_keras,
    convert_keras_model,
    load_image,
    load_keras_model,
    load_model,
    split_all,
)
from sciot.runtime import SegmentExecutor

H5 = FOMO_DIR / "test_model.h5"
IMAGE = FOMO_DIR / "test_image.png"

needs_reference = pytest.mark.usefixtures("fomo_reference")


@pytest.fixture(scope="session")
def fomo_reference() -> Path:
    return require_reference()


# --- fixtures: one load and one conversion of each kind per session ---------------------------


@pytest.fixture(scope="session")
def keras_model() -> Any:
    pytest.importorskip("tensorflow")
    require_reference()
    return load_keras_model(H5)


@pytest.fixture(scope="session")
def test_image() -> npt.NDArray[np.float32]:
    if not IMAGE.is_file():
        pytest.skip("reference image not present")
    return load_image(IMAGE, size=(96, 96))[np.newaxis]


@pytest.fixture(scope="session")
def calibration_npy(
    tmp_path_factory: pytest.TempPathFactory, test_image: npt.NDArray[np.float32]
) -> Path:
    """Real-looking calibration data: the reference image flipped, shifted and re-lit."""
    rng = np.random.default_rng(7)
    base = test_image[0]
    samples = []
    for _ in range(40):
        image = base[:, ::-1] if rng.random() < 0.5 else base
        image = np.roll(image, tuple(rng.integers(-12, 13, size=2)), axis=(0, 1))
        samples.append(np.clip(image * rng.uniform(0.7, 1.3), 0.0, 1.0))
    path = tmp_path_factory.mktemp("calibration") / "calibration.npy"
    np.save(path, np.stack(samples).astype(np.float32))
    return path


@pytest.fixture(scope="session")
def float_result(keras_model: Any) -> ConversionResult:
    return convert_keras(H5)


@pytest.fixture(scope="session")
def int8_result(keras_model: Any, calibration_npy: Path) -> ConversionResult:
    return convert_keras(H5, int8=True, calibration=calibration_npy, num_calibration=30)


def _run(flatbuffer: bytes, sample: npt.NDArray[Any]) -> npt.NDArray[Any]:
    executor = SegmentExecutor(flatbuffer)
    (name,) = executor.input_names
    (out,) = executor.run({name: sample}).values()
    return out


def _quantize(values: npt.NDArray[np.float32], scale: float, zero_point: int) -> npt.NDArray[Any]:
    codes: npt.NDArray[np.int8] = np.clip(np.round(values / scale) + zero_point, -128, 127).astype(
        np.int8
    )
    return codes


# --- loading ----------------------------------------------------------------------------------


@pytest.mark.tensorflow
@needs_reference
def test_legacy_h5_loads_under_keras3(keras_model: Any) -> None:
    assert tuple(keras_model.input_shape) == (None, 96, 96, 3)
    assert tuple(keras_model.output_shape) == (None, 12, 12, 2)
    assert keras_model.count_params() == 20_754


@pytest.mark.tensorflow
def test_legacy_layer_refuses_values_keras2_could_not_write() -> None:
    pytest.importorskip("tensorflow")
    from sciot.model._keras_legacy import legacy_custom_objects

    depthwise = legacy_custom_objects()["DepthwiseConv2D"]
    assert depthwise(kernel_size=3, groups=1).kernel_size == (3, 3)
    with pytest.raises(ModelError, match="groups=2"):
        depthwise(kernel_size=3, groups=2)


def test_non_keras_file_is_refused_before_tensorflow(tmp_path: Path) -> None:
    bogus = tmp_path / "model.h5"
    bogus.write_bytes(b"not a model at all")
    with pytest.raises(ModelError, match="not a Keras model file"):
        load_keras_model(bogus)
    with pytest.raises(ModelError, match="not found"):
        convert_keras(tmp_path / "missing.keras")
    with pytest.raises(ModelError, match="is a directory"):
        convert_keras(tmp_path)


@pytest.mark.tensorflow
def test_truncated_h5_is_a_model_error(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    require_reference()
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(H5.read_bytes()[:5000])
    with pytest.raises(ModelError, match="cannot load Keras model"):
        load_keras_model(truncated)


# --- float32 and int8 accuracy ----------------------------------------------------------------


@pytest.mark.tensorflow
@needs_reference
def test_float32_matches_keras_on_test_image(
    keras_model: Any, float_result: ConversionResult, test_image: npt.NDArray[np.float32]
) -> None:
    assert float_result.quantization == "float32"
    assert float_result.calibration is None
    assert float_result.input_shape == (1, 96, 96, 3)
    assert float_result.output_shape == (1, 12, 12, 2)
    expected = np.asarray(keras_model([test_image], training=False))
    got = _run(float_result.tflite_bytes, test_image)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


@pytest.mark.tensorflow
@needs_reference
def test_int8_agrees_on_cell_argmax(
    keras_model: Any, int8_result: ConversionResult, test_image: npt.NDArray[np.float32]
) -> None:
    spec_in, spec_out = int8_result.inputs[0], int8_result.outputs[0]
    assert (spec_in.dtype, spec_out.dtype) == ("int8", "int8")
    assert int8_result.num_calibration_samples == 30
    assert "30 samples (of 40)" in (int8_result.calibration or "")
    expected = np.asarray(keras_model([test_image], training=False)).argmax(axis=-1)
    codes = _run(int8_result.tflite_bytes, _quantize(test_image, spec_in.scale, spec_in.zero_point))
    agreement = float(np.mean(codes.argmax(axis=-1) == expected))
    assert agreement >= 0.95, f"int8 agrees on {agreement:.1%} of cells"


@pytest.mark.tensorflow
@needs_reference
def test_int8_weights_and_activations_are_int8(int8_result: ConversionResult) -> None:
    graph = load_model(int8_result.tflite_bytes)
    activation_dtypes = {t.dtype for op in graph.ops for t in op.outputs}
    assert activation_dtypes == {"int8"}
    assert int8_result.size_bytes < 0.8 * len(H5.read_bytes())


# --- acceptance: every cut is bit-exact -------------------------------------------------------


def _assert_every_cut_bit_exact(flatbuffer: bytes, sample: npt.NDArray[Any]) -> int:
    graph = load_model(flatbuffer)
    full = SegmentExecutor(flatbuffer)
    (input_name,) = full.input_names
    expected = full.run({input_name: sample})
    checked = 0
    for split in split_all(graph):
        crossing: dict[str, npt.NDArray[Any]] = {input_name: sample}
        if split.head is not None:
            crossing = SegmentExecutor(split.head).run(crossing)
        got = crossing if split.tail is None else SegmentExecutor(split.tail).run(crossing)
        assert got.keys() == expected.keys(), f"cut {split.cut.index}"
        for name, value in expected.items():
            assert np.array_equal(got[name], value), f"cut {split.cut.index} differs"
        checked += 1
    assert checked == graph.num_ops + 1, "every cut, including edge-only and device-only"
    return checked


@pytest.mark.tensorflow
@needs_reference
def test_every_cut_of_converted_float32_is_bit_exact(
    float_result: ConversionResult, test_image: npt.NDArray[np.float32]
) -> None:
    assert _assert_every_cut_bit_exact(float_result.tflite_bytes, test_image) > 20


@pytest.mark.tensorflow
@needs_reference
def test_every_cut_of_converted_int8_is_bit_exact(
    int8_result: ConversionResult, test_image: npt.NDArray[np.float32]
) -> None:
    spec = int8_result.inputs[0]
    sample = _quantize(test_image, spec.scale, spec.zero_point)
    assert _assert_every_cut_bit_exact(int8_result.tflite_bytes, sample) > 20


# --- calibration sources ----------------------------------------------------------------------


@pytest.mark.tensorflow
@needs_reference
def test_calibration_sources_are_described(keras_model: Any, tmp_path: Path) -> None:
    from PIL import Image

    for i in range(3):
        pixels = np.random.default_rng(i).integers(0, 256, size=(40, 50, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / f"img{i}.png")
    (tmp_path / "notes.txt").write_text("ignored")
    from_folder = convert_keras_model(keras_model, int8=True, calibration=tmp_path)
    assert from_folder.num_calibration_samples == 3
    assert "3 images (of 3) resized to 96x96" in (from_folder.calibration or "")
    synthetic = convert_keras_model(keras_model, int8=True, num_calibration=5, seed=3)
    assert synthetic.num_calibration_samples == 5
    assert (synthetic.calibration or "").startswith("synthetic: 5 samples")
    assert "seed 3" in (synthetic.calibration or "")


@pytest.mark.tensorflow
@needs_reference
def test_bad_calibration_is_a_config_error(keras_model: Any, tmp_path: Path) -> None:
    wrong_shape = tmp_path / "wrong.npy"
    np.save(wrong_shape, np.zeros((4, 32, 32, 3), dtype=np.float32))
    with pytest.raises(ConfigError, match=r"expected \(N, 96, 96, 3\)"):
        convert_keras_model(keras_model, int8=True, calibration=wrong_shape)
    corrupt = tmp_path / "corrupt.npy"
    corrupt.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(ConfigError, match="cannot read calibration array"):
        convert_keras_model(keras_model, int8=True, calibration=corrupt)
    with pytest.raises(ConfigError, match="holds no images"):
        (tmp_path / "empty").mkdir()
        convert_keras(H5, int8=True, calibration=tmp_path / "empty")
    with pytest.raises(ConfigError, match="num_calibration"):
        convert_keras_model(keras_model, int8=True, num_calibration=0)
    with pytest.raises(ConfigError, match="NaN"):
        convert_keras_model(keras_model, int8=True, calibration=np.full((2, 96, 96, 3), np.nan))


@pytest.mark.tensorflow
@needs_reference
def test_keras_v3_file_converts_like_the_h5(
    keras_model: Any, float_result: ConversionResult, tmp_path: Path
) -> None:
    path = tmp_path / "model.keras"
    keras_model.save(path)
    result = convert_keras(path)
    sample = np.random.default_rng(0).random((1, 96, 96, 3), dtype=np.float32)
    np.testing.assert_array_equal(
        _run(result.tflite_bytes, sample), _run(float_result.tflite_bytes, sample)
    )


# --- CLI ----------------------------------------------------------------------------------------


def _cli(argv: list[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from sciot.cli.app import main

    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capfd.readouterr()
    return code, out, err


@pytest.mark.tensorflow
@needs_reference
def test_cli_converts_to_int8(
    keras_model: Any, calibration_npy: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out" / "model_int8.tflite"
    code, out, err = _cli(
        [
            "model",
            "convert",
            str(H5),
            "-o",
            str(target),
            "--int8",
            "--calibration",
            str(calibration_npy),
            "--num-calibration",
            "10",
        ],
        capfd,
    )
    assert code == 0, err
    assert target.is_file()
    assert "int8" in out and "10 samples (of 40)" in out
    assert "calibrating int8" in err and "Traceback" not in err
    assert load_model(target.read_bytes()).num_ops > 20


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("make_input", "extra", "needle"),
    [
        (lambda d: d / "missing.h5", [], "not found"),
        (lambda d: _write(d / "x.tflite", b"\x1c\x00\x00\x00TFL3"), [], "no conversion"),
        (lambda d: H5, ["--int8", "--calibration", "/nonexistent/calib"], "calibration path"),
        (lambda d: H5, ["--calibration", "/nonexistent/calib"], "only applies to int8"),
    ],
)
def test_cli_bad_input_is_one_line(
    make_input: Any,
    extra: list[str],
    needle: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    source = make_input(tmp_path)
    code, _out, err = _cli(
        ["model", "convert", str(source), "-o", str(tmp_path / "o.tflite"), *extra], capfd
    )
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("sciot: error:") and needle in lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "o.tflite").exists()


def test_cli_without_tensorflow_names_the_extra(tmp_path: Path) -> None:
    require_reference()
    # A None entry in sys.modules makes `import tensorflow` fail as if it were not installed.
    code = (
        "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"
        "from sciot.cli.app import main\n"
        f"main(['model', 'convert', {str(H5)!r}, '-o', {str(tmp_path / 'o.tflite')!r}])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert done.returncode == MissingExtraError.exit_code
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "pip install 'sciot[convert]'" in lines[0]
    assert "tensorflow-cpu" in lines[0]
