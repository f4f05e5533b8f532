"""The dashboard's routes, added to an edge's own FastAPI app.

The edge (a lower layer) knows nothing of the dashboard; whoever composes a server (``sciot
serve``, ``sciot demo``, a test) calls :func:`mount_dashboard` on the :class:`~sciot.edge.EdgeApp`
before serving it. The page and its script are files shipped in the package, read once here; no
build step, no template engine. Routes are ``async``; what costs more than a few hundred
microseconds or takes the planner's lock (a tick, the history, a planner view) runs in a worker
thread, never on the event loop that serves frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from importlib import resources
from typing import Any

from fastapi import FastAPI, HTTPException, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, Response

from sciot.dashboard._feed import LiveFeed
from sciot.dashboard._planner_view import plan_view
from sciot.dashboard._snapshot import AlertSource, FleetTracker
from sciot.edge import EdgeApp
from sciot.errors import ConfigError

DASHBOARD_PATH = "/dashboard"
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


def _static_files() -> dict[str, tuple[bytes, str]]:
    """Every shipped page file by its URL name (``vendor/uPlot.iife.min.js``), with its type."""
    files: dict[str, tuple[bytes, str]] = {}
    root = resources.files("sciot.dashboard") / "static"
    pending = [("", root)]
    while pending:
        prefix, folder = pending.pop()
        for item in folder.iterdir():
            name = prefix + item.name
            if item.is_dir():
                pending.append((name + "/", item))
            else:
                suffix = "." + item.name.rsplit(".", 1)[-1]
                if suffix in _CONTENT_TYPES:
                    files[name] = (item.read_bytes(), _CONTENT_TYPES[suffix])
    return files


def mount_dashboard(
    edge: EdgeApp,
    *,
    interval_s: float = 0.5,
    gone_after_s: float = 5.0,
    history_points: int = 120,
    alerts: AlertSource | None = None,
) -> LiveFeed:
    """Serve the live dashboard at ``/dashboard`` on the edge's app; returns its feed."""
    if not 0.05 <= interval_s <= 1.0:
        raise ConfigError(
            f"dashboard interval_s must be between 0.05 and 1.0 s (live means at least once a "
            f"second), got {interval_s}"
        )
    if gone_after_s <= interval_s:
        raise ConfigError(
            f"dashboard gone_after_s ({gone_after_s}) must exceed interval_s ({interval_s})"
        )
    tracker = FleetTracker(
        edge.core, gone_after_s=gone_after_s, history_points=history_points, alerts=alerts
    )
    feed = LiveFeed(tracker, interval_s=interval_s)
    _add_routes(edge.api, edge, feed, _static_files())
    return feed


def _add_routes(
    api: FastAPI, edge: EdgeApp, feed: LiveFeed, files: dict[str, tuple[bytes, str]]
) -> None:
    page = files["index.html"][0].decode()

    @api.get(DASHBOARD_PATH, response_class=HTMLResponse, include_in_schema=False)
    async def dashboard_page() -> str:
        return page

    @api.get(DASHBOARD_PATH + "/static/{name:path}", include_in_schema=False)
    async def dashboard_static(name: str) -> Response:
        found = files.get(name)
        if found is None:
            raise HTTPException(status_code=404, detail=f"no dashboard file {name!r}")
        body, content_type = found
        return Response(body, media_type=content_type, headers={"cache-control": "max-age=3600"})

    @api.get(DASHBOARD_PATH + "/api/snapshot")
    async def dashboard_snapshot() -> dict[str, Any]:
        return await asyncio.to_thread(feed.tick_now)

    @api.get(DASHBOARD_PATH + "/api/history")
    async def dashboard_history() -> dict[str, Any]:
        return await asyncio.to_thread(feed.history_json)

    @api.get(DASHBOARD_PATH + "/api/devices/{device_id}")
    async def dashboard_device(device_id: str) -> dict[str, Any]:
        # In a thread: it waits for the planner's lock, which a planner round holds for
        # milliseconds that frames on the event loop should not wait.
        view = await asyncio.to_thread(plan_view, edge.core, device_id, time.time())
        if view is None:
            raise HTTPException(
                status_code=404, detail=f"device {device_id!r} is not registered with this edge"
            )
        return view

    @api.websocket(DASHBOARD_PATH + "/live")
    async def dashboard_live(websocket: WebSocket) -> None:
        await websocket.accept()
        mailbox = feed.subscribe()
        closed = asyncio.ensure_future(websocket.receive())  # the page never talks: a close
        try:
            history = await asyncio.to_thread(lambda: json.dumps(feed.history_json()))
            await websocket.send_text(history)
            while True:
                tick = asyncio.ensure_future(mailbox.get())
                await asyncio.wait((tick, closed), return_when=asyncio.FIRST_COMPLETED)
                if closed.done():
                    tick.cancel()
                    return
                await websocket.send_text(tick.result())
        except (WebSocketDisconnect, OSError, RuntimeError):
            return  # the page went away or the server is stopping
        finally:
            feed.unsubscribe(mailbox)
            closed.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await closed
