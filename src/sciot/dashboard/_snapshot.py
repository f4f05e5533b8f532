"""One tick of the dashboard: the edge's ``/api/stats`` document plus what a page derives from it.

The page must show the same numbers as ``/api/stats``, so a tick embeds that document verbatim
(``stats``) and adds only what needs two consecutive looks at the counters (inferences per
second and the latency of the last interval), the device's status (gone once it has not been
heard from for ``gone_after_s``) and the planner's link estimate. A bounded ring of compact
points per tick is what the time charts draw, so a page opened late still has the last minute.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sciot.dashboard._planner_view import link_views
from sciot.edge import EdgeCore
from sciot.edge._metrics import stats_json

AlertSource = Callable[[], Sequence[dict[str, Any]]]
"""Recent sensor-pipeline alerts, newest last, as JSON-ready dictionaries."""

HISTORY_FIELDS = ("end_to_end_ms", "cut", "inferences_per_s", "rtt_ms", "bandwidth_mbit_s")
"""Order of the values of one device in a history point."""


@dataclass(slots=True)
class _Previous:
    """A device's counters at the previous tick."""

    at_s: float
    inferences: int
    end_to_end_ms_sum: float


def _total_ms(entry: dict[str, Any]) -> float:
    mean = entry["mean_end_to_end_ms"]
    return 0.0 if mean is None else float(mean) * int(entry["inferences"])


class FleetTracker:
    """Turns successive ``/api/stats`` documents into ticks; call from one thread only."""

    def __init__(
        self,
        core: EdgeCore,
        *,
        gone_after_s: float = 5.0,
        history_points: int = 120,
        alerts: AlertSource | None = None,
    ) -> None:
        self._core = core
        self.gone_after_s = gone_after_s
        self._alerts = alerts
        self._previous: dict[str, _Previous] = {}
        self.history: deque[dict[str, Any]] = deque(maxlen=history_points)

    def tick(self, now_s: float | None = None) -> dict[str, Any]:
        """The current state, derived against the previous tick, appended to the history."""
        now_s = time.time() if now_s is None else now_s
        stats = stats_json(self._core)
        entries: list[dict[str, Any]] = stats["devices"]
        links = link_views(self._core, [e["device_id"] for e in entries], now_s)
        derived: dict[str, dict[str, Any]] = {}
        point: dict[str, list[float | int | None]] = {}
        for entry in entries:
            device_id = entry["device_id"]
            extra = self._derive(entry, now_s)
            extra.update(
                links.get(device_id)
                or {
                    "rtt_ms": None,
                    "bandwidth_mbit_s": None,
                    "link_identified": False,
                    "link_samples": 0,
                }
            )
            derived[device_id] = extra
            point[device_id] = [
                extra["recent_end_to_end_ms"],
                entry["next_cut"],
                extra["inferences_per_s"],
                extra["rtt_ms"],
                extra["bandwidth_mbit_s"],
            ]
        self.history.append({"at_s": round(now_s, 3), "devices": point})
        active = sum(1 for d in derived.values() if d["status"] == "active")
        rates = [d["inferences_per_s"] for d in derived.values() if d["inferences_per_s"]]
        return {
            "at_s": round(now_s, 3),
            "gone_after_s": self.gone_after_s,
            "stats": stats,
            "fleet": {
                "devices": len(entries),
                "active": active,
                "gone": len(entries) - active,
                "inferences_per_s": round(sum(rates), 2),
            },
            "derived": derived,
            "alerts": list(self._alerts()) if self._alerts is not None else None,
        }

    def _derive(self, entry: dict[str, Any], now_s: float) -> dict[str, Any]:
        device_id = entry["device_id"]
        inferences = int(entry["inferences"])
        total_ms = _total_ms(entry)
        before = self._previous.get(device_id)
        self._previous[device_id] = _Previous(now_s, inferences, total_ms)
        rate: float | None = None
        recent_ms: float | None = None
        if before is not None and now_s > before.at_s and inferences >= before.inferences:
            done = inferences - before.inferences
            rate = round(done / (now_s - before.at_s), 2)
            if done > 0:
                recent_ms = round((total_ms - before.end_to_end_ms_sum) / done, 3)
        frame_bytes = int(entry["uplink_bytes"]) + int(entry["downlink_bytes"])
        seen_ago_s = max(0.0, now_s - float(entry["last_seen_s"]))
        return {
            "status": "active" if seen_ago_s <= self.gone_after_s else "gone",
            "seen_ago_s": round(seen_ago_s, 2),
            "inferences_per_s": rate,
            "recent_end_to_end_ms": recent_ms,
            "bytes_per_inference": round(frame_bytes / inferences, 1) if inferences else None,
        }

    def history_json(self) -> dict[str, Any]:
        return {"type": "history", "fields": list(HISTORY_FIELDS), "points": list(self.history)}
