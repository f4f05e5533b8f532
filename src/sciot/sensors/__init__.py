"""Sensor simulation, MQTT ingestion, windowed features and streaming anomaly detection.

The pipeline: a :class:`Simulator` of realistic sensors with labelled anomalies, published on
``sensors/<id>/data`` (JSON per reading, or compact binary batches) through a :class:`PubSub`
(an MQTT broker, or in-process); an :class:`IngestStage` that validates readings, builds
per-sensor windows and features with numpy, runs a detector and publishes de-duplicated
alerts on ``alerts/<id>/notification``; :func:`run_pipeline` ties them together and scores the
alerts against the ground truth (:func:`score_events`); :func:`evaluate_detection` replays
hours of simulated plant through the same stages in seconds to measure detection quality.
"""

from sciot.sensors._alerts import AlertGate
from sciot.sensors._codec import (
    Decoder,
    alert_topic,
    data_topic,
    encode_alert,
    encode_batch,
    encode_json,
)
from sciot.sensors._config import (
    PipelineConfig,
    SensorConfig,
    default_config,
    load_config,
    parse_config,
)
from sciot.sensors._detect import load_detector, make_detector
from sciot.sensors._detector_base import Detector
from sciot.sensors._detectors import IsolationForestDetector, StreamingDetector, TfliteDetector
from sciot.sensors._ingest import IngestStage
from sciot.sensors._inputs import DETECTOR_INPUTS
from sciot.sensors._metrics import EventScores, KindScore, score_events
from sciot.sensors._pipeline import evaluate_detection, run_pipeline
from sciot.sensors._publisher import SensorPublisher
from sciot.sensors._report import RunReport
from sciot.sensors._simulate import SENSOR_TYPES, SensorType, Simulator, register_sensor_type
from sciot.sensors._transport import (
    BrokerAddress,
    Inbox,
    InProcessPubSub,
    MqttPubSub,
    PubSub,
    parse_broker,
    topic_matches,
)
from sciot.sensors._types import (
    ANOMALY_KINDS,
    Alert,
    AnomalyEvent,
    AnomalyKind,
    Finding,
    IngestCounts,
    ReadingBatch,
    SensorInfo,
)
from sciot.sensors._windows import (
    FEATURE_NAMES,
    PERIODIC_TYPES,
    WindowBuilder,
    WindowFeatures,
    compute_features,
)

__all__ = [
    "ANOMALY_KINDS",
    "DETECTOR_INPUTS",
    "FEATURE_NAMES",
    "PERIODIC_TYPES",
    "SENSOR_TYPES",
    "Alert",
    "AlertGate",
    "AnomalyEvent",
    "AnomalyKind",
    "BrokerAddress",
    "Decoder",
    "Detector",
    "EventScores",
    "Finding",
    "InProcessPubSub",
    "Inbox",
    "IngestCounts",
    "IngestStage",
    "IsolationForestDetector",
    "KindScore",
    "MqttPubSub",
    "PipelineConfig",
    "PubSub",
    "ReadingBatch",
    "RunReport",
    "SensorConfig",
    "SensorInfo",
    "SensorPublisher",
    "SensorType",
    "Simulator",
    "StreamingDetector",
    "TfliteDetector",
    "WindowBuilder",
    "WindowFeatures",
    "alert_topic",
    "compute_features",
    "data_topic",
    "default_config",
    "encode_alert",
    "encode_batch",
    "encode_json",
    "evaluate_detection",
    "load_config",
    "load_detector",
    "make_detector",
    "parse_broker",
    "parse_config",
    "register_sensor_type",
    "run_pipeline",
    "score_events",
    "topic_matches",
]
