"""The ingest stage: readings in, alerts out, one drained batch of messages at a time.

:class:`IngestStage` subscribes (``$share/<group>/sensors/+/data`` on a broker, so several
ingest processes split the load), drains its bounded inbox in batches and runs decode ->
validate -> windows -> features -> detector -> alert gate, publishing alerts on
``alerts/<id>/notification``. Ground truth announced on ``sensors/+/anomaly`` is collected
for scoring.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sciot.sensors._alerts import AlertGate
from sciot.sensors._codec import Decoder, alert_topic, encode_alert
from sciot.sensors._config import PipelineConfig
from sciot.sensors._detect import make_detector
from sciot.sensors._detector_base import Detector
from sciot.sensors._ground_truth import decode_event
from sciot.sensors._simulate import SENSOR_TYPES
from sciot.sensors._transport import Inbox, PubSub
from sciot.sensors._types import Alert, AnomalyEvent, IngestCounts
from sciot.sensors._windows import WindowBuilder


@dataclass(slots=True)
class _Clock:
    first_rx_s: float | None = None
    last_done_s: float | None = None


class IngestStage:
    """Subscribes to readings and turns them into alerts, one drained batch at a time."""

    def __init__(
        self,
        config: PipelineConfig,
        pubsub: PubSub,
        *,
        detector: Detector | None = None,
    ) -> None:
        self.config = config
        self._pubsub = pubsub
        self.inbox = Inbox(config.processing.queue_messages)
        self.decoder = Decoder()
        ranges = {
            s.id: s.range if s.range is not None else SENSOR_TYPES[s.type].default_range
            for s in config.sensors
            if s.range is not None or s.type in SENSOR_TYPES
        }
        self.windows = WindowBuilder(
            window=config.processing.window, step=config.processing.step, ranges=ranges
        )
        self.detector = (
            detector if detector is not None else make_detector(config.detection, seed=config.seed)
        )
        self.gate = AlertGate(config.alerts, config.detection)
        self.alerts: list[Alert] = []
        self.events: list[AnomalyEvent] = []
        self.newest_s: float | None = None
        self._clock = _Clock()
        group = config.processing.group
        for topic in config.processing.topics:
            readings_filter = topic if group is None else f"$share/{group}/{topic}"
            pubsub.subscribe(readings_filter, self.inbox.offer, qos=config.simulation.qos)
        pubsub.subscribe("sensors/+/anomaly", self._on_event, qos=1)

    def _on_event(self, topic: str, payload: bytes) -> None:
        event = decode_event(payload)
        if event is not None:
            self.events.append(event)

    def step(self, timeout_s: float = 0.05) -> int:
        """Process what the inbox holds (up to ``drain_messages``); returns messages handled."""
        messages = self.inbox.drain(self.config.processing.drain_messages, timeout_s)
        if not messages:
            return 0
        if self._clock.first_rx_s is None:
            self._clock.first_rx_s = messages[0][2]
        for topic, payload, received_s, lost_before in messages:
            self.decoder.feed(topic, payload, received_s, lost_before=lost_before)
        blocks = []
        for batch in self.decoder.flush():
            lost = self.decoder.lost_before(batch.info.sensor_id)
            features = self.windows.push(batch, lost_before_s=lost)
            if len(batch):
                newest = float(batch.timestamp_s.max())
                self.newest_s = newest if self.newest_s is None else max(self.newest_s, newest)
            if features is not None:
                blocks.append(features)
        findings = self.detector.process_many(blocks) if blocks else []
        if findings:
            self._raise(self.gate.admit(findings, raised_s=time.time()))
        self._clock.last_done_s = time.time()
        self._pubsub.check()
        return len(messages)

    def _raise(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            self._pubsub.publish(alert_topic(alert.sensor_id), encode_alert(alert), qos=1)
        self.alerts.extend(alerts)

    def abandon_backlog(self) -> int:
        """Give up on messages still queued (the run is over); they are counted as dropped."""
        left = 0
        while batch := self.inbox.drain(10_000, 0.0):
            left += len(batch)
        self.inbox.dropped += left
        return left

    @property
    def counts(self) -> IngestCounts:
        return self.windows.counts.plus(
            IngestCounts(
                messages=self.decoder.messages,
                malformed=self.decoder.malformed,
                dropped=self.inbox.dropped,
            )
        )

    @property
    def busy_s(self) -> float:
        """Wall time from the first message received to the last batch processed."""
        first, last = self._clock.first_rx_s, self._clock.last_done_s
        return 0.0 if first is None or last is None else max(last - first, 1e-9)
