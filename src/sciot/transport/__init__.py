"""Transports that move wire frames: HTTP, WebSocket, MQTT, TCP and UDP."""
