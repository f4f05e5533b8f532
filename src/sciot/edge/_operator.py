"""The operator token: who may read ``/metrics``, ``/api/stats`` and the dashboard.

Those pages show every device's counters and timings; an edge reachable beyond its operator
can keep them to the holder of ``auth.operator_token``. A script sends it as
``Authorization: Bearer TOKEN``; a browser opens ``/dashboard?token=TOKEN`` once and is
redirected to the bare URL with an ``HttpOnly`` same-site cookie, so the page's own requests
and its live socket carry the token without it staying in the address bar or the history.
"""

from __future__ import annotations

import hmac
import json
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

COOKIE = "sciot_operator"
PROTECTED_PATHS = ("/metrics", "/api/stats")
PROTECTED_PREFIX = "/dashboard"


MODELS_PATH = "/v1/models"


def is_protected(path: str, method: str = "GET") -> bool:
    """Statistics, the dashboard, the list of model versions and deploying a version; a
    device's model file download (``GET /v1/models/ID/...``) is not."""
    if path == MODELS_PATH or (method == "POST" and path.startswith(MODELS_PATH + "/")):
        return True
    return path in PROTECTED_PATHS or path == PROTECTED_PREFIX or path.startswith("/dashboard/")


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


def _cookie_token(scope: Scope) -> str:
    for part in _header(scope, b"cookie").split(";"):
        key, _, value = part.strip().partition("=")
        if key == COOKIE:
            return urllib.parse.unquote(value)
    return ""


class OperatorGate:
    """Admits requests to the protected paths only with the operator token (when one is set)."""

    def __init__(self, token: str | None) -> None:
        self._token = token.encode() if token else None

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def _matches(self, candidate: str) -> bool:
        assert self._token is not None
        return bool(candidate) and hmac.compare_digest(candidate.encode(), self._token)

    async def admit(self, scope: Scope, send: Send) -> bool:
        """Whether to serve ``scope``; when not, the refusal (or the cookie-setting redirect)
        has been sent."""
        if self._token is None or not is_protected(scope["path"], scope.get("method", "GET")):
            return True
        bearer = _header(scope, b"authorization")
        if bearer.lower().startswith("bearer ") and self._matches(bearer[7:].strip()):
            return True
        if self._matches(_cookie_token(scope)):
            return True
        query = urllib.parse.parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"))
        from_query = query.get("token", [""])[0]
        if self._matches(from_query):
            if scope["type"] == "websocket":
                return True
            await self._redirect_with_cookie(scope, send, from_query)
            return False
        await self._refuse(scope, send)
        return False

    @staticmethod
    async def _redirect_with_cookie(scope: Scope, send: Send, token: str) -> None:
        rest = [
            (k, v)
            for k, v in urllib.parse.parse_qsl(bytes(scope.get("query_string", b"")).decode())
            if k != "token"
        ]
        location = scope["path"] + ("?" + urllib.parse.urlencode(rest) if rest else "")
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        cookie = f"{COOKIE}={urllib.parse.quote(token)}; Path=/; HttpOnly; SameSite=Strict{secure}"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", location.encode("latin-1")),
                    (b"set-cookie", cookie.encode("latin-1")),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    async def _refuse(scope: Scope, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps(
            {
                "detail": "this edge keeps its statistics to its operator: send "
                "'Authorization: Bearer TOKEN' or open /dashboard?token=TOKEN "
                "(auth.operator_token)"
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b'Bearer realm="sciot"'),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


__all__ = ["COOKIE", "OperatorGate", "is_protected"]
