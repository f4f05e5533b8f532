"""Anomaly detectors by name: a fresh one from the configuration, or one reloaded whole.

Detection is spread over one module per job: :mod:`~sciot.sensors._inputs` (the four inputs
every detector judges and their thresholds), :mod:`~sciot.sensors._baseline` (what is normal
per sensor), :mod:`~sciot.sensors._detector_base` (the window-by-window walk they share, the
dropout rule, findings), :mod:`~sciot.sensors._detectors` (the streaming, Isolation Forest
and TFLite judgements) and :mod:`~sciot.sensors._detector_file` (the saved state on disk).
This module picks among them; it also keeps the names saved states and callers knew here
(a saved state pickles ``sciot.sensors._detect.Baseline`` if it predates the split).
"""

from __future__ import annotations

from pathlib import Path

from sciot.errors import ConfigError
from sciot.sensors._baseline import Baseline
from sciot.sensors._config import DetectionConfig
from sciot.sensors._detector_base import BaselineDetector, Detector
from sciot.sensors._detector_file import read_detector_file, schema_path
from sciot.sensors._detectors import IsolationForestDetector, StreamingDetector, TfliteDetector
from sciot.sensors._inputs import DETECTOR_INPUTS, detector_inputs, thresholds
from sciot.sensors._types import Finding

__all__ = [
    "DETECTOR_INPUTS",
    "Baseline",
    "Detector",
    "Finding",
    "IsolationForestDetector",
    "StreamingDetector",
    "TfliteDetector",
    "detector_inputs",
    "load_detector",
    "make_detector",
    "schema_path",
    "thresholds",
]


def make_detector(config: DetectionConfig, *, seed: int = 0) -> Detector:
    """The detector ``config.detector`` names, fresh (or loaded from ``config.model_path``)."""
    if config.detector == "streaming":
        return StreamingDetector(config)
    if config.detector == "iforest":
        return IsolationForestDetector(config, seed=seed)
    if config.model_path is None:
        raise ConfigError("detection.detector 'tflite' needs detection.model_path (a .tflite)")
    return TfliteDetector(config, model_path=config.model_path)


def load_detector(path: str | Path) -> Detector:
    """Reload a detector written by ``save`` (a pickle: load only files you trust)."""
    schema, state = read_detector_file(path)
    config = DetectionConfig.model_validate(schema["config"])
    detector: BaselineDetector
    if schema["detector"] == "streaming":
        detector = StreamingDetector(config)
    elif schema["detector"] == "iforest":
        detector = IsolationForestDetector(config)
    else:
        detector = TfliteDetector(config, model_path=state["model_path"])
    detector._restore(state)
    return detector
