"""The running pipeline: a publisher of simulated readings and an ingest stage, wired by topics.

:class:`SensorPublisher` advances the simulator with the wall clock (``speed`` simulated
seconds per wall second) and publishes each tick's readings on ``sensors/<id>/data``.
:class:`IngestStage` subscribes (``$share/<group>/sensors/+/data`` on a broker, so several
ingest processes split the load), drains its bounded inbox in batches and runs decode ->
validate -> windows -> features -> detector -> alert gate, publishing alerts on
``alerts/<id>/notification``. :func:`run_pipeline` runs either or both for a bounded time and
returns a :class:`RunReport`.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sciot.errors import ConfigError, SciotError, SensorError
from sciot.sensors._alerts import AlertGate
from sciot.sensors._codec import (
    Decoder,
    alert_topic,
    anomaly_topic,
    data_topic,
    encode_alert,
    encode_batch,
    encode_json,
)
from sciot.sensors._config import PipelineConfig
from sciot.sensors._detect import Detector, make_detector
from sciot.sensors._metrics import EventScores, no_events_reason, percentile_ms, score_events
from sciot.sensors._simulate import SENSOR_TYPES, Simulator
from sciot.sensors._transport import Inbox, InProcessPubSub, MqttPubSub, PubSub, parse_broker
from sciot.sensors._types import Alert, AnomalyEvent, IngestCounts
from sciot.sensors._windows import WindowBuilder

Mode = Literal["simulate", "ingest", "all"]
Progress = Callable[[float], None]
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


def encode_event(event: AnomalyEvent) -> bytes:
    return json.dumps(
        {
            "sensor_id": event.sensor_id,
            "kind": event.kind,
            "start_s": event.start_s,
            "end_s": event.end_s,
            "magnitude": event.magnitude,
        }
    ).encode()


def decode_event(payload: bytes) -> AnomalyEvent | None:
    try:
        doc = json.loads(payload)
        return AnomalyEvent(
            sensor_id=str(doc["sensor_id"]),
            kind=doc["kind"],
            start_s=float(doc["start_s"]),
            end_s=float(doc["end_s"]),
            magnitude=float(doc["magnitude"]),
        )
    except (ValueError, KeyError, TypeError, SciotError):
        return None


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


@dataclass(frozen=True, slots=True, kw_only=True)
class RunReport:
    """What a run did: throughput, losses by reason, alerts, latency and detection quality."""

    mode: Mode
    duration_s: float
    published: int
    counts: IngestCounts
    readings_per_s: float
    alerts: tuple[Alert, ...]
    suppressed: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    scores: EventScores | None
    events: int
    detector: Detector | None = field(default=None, compare=False, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document (keys documented in docs/sensors.md)."""
        c = self.counts
        doc: dict[str, Any] = {
            "mode": self.mode,
            "duration_s": round(self.duration_s, 3),
            "published": self.published,
            "readings": c.readings,
            "readings_per_s": round(self.readings_per_s, 1),
            "messages": c.messages,
            "alerts": len(self.alerts),
            "suppressed_alerts": self.suppressed,
            "malformed": c.malformed,
            "out_of_range": c.out_of_range,
            "late": c.late,
            "duplicate": c.duplicate,
            "dropped": c.dropped,
            "missing_seq": c.missing_seq,
            "latency_ms": {"p50": self.latency_p50_ms, "p99": self.latency_p99_ms},
            "events": self.events,
            "precision": None,
            "recall": None,
            "f1": None,
            "per_kind": {},
        }
        if self.scores is not None:
            o = self.scores.overall
            if self.events:
                doc.update(precision=o.precision, recall=o.recall, f1=o.f1)
            # With no event to catch, a score would grade the detector on nothing: all three
            # stay null and ``scores_note`` (from ``extra``) says why.
            doc["per_kind"] = {
                kind: {
                    "events": s.events,
                    "caught": s.caught,
                    "false_alerts": s.false_alerts,
                    "precision": s.precision,
                    "recall": s.recall,
                    "f1": s.f1,
                }
                for kind, s in self.scores.per_kind.items()
            }
        doc.update(self.extra)
        return doc

    def write_json(self, path: str | Path) -> None:
        try:
            Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise SensorError(f"cannot write the run report to {path}: {exc}") from exc


def grace_by_sensor(config: PipelineConfig) -> dict[str, float]:
    """Scoring grace per sensor: configured, else one window of that sensor's readings."""
    if config.scoring.grace_s is not None:
        return {s.id: config.scoring.grace_s for s in config.sensors}
    return {s.id: config.processing.window / s.rate_hz for s in config.sensors}


def evaluate_detection(
    config: PipelineConfig,
    *,
    simulated_s: float,
    chunk_s: float = 30.0,
    detector: Detector | None = None,
) -> RunReport:
    """Replay ``simulated_s`` of the plant through the ingest stage as fast as it goes.

    Same simulator, decoder, windows, detector and alert gate as a live run, carried by the
    in-process transport in batch encoding and driven by simulated time instead of the wall
    clock, so detection quality can be measured over hours of plant time in seconds and is
    exactly reproducible for a seed.
    """
    if not 0 < simulated_s <= 30 * 86_400:
        raise ConfigError(f"simulated_s must be in (0, 30 days], got {simulated_s}")
    if chunk_s <= 0:
        raise ConfigError(f"chunk_s must be > 0, got {chunk_s}")
    replay = config.model_copy(
        update={"simulation": config.simulation.model_copy(update={"encoding": "batch"})}
    )
    bus = InProcessPubSub()
    wall0 = time.monotonic()
    ingest = IngestStage(replay, bus, detector=detector)
    publisher = SensorPublisher(replay, bus)
    start_s = publisher.simulator.start_s
    chunks = max(1, math.ceil(simulated_s / chunk_s))
    for k in range(1, chunks + 1):
        publisher.publish_until(start_s + min(simulated_s, k * chunk_s))
        while ingest.step(timeout_s=0.0):
            pass
    bus.close()
    return _report(
        replay, "all", time.monotonic() - wall0, publisher, ingest, longer="replay more (--hours)"
    )


def run_pipeline(
    config: PipelineConfig,
    *,
    mode: Mode = "all",
    duration_s: float = 10.0,
    broker: str | None = None,
    detector: Detector | None = None,
    settle_s: float = 5.0,
    progress: Progress | None = None,
) -> RunReport:
    """Run for ``duration_s`` wall seconds (plus at most ``settle_s`` to drain) and report.

    Without ``broker`` both stages share an in-process transport (``mode`` must be ``all``).
    With one, ``simulate`` only publishes, ``ingest`` only consumes (ground truth, if any,
    arrives on ``sensors/<id>/anomaly``), ``all`` does both with two MQTT clients.
    """
    if not 0 < duration_s <= 86_400:
        raise ConfigError(f"--duration must be in (0, 86400] seconds, got {duration_s}")
    if broker is None and mode != "all":
        raise ConfigError(
            f"--mode {mode} needs --broker HOST:PORT: without a broker the readings stay inside "
            "one process, so simulate and ingest must run together (--mode all)"
        )
    pubsubs: list[PubSub] = []
    pub_side: PubSub | None = None
    ingest_side: PubSub | None = None
    try:
        if broker is None:
            pub_side = ingest_side = InProcessPubSub()
            pubsubs.append(pub_side)
        else:
            address = parse_broker(broker)
            if mode in ("simulate", "all"):
                pub_side = MqttPubSub(address)
                pubsubs.append(pub_side)
            if mode in ("ingest", "all"):
                ingest_side = MqttPubSub(address)
                pubsubs.append(ingest_side)
        return _run(config, mode, duration_s, pub_side, ingest_side, detector, settle_s, progress)
    finally:
        for p in pubsubs:
            p.close()


def _run(
    config: PipelineConfig,
    mode: Mode,
    duration_s: float,
    pub_side: PubSub | None,
    ingest_side: PubSub | None,
    detector: Detector | None,
    settle_s: float,
    progress: Progress | None,
) -> RunReport:
    ingest = None
    if ingest_side is not None:
        ingest = IngestStage(config, ingest_side, detector=detector)
    publisher = SensorPublisher(config, pub_side) if pub_side is not None else None
    failure: list[BaseException] = []
    done = threading.Event()

    def publish() -> None:
        assert publisher is not None and pub_side is not None
        try:
            publisher.run(duration_s=duration_s, stop=done)
            pub_side.flush(timeout_s=settle_s)
        except BaseException as exc:  # re-raised in the caller's thread below
            failure.append(exc)
        finally:
            done.set()

    wall0 = time.monotonic()
    thread = None
    if publisher is not None:
        thread = threading.Thread(target=publish, name="sciot-sensor-publisher", daemon=True)
        thread.start()
    else:
        done.set()
    try:
        _consume(ingest, publisher, done, wall0, duration_s, settle_s, progress)
    finally:
        done.set()
        if thread is not None:
            thread.join(timeout=settle_s + 5.0)
    if failure:
        raise failure[0]
    return _report(config, mode, time.monotonic() - wall0, publisher, ingest)


def _consume(
    ingest: IngestStage | None,
    publisher: SensorPublisher | None,
    done: threading.Event,
    wall0: float,
    duration_s: float,
    settle_s: float,
    progress: Progress | None,
) -> None:
    """Drive the ingest stage until the publisher is done and everything has arrived."""
    idle_since: float | None = None
    while True:
        now = time.monotonic()
        if progress is not None:
            progress(min(1.0, (now - wall0) / duration_s))
        if ingest is None:
            if done.wait(0.1):
                return
            continue
        if now - wall0 > duration_s + settle_s:
            ingest.abandon_backlog()  # bounded: what is still queued counts as dropped
            return
        handled = ingest.step(timeout_s=0.02)
        if publisher is None:
            # Ingest only: readings come from elsewhere, so run for the whole duration.
            if now - wall0 >= duration_s:
                ingest.abandon_backlog()
                return
            continue
        if handled or not done.is_set():
            idle_since = None
            continue
        if _all_arrived(ingest, publisher):
            return
        idle_since = now if idle_since is None else idle_since
        # At QoS 0 the broker may drop messages, so a quiet second means the rest is gone. At
        # QoS >= 1 every message is on its way however slowly a loaded machine moves it, so the
        # wait ends only when all arrived or at the settle bound above.
        may_lose = ingest.config.simulation.qos == 0
        if may_lose and now - idle_since > min(1.0, settle_s):
            return


def _all_arrived(ingest: IngestStage, publisher: SensorPublisher) -> bool:
    return ingest.inbox.received >= publisher.messages and len(ingest.inbox) == 0


def _report(
    config: PipelineConfig,
    mode: Mode,
    elapsed_s: float,
    publisher: SensorPublisher | None,
    ingest: IngestStage | None,
    *,
    longer: str | None = None,
) -> RunReport:
    if ingest is None:
        return RunReport(
            mode=mode,
            duration_s=elapsed_s,
            published=publisher.readings if publisher else 0,
            counts=IngestCounts(),
            readings_per_s=(publisher.readings / elapsed_s) if publisher else 0.0,
            alerts=(),
            suppressed=0,
            latency_p50_ms=None,
            latency_p99_ms=None,
            scores=None,
            events=len(publisher.simulator.events) if publisher else 0,
        )
    counts = ingest.counts
    if publisher is not None:
        events = list(publisher.simulator.events)
    else:
        # Score only the sensors this process ingested (others may be another process's).
        events = [e for e in ingest.events if ingest.windows.seen(e.sensor_id)]
    scores = None
    if events or publisher is not None:
        scores = score_events(
            events, ingest.alerts, grace_s=grace_by_sensor(config), until_s=ingest.newest_s
        )
    latencies = [a.latency_ms for a in ingest.alerts]
    seen = scores.overall.events if scores is not None else len(events)
    extra: dict[str, Any] = {}
    if not seen:
        covered_s = None
        if publisher is not None:
            newest = ingest.newest_s
            covered_s = 0.0 if newest is None else newest - publisher.simulator.start_s
        extra["scores_note"] = no_events_reason(config, covered_s, longer=longer)
    if publisher is not None:
        # Messages published here that never reached the inbox (QoS 0 loss at the broker, or
        # still in flight when the run ended): counted, so a loss is never silent.
        extra["unarrived_messages"] = max(0, publisher.messages - ingest.inbox.received)
    return RunReport(
        mode=mode,
        duration_s=elapsed_s,
        published=publisher.readings if publisher else 0,
        counts=counts,
        readings_per_s=counts.readings / ingest.busy_s if ingest.busy_s else 0.0,
        alerts=tuple(ingest.alerts),
        suppressed=ingest.gate.suppressed,
        latency_p50_ms=percentile_ms(latencies, 50),
        latency_p99_ms=percentile_ms(latencies, 99),
        scores=scores,
        events=seen,
        detector=ingest.detector,
        extra=extra,
    )
