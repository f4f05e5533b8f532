"""Every policy of a scenario covers the same simulated span, with the scenario's events in it.

A run is bounded twice: ``duration_s`` of virtual time and ``requests`` per client. A fast
policy reaches the request bound sooner than a slow one, so bounding by requests alone would
end policies at different times -- one before a bandwidth drop, one after it -- and compare
them on different worlds. So:

- :func:`plan_span` shortens the span up front to what ``requests`` can cover at the fastest
  possible cut (the scenario's events, placed at fractions of the span, move with it), and
  refuses a run whose phases between events would hold too few requests to mean anything;
- :func:`common_span` cuts every policy's rows to the span all of them covered, after the
  fact (noise can still let one policy run out of requests a little early), and says so when
  that leaves events outside.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np

from sciot.errors import ConfigError
from sciot.sim._run_types import InferenceRow
from sciot.sim.scenarios import Scenario

MIN_REQUESTS_PER_PHASE = 5


def plan_span(
    chosen: Scenario,
    *,
    duration_s: float,
    requests: int,
    think_s: float,
    fastest_s: Callable[[float], float],
) -> tuple[float, str | None]:
    """The virtual span to run (and a note when it is shorter than ``duration_s``).

    ``fastest_s(span_s)`` is the lowest expected latency of any cut over a run of that span.
    """
    fractions = sorted({0.0, 1.0, *(t / duration_s for t in chosen.event_times(duration_s))})
    shortest = min(b - a for a, b in itertools.pairwise(fractions))
    needed = math.ceil(MIN_REQUESTS_PER_PHASE / shortest)
    if chosen.dynamic and requests < needed:
        raise ConfigError(
            f"scenario {chosen.name!r} needs at least {needed} requests per client so each "
            f"phase between its events holds {MIN_REQUESTS_PER_PHASE}; got {requests} "
            "(raise --requests)"
        )
    per_request_s = fastest_s(duration_s) + think_s
    reach_s = requests * per_request_s
    if reach_s >= duration_s:
        return duration_s, None
    span_s = reach_s
    return span_s, (
        f"scenario {chosen.name}: {requests} requests per client cover at most "
        f"{span_s:.2f} s of virtual time at the fastest cut, so every policy ran "
        f"{span_s:.2f} s (not {duration_s:g} s)"
        + (" with the events placed in that span" if chosen.dynamic else "")
    )


def covered_span(rows: Sequence[InferenceRow], covered_s: float) -> float:
    """The span a policy run covered (``covered_s`` from the loop; rows as a fallback)."""
    if math.isfinite(covered_s):
        return covered_s
    return max((r.start_s + r.latency_ms / 1e3 for r in rows), default=0.0)


def common_span(
    chosen: Scenario,
    runs: dict[str, tuple[list[InferenceRow], float]],
    *,
    span_s: float,
) -> tuple[dict[str, list[InferenceRow]], str | None]:
    """Cut every policy's rows to the span all covered; a note if that drops events."""
    if len(runs) < 2:  # nothing to compare with
        return {p: rows for p, (rows, _c) in runs.items()}, None
    end_s = min([span_s, *(covered_span(rows, c) for rows, c in runs.values())])
    cut_rows = {p: [r for r in rows if r.start_s < end_s] for p, (rows, _c) in runs.items()}
    note = None
    if end_s < span_s * (1 - 1e-9):
        shorts = [p for p, (rows, c) in runs.items() if covered_span(rows, c) <= end_s]
        lost = [t for t in chosen.event_times(span_s) if t >= end_s]
        note = (
            f"scenario {chosen.name}: {', '.join(shorts)} stopped at {end_s:.2f} s (out of "
            f"requests, or past the wall-time bound), so every policy is scored on "
            f"[0, {end_s:.2f}) s"
            + (
                f"; events at {', '.join(f'{t:.2f}' for t in lost)} s fall outside "
                "(raise --requests)"
                if lost
                else ""
            )
        )
    return cut_rows, note


def fastest_expected_s(
    expected_s: Callable[[int, float], float], cuts: Sequence[int], span_s: float
) -> float:
    """The lowest expected latency of any of ``cuts`` at any of a few times in the span."""
    times = np.linspace(0.0, span_s, 24, endpoint=False)
    return min(expected_s(cut, float(t)) for cut in cuts for t in times)


__all__ = [
    "MIN_REQUESTS_PER_PHASE",
    "common_span",
    "covered_span",
    "fastest_expected_s",
    "plan_span",
]
