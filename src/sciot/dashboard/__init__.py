"""A live web page of the fleet, served by the edge itself (the ``dashboard`` layer).

:func:`mount_dashboard` adds ``/dashboard`` (the page), its JSON endpoints and a WebSocket of
live ticks to an :class:`~sciot.edge.EdgeApp`; ``docs/dashboard.md`` documents them. Every tick
embeds the edge's ``/api/stats`` document unchanged, so the page shows exactly those numbers;
:func:`sensor_alerts` shows a sensor pipeline's alerts beside them.
"""

from sciot.dashboard._alerts import sensor_alerts
from sciot.dashboard._feed import LiveFeed
from sciot.dashboard._planner_view import link_views, plan_view
from sciot.dashboard._routes import DASHBOARD_PATH, mount_dashboard
from sciot.dashboard._snapshot import HISTORY_FIELDS, AlertSource, FleetTracker

__all__ = [
    "DASHBOARD_PATH",
    "HISTORY_FIELDS",
    "AlertSource",
    "FleetTracker",
    "LiveFeed",
    "link_views",
    "mount_dashboard",
    "plan_view",
    "sensor_alerts",
]
