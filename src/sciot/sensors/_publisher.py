"""Simulated readings published in step with the wall clock (or faster), with their truth.

:class:`SensorPublisher` advances the simulator with the wall clock (``speed`` simulated
seconds per wall second) and publishes each tick's readings on ``sensors/<id>/data``, one
JSON message per reading or compact batches of at most 4096 readings, and each injected
anomaly once on ``sensors/<id>/anomaly``.
"""

from __future__ import annotations

import threading
import time

from sciot.sensors._codec import anomaly_topic, data_topic, encode_batch, encode_json
from sciot.sensors._config import PipelineConfig
from sciot.sensors._ground_truth import encode_event
from sciot.sensors._simulate import Simulator
from sciot.sensors._transport import PubSub

_BATCH_MAX_READINGS = 4096


class SensorPublisher:
    """Publishes simulated readings (and their ground truth) in real or accelerated time."""

    def __init__(self, config: PipelineConfig, pubsub: PubSub) -> None:
        self.config = config
        self.simulator = Simulator(config)
        self._pubsub = pubsub
        self.readings = 0
        self.messages = 0
        self._announced = 0

    def publish_until(self, until_s: float) -> int:
        """Publish every reading with a simulated time before ``until_s``; returns readings."""
        sim = self.config.simulation
        batches = self.simulator.advance(until_s)
        self._announce_events()
        published = 0
        for batch in batches:
            topic = data_topic(batch.info.sensor_id)
            sent_s = time.time()
            if sim.encoding == "json":
                for payload in encode_json(batch, sent_s=sent_s):
                    self._pubsub.publish(topic, payload, qos=sim.qos)
                self.messages += len(batch)
            else:
                for lo in range(0, len(batch), _BATCH_MAX_READINGS):
                    part = batch.slice(lo, lo + _BATCH_MAX_READINGS)
                    self._pubsub.publish(topic, encode_batch(part, sent_s=sent_s), qos=sim.qos)
                    self.messages += 1
            published += len(batch)
        self.readings += published
        return published

    def _announce_events(self) -> None:
        events = self.simulator.events
        for event in events[self._announced :]:
            self._pubsub.publish(anomaly_topic(event.sensor_id), encode_event(event), qos=1)
        self._announced = len(events)

    def run(self, *, duration_s: float, stop: threading.Event | None = None) -> None:
        """Publish in step with the wall clock for ``duration_s`` wall seconds."""
        sim = self.config.simulation
        wall0 = time.monotonic()
        start_s = self.simulator.start_s
        while True:
            elapsed = time.monotonic() - wall0
            if elapsed >= duration_s or (stop is not None and stop.is_set()):
                break
            self.publish_until(start_s + elapsed * sim.speed)
            self._pubsub.check()
            pause = sim.tick_s - (time.monotonic() - wall0 - elapsed)
            if pause > 0:
                time.sleep(min(pause, duration_s - elapsed))
        self.publish_until(start_s + min(time.monotonic() - wall0, duration_s) * sim.speed)
