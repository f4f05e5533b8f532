"""``sciot model deploy``: hand a new version of a served model to a running edge.

Posts the ``.tflite`` file to ``POST /v1/models/LABEL`` with the edge's operator token, then
(unless ``--no-wait``) follows ``GET /v1/models`` until the edge has prepared and published
the version or said why it could not. Devices on the previous version move at their next
decision; ``docs/federated.md`` describes the whole loop.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer

from sciot.errors import ConfigError, TransportError

TOKEN_ENV = "SCIOT_OPERATOR_TOKEN"
POLL_S = 0.2


def _status(line: str) -> None:
    print(f"sciot: {line}", file=sys.stderr, flush=True)


def _call(request: urllib.request.Request, ca_file: Path | None, timeout_s: float) -> Any:
    context = None
    if request.full_url.startswith("https:"):
        from sciot.transport import tls_context

        context = tls_context(ca_file)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s, context=context) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        with contextlib.suppress(ValueError, AttributeError):
            detail = str(json.loads(detail).get("detail", detail))
        raise ConfigError(f"the edge refused ({exc.code}): {detail}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise TransportError(f"cannot reach the edge at {request.full_url}: {exc}") from None


def deploy_command(
    model: Annotated[Path, typer.Argument(help="The new version: a .tflite file.")],
    edge_url: Annotated[
        str, typer.Option("--edge-url", help="The running edge, e.g. http://127.0.0.1:8000.")
    ],
    label: Annotated[
        str, typer.Option("--as", help="The served model this is a new version of (its label).")
    ],
    operator_token: Annotated[
        str | None,
        typer.Option(
            "--operator-token",
            help=f"The edge's auth.operator_token (default: ${TOKEN_ENV}).",
            show_default=False,
        ),
    ] = None,
    ca_file: Annotated[
        Path | None, typer.Option("--ca-file", help="PEM CA bundle for an https:// edge.")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait until the edge serves the version.")
    ] = True,
    timeout_s: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for the edge.", min=1.0)
    ] = 120.0,
) -> None:
    """Deploy a new version of a served model into a running edge, without stopping it."""
    token = operator_token or os.environ.get(TOKEN_ENV)
    if not token:
        raise ConfigError(f"give the edge's operator token: --operator-token or ${TOKEN_ENV}")
    try:
        data = model.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read model file {model}: {exc.strerror or exc}") from None
    base = edge_url.rstrip("/")
    headers = {"Authorization": f"Bearer {token}"}
    post = urllib.request.Request(
        f"{base}/v1/models/{urllib.parse.quote(label, safe='/')}",
        data=data,
        method="POST",
        headers={**headers, "Content-Type": "application/vnd.tflite"},
    )
    accepted = _call(post, ca_file, timeout_s)
    model_id = str(accepted["model_id"])
    if not wait:
        print(f"model {model_id} submitted as {label}; the edge is preparing it")
        return
    _status(f"edge preparing model {model_id} as {label}")
    deadline = time.monotonic() + timeout_s
    listing = urllib.request.Request(f"{base}/v1/models", headers=headers)
    while time.monotonic() < deadline:
        for entry in _call(listing, ca_file, timeout_s)["deployments"]:
            if entry["model_id"] != model_id:
                continue
            if entry["state"] == "current":
                prepared = entry.get("prepare_s") or 0.0
                print(f"model {model_id} serves as {label} (prepared in {prepared:.2f} s)")
                return
            if entry["state"] == "failed":
                raise ConfigError(f"the edge could not deploy {model_id}: {entry['reason']}")
        time.sleep(POLL_S)
    raise TransportError(f"the edge did not publish {model_id} within {timeout_s:.0f} s")


__all__ = ["deploy_command"]
