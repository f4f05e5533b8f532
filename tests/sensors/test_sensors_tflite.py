"""The TFLite detector runs a model through the shared runtime.

The model here is built with TensorFlow from one expression, the largest absolute deviation,
so with the same threshold it must agree with the streaming detector window for window.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sciot.errors import ConfigError
from sciot.sensors import DETECTOR_INPUTS, StreamingDetector, TfliteDetector, load_detector
from sciot.sensors import make_detector as make
from sciot.sensors._config import DetectionConfig

pytestmark = pytest.mark.tensorflow


def _max_abs_model(path: Path) -> Path:
    tf = pytest.importorskip("tensorflow")

    @tf.function(input_signature=[tf.TensorSpec([1, len(DETECTOR_INPUTS)], tf.float32)])
    def score(z: object) -> object:
        return tf.reduce_max(tf.abs(z), axis=1, keepdims=True)

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [score.get_concrete_function()], score
    )
    path.write_bytes(converter.convert())
    return path


def test_tflite_detector_matches_the_streaming_rule(tmp_path: Path) -> None:
    from test_sensors_detect import _signal, _windows

    model = _max_abs_model(tmp_path / "maxabs.tflite")
    config = DetectionConfig(warmup_windows=30, detector="tflite", model_path=str(model))
    v = _signal(3000, 7)
    v[1500:1600] += 2.0
    v[2200:2300] = v[2200]
    windows = _windows(v)
    tflite = make(config)
    assert isinstance(tflite, TfliteDetector)
    got = tflite.process(windows)
    expected = StreamingDetector(config).process(windows)
    assert [f.timestamp_s for f in got] == [f.timestamp_s for f in expected]
    assert got and got[0].score == pytest.approx(expected[0].score, rel=1e-5)
    tflite.save(tmp_path / "state.pkl")
    assert load_detector(tmp_path / "state.pkl").name == "tflite"


def test_tflite_detector_needs_a_model_path() -> None:
    with pytest.raises(ConfigError, match="model_path"):
        make(DetectionConfig(detector="tflite"))
