"""Loading Keras models, including legacy Keras 2 ``.h5`` files, under Keras 3.

Many TinyML models in the wild (Edge Impulse FOMO exports, the SCIoT reference detector) were
saved by Keras 2 / TensorFlow 2.x as HDF5. Keras 3 reads that format but rejects arguments its
layers no longer accept: Keras 2 wrote ``groups=1`` into every ``DepthwiseConv2D`` (inherited
from ``Conv``), and Keras 3's constructor refuses it. Instead of depending on ``tf_keras``, we
hand Keras 3 thin subclasses of the affected layers that drop such arguments when they hold the
only value Keras 2 could have written, and refuse anything else, so a model never loads with a
silently different meaning. TensorFlow is optional (the ``convert`` extra): it is imported
here, lazily, and its absence becomes a :class:`~sciot.errors.MissingExtraError`.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from sciot.errors import MissingExtraError, ModelError

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"

# Keras 2 arguments Keras 3 refuses, per layer class, with the one value Keras 2 could store.
_LEGACY_ARGUMENTS: dict[str, dict[str, object]] = {
    "DepthwiseConv2D": {"groups": 1},
    "DepthwiseConv1D": {"groups": 1},
    "SeparableConv2D": {"groups": 1},
    "SeparableConv1D": {"groups": 1},
}


def import_tensorflow() -> ModuleType:
    """Import TensorFlow quietly, or say which extra provides it.

    The environment defaults only apply when TensorFlow is not imported yet and the user has
    not chosen otherwise: they silence C++ start-up chatter and turn off oneDNN's reordered
    float arithmetic, so Keras reference outputs do not drift between runs.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    try:
        import tensorflow
    except ImportError as exc:
        raise MissingExtraError("tensorflow-cpu", "convert", "Converting Keras models") from exc
    module: ModuleType = tensorflow
    return module


def import_keras() -> ModuleType:
    """Import Keras 3 (shipped with TensorFlow) after TensorFlow's quiet import."""
    import_tensorflow()
    try:
        import keras
    except ImportError as exc:
        raise MissingExtraError("tensorflow-cpu", "convert", "Converting Keras models") from exc
    module: ModuleType = keras
    return module


def keras_file_format(path: Path) -> str:
    """Return ``"keras"`` (zip) or ``"h5"`` (HDF5) from the file's magic bytes.

    Sniffing content rather than trusting the suffix gives a clear error for a renamed or
    truncated file before TensorFlow (slow to import) is even loaded.
    """
    if not path.exists():
        raise ModelError(f"Keras model file not found: {path}; check the path")
    if path.is_dir():
        raise ModelError(f"{path} is a directory; give a Keras model file (.keras or legacy .h5)")
    try:
        with path.open("rb") as handle:
            magic = handle.read(8)
    except OSError as exc:
        raise ModelError(f"cannot read Keras model file {path}: {exc.strerror}") from exc
    if magic.startswith(_HDF5_MAGIC):
        return "h5"
    if magic.startswith(_ZIP_MAGIC):
        return "keras"
    hint = "; a .tflite model needs no conversion" if path.suffix == ".tflite" else ""
    raise ModelError(
        f"{path} is not a Keras model file (expected a .keras zip archive or a legacy .h5 "
        f"HDF5 file){hint}"
    )


def _legacy_layer(base: type[Any], dropped: dict[str, object]) -> type[Any]:
    """Subclass ``base`` so its constructor drops Keras 2-only arguments."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        for name, only_value in dropped.items():
            if name in kwargs:
                value = kwargs.pop(name)
                if value != only_value:
                    raise ModelError(
                        f"legacy layer {base.__name__} has {name}={value!r}, which Keras 3 "
                        f"cannot represent (only {name}={only_value!r} is supported)"
                    )
        base.__init__(self, *args, **kwargs)

    # Keep the base's module so a model saved again as .keras names the standard class and
    # loads anywhere, with or without sciot.
    return type(base.__name__, (base,), {"__init__": __init__, "__module__": base.__module__})


def legacy_custom_objects() -> dict[str, type[Any]]:
    """Keras 3 layer classes patched to accept what Keras 2 wrote in their configs."""
    keras = import_keras()
    return {
        name: _legacy_layer(getattr(keras.layers, name), dropped)
        for name, dropped in _LEGACY_ARGUMENTS.items()
    }


def load_keras_model(path: str | Path) -> Any:
    """Load a ``.keras`` or legacy Keras 2 ``.h5`` model for inference (not compiled).

    Returns the ``keras.Model``. Raises :class:`ModelError` for a missing, unreadable or
    non-Keras file and :class:`MissingExtraError` without TensorFlow.
    """
    source = Path(path)
    file_format = keras_file_format(source)
    keras = import_keras()
    custom_objects = legacy_custom_objects() if file_format == "h5" else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model = keras.models.load_model(source, compile=False, custom_objects=custom_objects)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(
            f"cannot load Keras model {source}: {_first_line(exc)}; is it a complete Keras "
            "model file (architecture and weights, not weights only)?"
        ) from exc
    if not isinstance(model, keras.Model):
        raise ModelError(f"{source} holds a {type(model).__name__}, not a Keras model")
    return model


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Drop what C++ code writes to file descriptor 2 inside the block.

    The TFLite converter prints calibration chatter straight to the process's stderr, where
    Python's ``sys.stderr`` redirection cannot reach it; a CLI that promises one clear line on
    error must catch it at the descriptor. Python-level stdout prints (Keras's SavedModel
    export banner) are dropped too. The descriptor is process-wide, so this belongs in
    offline tools (conversion), never around work other threads do concurrently.
    """
    sys.stderr.flush()
    saved_fd = os.dup(2)
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    yield
            finally:
                sys.stderr.flush()
                os.dup2(saved_fd, 2)
    finally:
        os.close(saved_fd)
