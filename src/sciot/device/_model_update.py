"""Fetching a newer version of the device's model from the edge.

When a reply carries the newer-model notice (``docs/wire.md``), the device asks the edge's
HTTP side for the current version of its model (``GET /v1/models/{id}/successor``), checks
that the bytes hash to the model id the edge names (the id every frame carries is that
content hash, so a corrupted or substituted file is refused), and hands back the analysed
graph for the client to prepare its heads from. Only edges reached over ``http(s)://`` or
``ws(s)://`` have that HTTP side; devices on the raw, UDP or MQTT transports keep their
version (the edge keeps serving it for them).
"""

from __future__ import annotations

import hashlib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from sciot.errors import ModelError, SciotError
from sciot.model import ModelGraph, load_model
from sciot.transport import tls_context

MODEL_ID_HEADER = "X-Sciot-Model-Id"
MAX_MODEL_BYTES = 64 * 1024 * 1024
_HTTP_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


class ModelUpdateFailed(SciotError):
    """The newer version could not be fetched or verified (the device keeps its version)."""


def model_base_url(edge_url: str) -> str | None:
    """The edge's HTTP base for an ``http(s)``/``ws(s)`` device URL, else ``None``."""
    parts = urllib.parse.urlsplit(edge_url)
    scheme = _HTTP_SCHEMES.get(parts.scheme)
    if scheme is None or not parts.netloc:
        return None
    return f"{scheme}://{parts.netloc}"


def fetch_successor(
    base_url: str, model_id: str, *, ca_file: Path | None, timeout_s: float
) -> ModelGraph:
    """The current version of ``model_id``'s label, verified against its content hash."""
    url = f"{base_url}/v1/models/{model_id}/successor"
    context: ssl.SSLContext | None = tls_context(ca_file) if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(url, timeout=timeout_s, context=context) as response:
            named = str(response.headers.get(MODEL_ID_HEADER, ""))
            data = response.read(MAX_MODEL_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ModelUpdateFailed(f"cannot fetch the newer model from {url}: {exc}") from exc
    if len(data) > MAX_MODEL_BYTES:
        raise ModelUpdateFailed(f"the model at {url} exceeds {MAX_MODEL_BYTES} bytes")
    digest = hashlib.sha256(data).hexdigest()[:16]
    if not named or digest != named:
        raise ModelUpdateFailed(
            f"the model from {url} hashes to {digest}, but the edge named {named or 'nothing'}"
        )
    try:
        return load_model(data)
    except ModelError as exc:
        raise ModelUpdateFailed(f"the model from {url} cannot be read: {exc}") from exc


__all__ = ["ModelUpdateFailed", "fetch_successor", "model_base_url"]
