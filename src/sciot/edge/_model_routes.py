"""HTTP routes for model versions: deploy one, list them, and the model file for devices.

``POST /v1/models/{label}`` (operator token required) takes a ``.tflite`` body and answers
202 at once: the version is prepared in the background (:mod:`sciot.edge._versions`).
``GET /v1/models`` lists the versions and what became of each deployment. Devices fetch a
model file by id (``GET /v1/models/{id}/file``) or the current version of the label their
model belongs to (``GET /v1/models/{id}/successor``); the file's id is in the
``X-Sciot-Model-Id`` header and is its content hash, which the device checks.
"""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from sciot.edge._core import EdgeCore
from sciot.edge._operator import OperatorGate
from sciot.edge._versions import MAX_MODEL_BYTES, ModelDeployer
from sciot.errors import ConfigError

MODEL_ID_HEADER = "x-sciot-model-id"
MODEL_CONTENT_TYPE = "application/vnd.tflite"


class HasDeployer(Protocol):
    core: EdgeCore
    deployer: ModelDeployer
    operator: OperatorGate


async def _read_model_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_MODEL_BYTES:
        raise HTTPException(413, f"a model file may be at most {MAX_MODEL_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_MODEL_BYTES:
            raise HTTPException(413, f"a model file may be at most {MAX_MODEL_BYTES} bytes")
        chunks.append(chunk)
    if size == 0:
        raise HTTPException(422, "empty body: send the .tflite file's bytes")
    return b"".join(chunks)


def _versions_json(edge: HasDeployer) -> dict[str, Any]:
    core = edge.core
    in_use: dict[str, int] = {}
    for record in list(core.devices.values()):
        in_use[record.model.model_id] = in_use.get(record.model.model_id, 0) + 1
    current = set(core.versions.current.values())
    served = [
        {
            "label": m.label,
            "model_id": m.model_id,
            "num_ops": m.num_ops,
            "state": "current" if m.model_id in current else "superseded",
            "devices": in_use.get(m.model_id, 0),
        }
        for m in core.models.values()
    ]
    deployments = [
        {
            "label": d.label,
            "model_id": d.model_id,
            "state": d.state,
            "reason": d.reason,
            "prepare_s": d.prepare_s,
        }
        for d in list(edge.deployer.deployments)
    ]
    return {"models": served, "deployments": deployments}


def _model_file(edge: HasDeployer, model_id: str, *, successor: bool) -> Response:
    model = edge.core.models.get(model_id)
    if model is None:
        raise HTTPException(404, f"this edge does not serve model {model_id}")
    if successor:
        model = edge.core.models[edge.core.versions.current[model.label]]
    return Response(
        content=model.graph.model_bytes,
        media_type=MODEL_CONTENT_TYPE,
        headers={MODEL_ID_HEADER: model.model_id},
    )


def add_model_routes(api: FastAPI, edge: HasDeployer) -> None:
    """Register the model-version routes on the edge's FastAPI app."""

    # A label is what the edge serves the model as; a configured path label holds slashes.
    @api.post("/v1/models/{label:path}", status_code=202)
    async def deploy(label: str, request: Request) -> JSONResponse:
        if not edge.operator.enabled:
            raise HTTPException(
                403, "deploying models needs an operator token: set auth.operator_token"
            )
        data = await _read_model_body(request)
        try:
            deployment = edge.deployer.submit(label, data)
        except ConfigError as exc:
            raise HTTPException(422, str(exc)) from None
        body = {"label": label, "model_id": deployment.model_id, "state": deployment.state}
        return JSONResponse(status_code=202, content=body)

    @api.get("/v1/models")
    def versions() -> dict[str, Any]:
        return _versions_json(edge)

    @api.get("/v1/models/{model_id}/file")
    def model_file(model_id: str) -> Response:
        return _model_file(edge, model_id, successor=False)

    @api.get("/v1/models/{model_id}/successor")
    def successor(model_id: str) -> Response:
        return _model_file(edge, model_id, successor=True)


__all__ = ["MODEL_ID_HEADER", "add_model_routes"]
