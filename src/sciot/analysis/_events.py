"""The events of a scenario, as time windows a timeline can shade.

A dynamic scenario places its events at fractions of the span it ran over (an outage from a
third to a half of it, a bandwidth drop at a third...). The run records that span per scenario
(``spans_s`` in ``run.json``; older runs: the configured duration), so the windows are rebuilt
here from the scenario's definition in :mod:`sciot.sim` rather than guessed from the rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from sciot.errors import ConfigError
from sciot.sim import scenario


@dataclass(frozen=True, slots=True, kw_only=True)
class EventWindow:
    """``[start_s, end_s)`` of one event (``end_s == start_s``: an instant, such as a step)."""

    kind: str
    """``outage``, ``edge overload``, ``device throttled`` or ``bandwidth``."""
    start_s: float
    end_s: float
    label: str


def scenario_events(name: str, span_s: float) -> tuple[EventWindow, ...]:
    """The events of scenario ``name`` over a run of ``span_s`` (none for unknown names)."""
    if span_s <= 0:
        return ()
    try:
        chosen = scenario(name)
    except ConfigError:
        return ()  # a scenario this version does not know: its rows still plot, unmarked
    events = [
        EventWindow(kind="outage", start_s=w.start_s, end_s=w.end_s, label="edge unreachable")
        for w in chosen.outages(span_s)
    ]
    events += [
        EventWindow(
            kind="edge overload",
            start_s=w.start_s,
            end_s=w.end_s,
            label=f"edge {w.factor:g}x slower",
        )
        for w in chosen.edge_slowdowns(span_s)
    ]
    events += [
        EventWindow(
            kind="device throttled",
            start_s=w.start_s,
            end_s=w.end_s,
            label=f"device {w.factor:g}x slower",
        )
        for w in chosen.device_slowdowns(span_s)
    ]
    for step in chosen.link_steps(span_s):
        if step.bytes_per_s is not None:
            label = f"link {step.bytes_per_s * 8 / 1e6:g} Mbit/s"
            events.append(
                EventWindow(kind="bandwidth", start_s=step.at_s, end_s=step.at_s, label=label)
            )
    return tuple(sorted(events, key=lambda e: e.start_s))


__all__ = ["EventWindow", "scenario_events"]
