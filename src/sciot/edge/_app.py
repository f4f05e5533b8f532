"""The edge's ASGI application: a lean frame path in front of a FastAPI app for the rest.

Frames (``POST /v1/frame`` and the WebSocket ``/v1/ws``) are served by a few lines of raw ASGI:
read the body within ``max_frame_bytes``, hand it to :meth:`EdgeCore.handle_frame` (in a worker
thread unless its tail is predicted to cost less than the hand-off), write the reply. No
routing tables, validation models or JSON on that path; that is where the per-request
microseconds go when a whole split inference takes a fraction of a millisecond. Everything
else (``/metrics``, ``/api/stats``, the SCIoT-compatible JSON endpoints, ``/healthz``) is an
ordinary FastAPI app, which also owns the lifespan: the telemetry writer and the planner worker
start and stop with the server.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from sciot.edge._core import EdgeCore, PlannerWorker, Reply
from sciot.edge._listeners import handle_on, peer_host
from sciot.edge._metrics import render_metrics, stats_json
from sciot.edge._model_routes import add_model_routes
from sciot.edge._operator import OperatorGate
from sciot.edge._versions import ModelDeployer
from sciot.errors import LocalProtocolError
from sciot.transport import FRAME_CONTENT_TYPE, FRAME_PATH, WS_PATH
from sciot.wire import DeviceProfile, ErrorFrame, Register, RegisterAck, decode, encode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# SCIoT clients post to these; here they carry the same binary frames as /v1/frame.
COMPAT_FRAME_PATHS = ("/api/device_input", "/api/device_inference_result")
FRAME_PATHS = frozenset((FRAME_PATH, *COMPAT_FRAME_PATHS))
_FRAME_HEADERS = [(b"content-type", FRAME_CONTENT_TYPE.encode())]
_CLOSE_HEADERS = [*_FRAME_HEADERS, (b"connection", b"close")]
# An oversized body up to this multiple of max_frame_bytes is read and discarded before the 413,
# so an ordinary client gets the answer instead of a reset; beyond it the connection is closed.
DRAIN_FACTOR = 4


class EdgeApp:
    """ASGI callable: frames on the fast path, everything else to FastAPI."""

    def __init__(self, core: EdgeCore, *, workers: int) -> None:
        self.core = core
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sciot-tail")
        planning = core.config.planner
        self.planner = PlannerWorker(
            core, busy_fraction=planning.busy_fraction, min_round_s=planning.min_round_s
        )
        self.deployer = ModelDeployer(core, workers=workers)
        self.api = _build_api(self)
        self._max = core.max_frame_bytes
        self.operator = OperatorGate(core.config.auth.operator_token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" and scope["path"] in FRAME_PATHS and scope["method"] == "POST":
            await self._http_frame(scope, receive, send)
        elif kind == "websocket" and scope["path"] == WS_PATH:
            await self._websocket(scope, receive, send)
        elif kind in ("http", "websocket") and not await self.operator.admit(scope, send):
            return
        else:
            await self.api(scope, receive, send)

    async def _handle(self, data: bytes, transport: str, source: str = "") -> Reply:
        return await handle_on(self.core, self.executor, data, transport, source)

    async def _http_frame(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = _content_length(scope)
        if declared is not None and declared > DRAIN_FACTOR * self._max:
            # Far too large to be worth reading: answer and drop the connection.
            await _respond(send, self.core.refuse_oversized(declared), close=True)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= self._max:
                chunks.append(chunk)
            elif size > DRAIN_FACTOR * self._max:
                await _respond(send, self.core.refuse_oversized(size), close=True)
                return
            more = message.get("more_body", False)
        if size > self._max:
            # Read to the end (bounded above), so the client sees the 413 and keeps its connection.
            await _respond(send, self.core.refuse_oversized(size))
            return
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        await _respond(
            send,
            await self._handle(
                data,
                "https" if scope.get("scheme") == "https" else "http",
                peer_host(scope.get("client")),
            ),
        )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = "wss" if scope.get("scheme") == "wss" else "ws"
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is None:
                reply = self.core.malformed("send frames as binary WebSocket messages, not text")
            elif len(data) > self._max:
                reply = self.core.refuse_oversized(len(data))
            else:
                reply = await self._handle(data, transport, peer_host(scope.get("client")))
            try:
                await send({"type": "websocket.send", "bytes": reply.frame})
            except OSError:  # the device went away mid-request; nothing left to answer
                return

    def start(self) -> None:
        if self.core.telemetry is not None:
            self.core.telemetry.start()
        self.planner.start()

    def stop(self) -> None:
        self.deployer.join(timeout_s=30.0)
        self.planner.stop()
        self.executor.shutdown(wait=True)
        if self.core.telemetry is not None:
            self.core.telemetry.close()


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _respond(send: Send, reply: Reply, *, close: bool = False) -> None:
    headers = _CLOSE_HEADERS if close else _FRAME_HEADERS
    await send(
        {
            "type": "http.response.start",
            "status": reply.status,
            "headers": [*headers, (b"content-length", str(len(reply.frame)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": reply.frame})


class RegistrationBody(BaseModel):
    """SCIoT-style JSON registration (``/api/registration``).

    The field limits here are only the cheap first line; the wire message's own checks (bytes,
    not characters; valid Unicode) decide, and their refusals are answered as 422 too.
    """

    model_config = ConfigDict(extra="forbid")

    device_id: str = Field(min_length=1, max_length=64)
    model_id: str | None = Field(default=None, pattern=r"^([0-9a-f]{16})?$")
    kind: str = Field(default="", max_length=255)


def _register_message(body: RegistrationBody, default_model_id: str) -> Register:
    """The wire registration a JSON body stands for, or a 422 naming what is wrong with it."""
    try:
        return Register(
            device_id=body.device_id,
            model_id=body.model_id or default_model_id,
            profile=DeviceProfile(kind=body.kind),
        )
    except LocalProtocolError as exc:
        raise HTTPException(status_code=422, detail=f"invalid registration: {exc}") from None


def _invalid_request(_: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 for a body that fails validation, rendered so any input can be answered.

    The stock handler echoes each offending input back, and rendering a lone surrogate or a
    NaN from the junk body then fails: a 500 for the client's mistake. Here each error keeps
    where and what (``loc``, ``msg``, ``type``) and the input only as a short ASCII repr.
    """
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
            "input": ascii(error.get("input"))[:200],
        }
        for error in errors
    ]
    return JSONResponse(status_code=422, content={"detail": detail})


def _build_api(edge: EdgeApp) -> FastAPI:
    core = edge.core

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        edge.start()
        try:
            yield
        finally:
            edge.stop()

    api = FastAPI(title="sciot edge", lifespan=lifespan, docs_url=None, redoc_url=None)
    api.add_exception_handler(RequestValidationError, _invalid_request)
    add_model_routes(api, edge)

    @api.get("/healthz")
    def healthz() -> dict[str, Any]:
        # One entry per label, also while an older version still serves its devices.
        return {"status": "ok", "models": list(core.versions.current)}

    # Plain ``def`` routes run in the threadpool, off the event loop the frames are served on.
    @api.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> str:
        return render_metrics(core)

    @api.get("/api/stats")
    def stats() -> Response:
        # json.dumps directly: FastAPI's generic encoder took ~85 ms per 1,000 devices, this ~14.
        return Response(json.dumps(stats_json(core)), media_type="application/json")

    @api.post("/api/registration")
    def registration(body: RegistrationBody) -> dict[str, Any]:
        # The first configured label's current version (deployments append to core.models).
        register = _register_message(body, next(iter(core.versions.current.values())))
        reply = decode(core.handle_frame(encode(register), time.time()).frame)
        if isinstance(reply, ErrorFrame):
            raise HTTPException(status_code=int(reply.code), detail=reply.reason)
        assert isinstance(reply, RegisterAck)
        return {
            "status": "registered",
            "device_id": reply.device_id,
            "model_id": reply.model_id,
            "num_ops": reply.num_ops,
            "cut": reply.cut,
            "offloading_layer": reply.cut - 1,
        }

    @api.get("/api/offloading_layer")
    def offloading_layer(device_id: str) -> dict[str, Any]:
        record = core.devices.get(device_id)
        if record is None:
            raise HTTPException(
                status_code=404,
                detail=f"device {device_id!r} is not registered; POST /api/registration first",
            )
        return {
            "device_id": device_id,
            "cut": record.next_cut,
            "offloading_layer": record.next_cut - 1,
        }

    return api
