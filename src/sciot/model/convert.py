"""Keras to TFLite conversion: float32, and full int8 with post-training calibration.

Everything else in sciot starts from a ``.tflite`` file; this module is how a Keras model
(``.keras``, or a legacy Keras 2 ``.h5``) becomes one. Full int8 means int8 weights, int8
activations and int8 model inputs and outputs, which is what TFLite Micro on an MCU wants:
the device quantises its sensor data once with the input's scale and zero point and never
touches a float. Calibration data comes from a folder of images, a ``.npy`` array, or, when
nothing is given, seeded synthetic samples; the result always says which one was used and
how many samples it held. The batch dimension is fixed to 1 so every tensor shape in the
flatbuffer is static, as TinyML runtimes and the splitter expect. TensorFlow is imported only
inside these functions (the ``convert`` extra).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from sciot.errors import ConfigError, ModelError
from sciot.model._images import IMAGE_SUFFIXES, load_image
from sciot.model._keras_legacy import (
    import_keras,
    import_tensorflow,
    keras_file_format,
    load_keras_model,
    native_stderr_silenced,
)

Progress = Callable[[str], None]
Quantization = Literal["float32", "int8"]


@dataclass(frozen=True, slots=True, kw_only=True)
class IOSpec:
    """Shape, dtype and (for int8) quantisation of one model input or output."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float = 0.0
    zero_point: int = 0

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversionResult:
    """A converted TFLite flatbuffer and what went into it."""

    tflite_bytes: bytes
    source: str
    quantization: Quantization
    calibration: str | None
    num_calibration_samples: int
    inputs: tuple[IOSpec, ...]
    outputs: tuple[IOSpec, ...]

    @property
    def size_bytes(self) -> int:
        return len(self.tflite_bytes)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of the first input (the only one for the models sciot ships)."""
        return self.inputs[0].shape

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.outputs[0].shape

    def write(self, path: str | Path) -> Path:
        """Write the flatbuffer to ``path`` (parent folders created) and return the path."""
        target = Path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.tflite_bytes)
        except OSError as exc:
            raise ConfigError(f"cannot write {target}: {exc.strerror}") from exc
        return target


@dataclass(frozen=True, slots=True, kw_only=True)
class _Calibration:
    samples: npt.NDArray[np.float32]
    description: str


def convert_keras(
    source: str | Path,
    *,
    int8: bool = False,
    calibration: str | Path | None = None,
    num_calibration: int = 100,
    seed: int = 0,
    progress: Progress | None = None,
) -> ConversionResult:
    """Convert a ``.keras`` or legacy ``.h5`` file to TFLite float32 or full int8.

    ``calibration`` (int8 only) is a folder of images or a ``.npy`` array of samples; without
    it ``num_calibration`` synthetic samples uniform in [0, 1) are drawn with ``seed``.
    ``progress`` receives one status line per phase (the CLI prints them on stderr).
    """
    path = Path(source)
    keras_file_format(path)
    _validate_options(int8, calibration, num_calibration)
    if calibration is not None:
        _check_calibration_path(Path(calibration))
    import_tensorflow()
    _say(progress, f"loading {path}")
    model = load_keras_model(path)
    return convert_keras_model(
        model,
        int8=int8,
        calibration=calibration,
        num_calibration=num_calibration,
        seed=seed,
        progress=progress,
        source=str(path),
    )


def convert_keras_model(
    model: Any,
    *,
    int8: bool = False,
    calibration: str | Path | npt.NDArray[Any] | None = None,
    num_calibration: int = 100,
    seed: int = 0,
    progress: Progress | None = None,
    source: str | None = None,
) -> ConversionResult:
    """Convert an in-memory ``keras.Model`` (trained or loaded) like :func:`convert_keras`.

    ``calibration`` may also be an array of samples already in the model's input layout,
    which is how training scripts calibrate on their own held-out data.
    """
    _validate_options(int8, calibration, num_calibration)
    tf = import_tensorflow()
    keras = import_keras()
    if not isinstance(model, keras.Model):
        raise ModelError(f"expected a keras.Model, got {type(model).__name__}")
    label = source if source is not None else f"<Keras model {model.name!r}>"
    fixed = _with_batch_of_one(keras, model)
    calib: _Calibration | None = None
    if int8:
        calib = _calibration_set(fixed, calibration, num_calibration, seed)
        _say(progress, f"calibrating int8 with {calib.description}")
    _say(progress, f"converting to TFLite {'int8' if int8 else 'float32'}")
    flatbuffer = _run_converter(tf, fixed, calib)
    inputs, outputs = describe_tflite(flatbuffer)
    _say(progress, f"converted: {len(flatbuffer)} bytes")
    return ConversionResult(
        tflite_bytes=flatbuffer,
        source=label,
        quantization="int8" if int8 else "float32",
        calibration=None if calib is None else calib.description,
        num_calibration_samples=0 if calib is None else int(calib.samples.shape[0]),
        inputs=inputs,
        outputs=outputs,
    )


def describe_tflite(flatbuffer: bytes) -> tuple[tuple[IOSpec, ...], tuple[IOSpec, ...]]:
    """Inputs and outputs of a TFLite flatbuffer, read through LiteRT (no TensorFlow)."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_content=flatbuffer)
    except (RuntimeError, ValueError) as exc:
        raise ModelError(f"not a loadable TFLite model: {exc}") from exc

    def spec(detail: dict[str, Any]) -> IOSpec:
        scale, zero_point = detail["quantization"]
        return IOSpec(
            name=str(detail["name"]),
            shape=tuple(int(d) for d in detail["shape"]),
            dtype=np.dtype(detail["dtype"]).name,
            scale=float(scale),
            zero_point=int(zero_point),
        )

    inputs = tuple(spec(d) for d in interpreter.get_input_details())
    outputs = tuple(spec(d) for d in interpreter.get_output_details())
    return inputs, outputs


def _say(progress: Progress | None, line: str) -> None:
    if progress is not None:
        progress(line)


def _validate_options(int8: bool, calibration: object, num_calibration: int) -> None:
    if calibration is not None and not int8:
        raise ConfigError(
            "calibration data only applies to int8 conversion; ask for int8 (--int8) or drop it"
        )
    if num_calibration < 1:
        raise ConfigError(f"num_calibration must be at least 1, got {num_calibration}")


def _with_batch_of_one(keras: Any, model: Any) -> Any:
    """Wrap ``model`` so every input has batch size 1 and the flatbuffer has static shapes."""
    if all(t.shape[0] == 1 for t in model.inputs):
        return model
    inputs = [
        keras.Input(shape=tuple(t.shape[1:]), batch_size=1, dtype=t.dtype, name=_input_name(t))
        for t in model.inputs
    ]
    with warnings.catch_warnings():
        # Legacy functional models declare their inputs as a list; a bare tensor is fine.
        warnings.filterwarnings("ignore", message="The structure of `inputs`", category=UserWarning)
        outputs = model(inputs[0] if len(inputs) == 1 else inputs, training=False)
    return keras.Model(inputs, outputs, name=model.name)


def _input_name(tensor: Any) -> str | None:
    name = getattr(tensor, "name", None)
    return str(name).split(":")[0] if name else None


def _run_converter(tf: Any, model: Any, calib: _Calibration | None) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if calib is not None:
        samples = calib.samples

        def representative() -> Iterator[list[npt.NDArray[np.float32]]]:
            for sample in samples:
                yield [sample[np.newaxis]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    try:
        with warnings.catch_warnings(), native_stderr_silenced():
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            flatbuffer = converter.convert()
    except Exception as exc:
        hint = (
            "; the model may use an operator without an int8 kernel: try float32"
            if calib is not None
            else ""
        )
        raise ModelError(f"TFLite conversion failed: {_first_line(exc)}{hint}") from exc
    return bytes(flatbuffer)


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


# --- calibration -------------------------------------------------------------------------


def _check_calibration_path(path: Path) -> None:
    """Fail before the slow TensorFlow import when the calibration source is unusable."""
    if not path.exists():
        raise ConfigError(f"calibration path not found: {path}")
    if path.is_dir():
        if not _image_files(path):
            raise ConfigError(
                f"calibration folder {path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        return
    if path.suffix.lower() != ".npy":
        raise ConfigError(f"calibration must be a folder of images or a .npy file, got {path}")


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _calibration_set(
    model: Any,
    calibration: str | Path | npt.NDArray[Any] | None,
    num_calibration: int,
    seed: int,
) -> _Calibration:
    if len(model.inputs) != 1:
        raise ModelError(
            f"int8 calibration supports single-input models; this one has {len(model.inputs)}"
        )
    sample_shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    rng = np.random.default_rng(seed)
    if calibration is None:
        samples = rng.random((num_calibration, *sample_shape), dtype=np.float32)
        return _Calibration(
            samples=samples,
            description=(
                f"synthetic: {num_calibration} samples uniform in [0, 1) (seed {seed}); "
                "real samples calibrate better"
            ),
        )
    if isinstance(calibration, np.ndarray):
        samples = _fit_array(calibration, sample_shape, "calibration array")
        chosen = _choose(samples, num_calibration, rng)
        return _Calibration(
            samples=chosen,
            description=f"array: {len(chosen)} samples (of {len(samples)})",
        )
    path = Path(calibration)
    _check_calibration_path(path)
    if path.is_dir():
        return _image_calibration(path, sample_shape, num_calibration, rng)
    return _npy_calibration(path, sample_shape, num_calibration, rng)


def _choose(
    samples: npt.NDArray[np.float32], count: int, rng: np.random.Generator
) -> npt.NDArray[np.float32]:
    """A seeded subset of ``count`` samples in their original order, or all of them."""
    if len(samples) <= count:
        return samples
    picked = np.sort(rng.choice(len(samples), size=count, replace=False))
    return samples[picked]


def _fit_array(
    array: npt.NDArray[Any], sample_shape: tuple[int, ...], what: str
) -> npt.NDArray[np.float32]:
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ConfigError(f"{what} must hold real numbers, got dtype {array.dtype}")
    if array.shape == sample_shape:
        array = array[np.newaxis]
    if array.shape[1:] != sample_shape or array.shape[0] < 1:
        raise ConfigError(
            f"{what} has shape {array.shape}; expected (N, {', '.join(map(str, sample_shape))})"
            " matching the model input without its batch dimension"
        )
    fitted = array.astype(np.float32)
    if not np.all(np.isfinite(fitted)):
        raise ConfigError(f"{what} contains NaN or infinite values")
    return fitted


def _npy_calibration(
    path: Path, sample_shape: tuple[int, ...], count: int, rng: np.random.Generator
) -> _Calibration:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read calibration array {path}: {exc}") from exc
    samples = _fit_array(np.asarray(array), sample_shape, f"calibration array {path}")
    chosen = _choose(samples, count, rng)
    return _Calibration(
        samples=chosen, description=f"{path}: {len(chosen)} samples (of {len(samples)})"
    )


def _image_calibration(
    folder: Path, sample_shape: tuple[int, ...], count: int, rng: np.random.Generator
) -> _Calibration:
    if len(sample_shape) != 3 or sample_shape[2] not in (1, 3):
        raise ConfigError(
            f"a calibration folder of images needs an image model (height, width, 1 or 3 "
            f"channels); this model's input is {sample_shape}: give a .npy array instead"
        )
    height, width, channels = sample_shape
    files = _image_files(folder)
    if len(files) > count:
        files = [files[i] for i in np.sort(rng.choice(len(files), size=count, replace=False))]
    samples = np.stack([load_image(f, size=(height, width), channels=channels) for f in files])
    total = len(_image_files(folder))
    return _Calibration(
        samples=samples,
        description=(
            f"{folder}: {len(files)} images (of {total}) resized to {height}x{width}, "
            "scaled to [0, 1]"
        ),
    )


__all__ = [
    "ConversionResult",
    "IOSpec",
    "convert_keras",
    "convert_keras_model",
    "describe_tflite",
    "load_image",
    "load_keras_model",
]
