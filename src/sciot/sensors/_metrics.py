"""Event-level detection quality and latency summaries.

An injected anomaly (an *event*) is caught when an alert for its sensor fires between its
start and its end plus a grace period (a window needs a few readings after the anomaly to
see it). Precision is the share of alerts that fall in some event's span plus grace; recall
the share of events caught. Per kind, recall counts events of that kind, and precision
charges each false alert to the kind the detector said it was, so every number is
well-defined and a detector that cries "spike" at noise pays for it under "spike". A ratio
with nothing to count (precision without alerts, recall without events) is None, not a guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sciot.sensors._config import PipelineConfig
from sciot.sensors._types import ANOMALY_KINDS, Alert, AnomalyEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class KindScore:
    """Precision, recall and F1 for one anomaly kind (or overall)."""

    events: int
    caught: int
    true_alerts: int
    false_alerts: int
    precision: float | None
    recall: float | None
    f1: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class EventScores:
    """Overall and per-kind scores."""

    overall: KindScore
    per_kind: Mapping[str, KindScore]


def _score(events: int, caught: int, true_alerts: int, false_alerts: int) -> KindScore:
    alerts = true_alerts + false_alerts
    precision = true_alerts / alerts if alerts else None
    recall = caught / events if events else None
    f1: float | None
    if precision is None and recall is None:
        f1 = None  # nothing happened and nothing was claimed
    elif precision is None or recall is None or precision + recall == 0:
        f1 = 0.0
    else:
        f1 = 2 * precision * recall / (precision + recall)
    return KindScore(
        events=events,
        caught=caught,
        true_alerts=true_alerts,
        false_alerts=false_alerts,
        precision=precision,
        recall=recall,
        f1=f1,
    )


def score_events(
    events: Sequence[AnomalyEvent],
    alerts: Sequence[Alert],
    *,
    grace_s: Mapping[str, float] | float,
    until_s: float | None = None,
) -> EventScores:
    """Score ``alerts`` against the ground truth ``events``.

    ``grace_s`` is one value or one per sensor id. Events whose span plus grace had not ended
    by ``until_s`` (the newest reading processed) are left out: the run stopped before anyone
    could be sure to see them, and so are the alerts that fall in them.
    """

    def grace(sensor_id: str) -> float:
        return grace_s if isinstance(grace_s, float | int) else grace_s.get(sensor_id, 0.0)

    pending: list[AnomalyEvent] = []
    if until_s is not None:
        pending = [e for e in events if e.end_s + grace(e.sensor_id) > until_s]
        events = [e for e in events if e.end_s + grace(e.sensor_id) <= until_s]
        # An alert for an event still in progress is neither right nor wrong yet.
        alerts = [
            a
            for a in alerts
            if not any(e.sensor_id == a.sensor_id and a.timestamp_s >= e.start_s for e in pending)
        ]

    by_sensor: dict[str, list[AnomalyEvent]] = {}
    for e in events:
        by_sensor.setdefault(e.sensor_id, []).append(e)
    caught: set[int] = set()
    index = {id(e): i for i, e in enumerate(events)}
    true_by_kind = dict.fromkeys(ANOMALY_KINDS, 0)
    false_by_kind = dict.fromkeys(ANOMALY_KINDS, 0)
    for alert in alerts:
        hit = None
        for e in by_sensor.get(alert.sensor_id, []):
            if e.start_s <= alert.timestamp_s <= e.end_s + grace(e.sensor_id):
                hit = e
                break
        if hit is None:
            false_by_kind[alert.kind] += 1
        else:
            caught.add(index[id(hit)])
            true_by_kind[hit.kind] += 1
    per_kind: dict[str, KindScore] = {}
    for kind in ANOMALY_KINDS:
        kind_events = [i for i, e in enumerate(events) if e.kind == kind]
        per_kind[kind] = _score(
            len(kind_events),
            sum(1 for i in kind_events if i in caught),
            true_by_kind[kind],
            false_by_kind[kind],
        )
    overall = _score(
        len(events), len(caught), sum(true_by_kind.values()), sum(false_by_kind.values())
    )
    return EventScores(overall=overall, per_kind=per_kind)


def percentile_ms(latencies_ms: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile, or None when there is nothing to summarise."""
    if not latencies_ms:
        return None
    return float(np.percentile(np.asarray(latencies_ms, dtype=np.float64), q))


def no_events_reason(
    config: PipelineConfig, covered_s: float | None, *, longer: str | None = None
) -> str:
    """Why a run has no anomaly to score, and what to change so that it has some.

    ``covered_s`` is the simulated time the run's readings covered, ``None`` when this process
    only ingested (the events are announced by the publishing process); ``longer`` is the
    advice for a run too short (default: the ``sensors run`` flags).
    """
    if covered_s is None:
        return (
            "no anomaly events arrived on sensors/+/anomaly for the sensors ingested here; the "
            "publishing process announces them, so run it while this one ingests"
        )
    anomalies = config.anomalies
    speed = config.simulation.speed
    advice = longer or (
        f"run longer (--duration) or faster (--speed, now {speed:g} simulated s per wall s)"
    )
    if not anomalies.kinds:
        return "no anomaly was injected: anomalies.kinds is empty"
    first_s = anomalies.warmup_s + anomalies.min_gap_s
    if covered_s <= first_s:
        return (
            f"no anomaly was injected: the run covered {covered_s:.0f} simulated s and the "
            f"first anomaly comes after anomalies.warmup_s + min_gap_s = {first_s:g} s; {advice}"
        )
    return (
        f"no anomaly ended within the {covered_s:.0f} simulated s this run covered (mean gap "
        f"between one sensor's anomalies: {anomalies.mean_gap_s:g} s); {advice}"
    )
