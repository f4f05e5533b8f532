"""Transports that move wire frames: HTTP, WebSocket, MQTT, TCP and UDP.

Client side: :class:`HttpClientTransport` and :class:`WebSocketClientTransport`, both
:class:`ClientTransport` (``request(payload, timeout_s=...) -> bytes``, ``close()``). The
server side of HTTP and WebSocket lives in :mod:`sciot.edge`, which serves the same frames.
"""

from sciot.transport._client import (
    FRAME_CONTENT_TYPE,
    FRAME_PATH,
    WS_PATH,
    ClientTransport,
    HttpClientTransport,
    WebSocketClientTransport,
    client_transport,
)
from sciot.transport._emulated import EmulatedExchange, EmulatedTransport, LinkEmulator

__all__ = [
    "FRAME_CONTENT_TYPE",
    "FRAME_PATH",
    "WS_PATH",
    "ClientTransport",
    "EmulatedExchange",
    "EmulatedTransport",
    "HttpClientTransport",
    "LinkEmulator",
    "WebSocketClientTransport",
    "client_transport",
]
