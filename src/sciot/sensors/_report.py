"""What a run did, and its ``--json`` document: throughput, losses, alerts, latency, quality.

:func:`build_report` reads the publisher and the ingest stage once a run is over and scores
the alerts against the ground truth; :class:`RunReport` holds the result and writes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sciot.errors import SensorError
from sciot.sensors._config import PipelineConfig
from sciot.sensors._detector_base import Detector
from sciot.sensors._ingest import IngestStage
from sciot.sensors._metrics import EventScores, no_events_reason, percentile_ms, score_events
from sciot.sensors._publisher import SensorPublisher
from sciot.sensors._types import Alert, IngestCounts

Mode = Literal["simulate", "ingest", "all"]


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


def build_report(
    config: PipelineConfig,
    mode: Mode,
    elapsed_s: float,
    publisher: SensorPublisher | None,
    ingest: IngestStage | None,
    *,
    longer: str | None = None,
) -> RunReport:
    """The report of a finished run; ``longer`` says how to cover more time if no event was seen.

    A publisher here means the ground truth is the simulator's own; without one, only the
    events announced for sensors this process ingested are scored.
    """
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
