"""Sensor simulation, MQTT ingestion, windowed features and streaming anomaly detection."""
