"""Every enabled transport of one edge at once: TCP, UDP, MQTT and the ESP32 raw protocol
next to HTTP/WebSocket, all over the same :class:`EdgeCore`.

Because every listener calls the same core, a device has one registration, one set of
counters and one planner state whatever transport (or mix of transports) it uses.
:func:`start_transports` starts what :class:`TransportOptions` enables and returns a handle
that stops them all; ``sciot serve`` and ``sciot demo`` call it beside uvicorn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sciot.edge._config import LOOPBACK_HOSTS
from sciot.edge._esp32_compat import SEED_PORT, RawTailAnswerer
from sciot.edge._listeners import FrameHandler
from sciot.edge._mqtt_listener import MqttListener
from sciot.edge._shared_state import LocalState, RedisState, SharedState
from sciot.edge._tcp_listener import TcpListener
from sciot.edge._udp_listener import UdpListener
from sciot.errors import ConfigError, SciotError
from sciot.transport import tls_context


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportOptions:
    """Which extra transports to serve; ``None`` leaves one off (port 0: any free port)."""

    host: str = "127.0.0.1"
    tcp_port: int | None = None
    udp_port: int | None = None
    mqtt_broker: str | None = None
    """``HOST:PORT`` of the broker to answer ``sciot/<device>/infer`` on."""
    mqtt_group: str | None = None
    """Join ``$share/<group>/...`` with other edge workers instead of subscribing alone."""
    redis_url: str | None = None
    mqtt_ca_file: Path | None = None
    """Connect to the broker over TLS, verifying it against this PEM CA bundle."""
    esp32_tail: Path | None = None
    """A tail model for the ESP32 seed firmware's raw activations (see ``docs/wire.md``)."""
    esp32_port: int = SEED_PORT
    allow_esp32_without_auth: bool = False
    """The ESP32 raw protocol carries no token: with device tokens on it is refused unless
    this is set (run it on loopback or a trusted network only)."""
    allow_public_without_auth: bool = False
    """Listen beyond loopback although the edge checks no device tokens."""

    def __post_init__(self) -> None:
        for name in ("tcp_port", "udp_port", "esp32_port"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 65535:
                raise ConfigError(f"--{name.replace('_', '-')} must be in 0..65535, got {value}")
        if self.mqtt_group is not None and self.mqtt_broker is None:
            raise ConfigError("--mqtt-group needs --mqtt-broker HOST:PORT")


def parse_broker(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--mqtt-broker {text!r} must be HOST:PORT with a port in 1..65535")
    return host.strip("[]"), int(port)


def _check_auth(core: FrameHandler, options: TransportOptions) -> None:
    """Refuse the combinations that would let a client speak for a device unchecked (the
    edge settings' ``auth.allow_*`` overrides count as well as the options')."""
    tokens_on = getattr(core, "auth", None) is not None
    auth = getattr(getattr(core, "config", None), "auth", None)
    allow_public = options.allow_public_without_auth or bool(
        getattr(auth, "allow_public_without_auth", False)
    )
    allow_esp32 = options.allow_esp32_without_auth or bool(
        getattr(auth, "allow_esp32_without_auth", False)
    )
    if not tokens_on and options.host not in LOOPBACK_HOSTS and not allow_public:
        raise ConfigError(
            f"listening on {options.host!r} without device tokens lets anyone speak for any "
            "device: turn auth on (auth.mode: tokens), listen on 127.0.0.1, or pass "
            "allow_public_without_auth"
        )
    if tokens_on and options.esp32_tail is not None and not allow_esp32:
        raise ConfigError(
            "the ESP32 raw listener cannot carry device tokens, so it is off while auth is on; "
            "allow it explicitly (allow_esp32_without_auth) only on loopback or a trusted network"
        )


@dataclass(slots=True)
class RunningTransports:
    """The listeners started for one edge; :meth:`stop` stops them all."""

    urls: dict[str, str] = field(default_factory=dict)
    _stoppers: list[TcpListener | UdpListener | MqttListener] = field(default_factory=list)

    def stop(self) -> None:
        while self._stoppers:
            self._stoppers.pop().stop()


def start_transports(core: FrameHandler, options: TransportOptions) -> RunningTransports:
    """Start every enabled listener over ``core``; on any failure stop those already started."""
    _check_auth(core, options)
    running = RunningTransports()
    try:
        if options.tcp_port is not None:
            tcp = TcpListener(core, host=options.host, port=options.tcp_port).start()
            running._stoppers.append(tcp)
            running.urls["tcp"] = tcp.url
        if options.udp_port is not None:
            udp = UdpListener(core, host=options.host, port=options.udp_port).start()
            running._stoppers.append(udp)
            running.urls["udp"] = udp.url
        if options.esp32_tail is not None:
            raw = RawTailAnswerer(options.esp32_tail)
            esp32 = TcpListener(core, host=options.host, port=options.esp32_port, raw=raw)
            running._stoppers.append(esp32.start())
            running.urls["esp32"] = esp32.url
        if options.mqtt_broker is not None:
            host, port = parse_broker(options.mqtt_broker)
            state: SharedState = (
                LocalState() if options.redis_url is None else RedisState(options.redis_url)
            )
            tls = None if options.mqtt_ca_file is None else tls_context(options.mqtt_ca_file)
            mqtt = MqttListener(
                core, host=host, port=port, group=options.mqtt_group, state=state, tls=tls
            )
            running._stoppers.append(mqtt.start())
            running.urls["mqtt"] = f"mqtt://{host}:{port}"
    except SciotError:
        running.stop()
        raise
    return running
