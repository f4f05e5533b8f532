"""Event-level scoring on hand-made events and alerts."""

from __future__ import annotations

from typing import Any

import pytest

from sciot.sensors import Alert, AnomalyEvent, score_events


def _alert(sensor_id: str, t: float, kind: Any = "spike") -> Alert:
    return Alert(
        sensor_id=sensor_id,
        timestamp_s=t,
        severity="warning",
        kind=kind,
        feature="level",
        score=9.0,
        value=1.0,
        expected=0.0,
        reason="r",
        sent_s=0.0,
        raised_s=0.0,
    )


EVENTS = [
    AnomalyEvent(sensor_id="a", kind="spike", start_s=100.0, end_s=101.0, magnitude=1.0),
    AnomalyEvent(sensor_id="a", kind="drift", start_s=200.0, end_s=260.0, magnitude=1.0),
    AnomalyEvent(sensor_id="b", kind="stuck", start_s=100.0, end_s=150.0, magnitude=1.0),
]


def test_event_level_precision_recall() -> None:
    alerts = [
        _alert("a", 104.0),  # within the spike's grace (5 s)
        _alert("a", 230.0, "level_shift"),  # inside the drift
        _alert("a", 240.0),  # second alert in the same drift: still a true alert
        _alert("b", 170.0, "stuck"),  # after stuck + grace: false
        _alert("b", 120.0, "spike"),  # on b during stuck: true (caught), wrong guess is fine
        _alert("c", 120.0, "noise_burst"),  # unknown sensor: false
    ]
    scores = score_events(EVENTS, alerts, grace_s=5.0)
    o = scores.overall
    assert (o.events, o.caught, o.true_alerts, o.false_alerts) == (3, 3, 4, 2)
    assert o.precision == pytest.approx(4 / 6) and o.recall == 1.0
    assert o.f1 == pytest.approx(2 * (4 / 6) / (4 / 6 + 1))
    assert scores.per_kind["drift"].true_alerts == 2
    assert scores.per_kind["stuck"].false_alerts == 1
    assert scores.per_kind["noise_burst"].precision == 0.0
    assert scores.per_kind["dropout"].f1 is None


def test_grace_per_sensor_and_events_not_yet_seen() -> None:
    alerts = [_alert("a", 104.0), _alert("a", 205.0)]
    scores = score_events(EVENTS, alerts, grace_s={"a": 1.0}, until_s=210.0)
    assert scores.overall.events == 2  # the drift had not ended by until_s
    assert scores.overall.caught == 0 and scores.overall.recall == 0.0
    # The alert at 205 s is in the unfinished drift: not counted either way.
    assert scores.overall.false_alerts == 1
    assert scores.overall.f1 == 0.0
