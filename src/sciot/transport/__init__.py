"""Transports that move wire frames: HTTP, WebSocket, MQTT, TCP and UDP.

Client side: :class:`HttpClientTransport`, :class:`WebSocketClientTransport`,
:class:`TcpClientTransport`, :class:`UdpClientTransport` and :class:`MqttClientTransport`, all
:class:`ClientTransport` (``request(payload, timeout_s=...) -> bytes``, ``close()``), picked
by URL scheme with :func:`client_transport`. The server side lives in :mod:`sciot.edge`,
which serves the same frames on every transport.
"""

from sciot.transport._client import (
    FRAME_CONTENT_TYPE,
    FRAME_PATH,
    WS_PATH,
    ClientTransport,
    HttpClientTransport,
    WebSocketClientTransport,
    client_transport,
    tls_context,
)
from sciot.transport._emulated import EmulatedExchange, EmulatedTransport, LinkEmulator
from sciot.transport._mqtt import MqttClientTransport
from sciot.transport._tcp import TcpClientTransport
from sciot.transport._udp import UdpClientTransport

__all__ = [
    "FRAME_CONTENT_TYPE",
    "FRAME_PATH",
    "WS_PATH",
    "ClientTransport",
    "EmulatedExchange",
    "EmulatedTransport",
    "HttpClientTransport",
    "LinkEmulator",
    "MqttClientTransport",
    "TcpClientTransport",
    "UdpClientTransport",
    "WebSocketClientTransport",
    "client_transport",
    "tls_context",
]
