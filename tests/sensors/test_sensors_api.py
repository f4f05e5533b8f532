"""The public face of ``sciot.sensors``: a change here is an API change, on purpose."""

from __future__ import annotations

import sciot.sensors

EXPECTED = {
    "ANOMALY_KINDS", "DETECTOR_INPUTS", "FEATURE_NAMES", "PERIODIC_TYPES", "SENSOR_TYPES",
    "Alert", "AlertGate", "AnomalyEvent", "AnomalyKind", "BrokerAddress", "Decoder", "Detector",
    "EventScores", "Finding", "InProcessPubSub", "Inbox", "IngestCounts", "IngestStage",
    "IsolationForestDetector", "KindScore", "MqttPubSub", "PipelineConfig", "PubSub",
    "ReadingBatch", "RunReport", "SensorConfig", "SensorInfo", "SensorPublisher", "SensorType",
    "Simulator", "StreamingDetector", "TfliteDetector", "WindowBuilder", "WindowFeatures",
    "alert_topic", "compute_features", "data_topic", "default_config", "encode_alert",
    "encode_batch", "encode_json", "evaluate_detection", "load_config", "load_detector",
    "make_detector", "parse_broker", "parse_config", "register_sensor_type", "run_pipeline",
    "score_events", "topic_matches",
}  # fmt: skip


def test_exported_names() -> None:
    assert set(sciot.sensors.__all__) == EXPECTED
    for name in EXPECTED:
        assert hasattr(sciot.sensors, name), name
