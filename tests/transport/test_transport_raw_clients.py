"""URL handling of the TCP, UDP and MQTT client transports (no server needed)."""

from __future__ import annotations

import pytest

from sciot.errors import ConfigError
from sciot.transport import (
    MqttClientTransport,
    TcpClientTransport,
    UdpClientTransport,
    client_transport,
)
from sciot.transport._framing import frame_device_id, frame_length, frame_seq
from sciot.wire import Register, encode


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("tcp://127.0.0.1:4000", TcpClientTransport),
        ("udp://127.0.0.1:4000", UdpClientTransport),
        ("udp://127.0.0.1:4000?datagram_bytes=9000", UdpClientTransport),
        ("mqtt://127.0.0.1:1883", MqttClientTransport),
        ("mqtt://broker/fleet-a", MqttClientTransport),
    ],
)
def test_the_scheme_picks_the_transport(url: str, kind: type) -> None:
    transport = client_transport(url)
    assert isinstance(transport, kind)
    transport.close()


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("tcp://127.0.0.1", "tcp://HOST:PORT"),
        ("udp://:4000", "udp://HOST:PORT"),
        ("udp://127.0.0.1:4000?datagram_bytes=10", "datagram_bytes must be in"),
        ("udp://127.0.0.1:4000?datagram_bytes=big", "must be an integer"),
        ("tcp://127.0.0.1:99999", "edge URL"),
        ("mqtt://broker/a+b", "may not contain"),
        ("coap://127.0.0.1:5683", "scheme must be"),
    ],
)
def test_bad_urls_are_one_clear_config_error(url: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        client_transport(url)


def test_the_header_peek_agrees_with_the_wire_codec() -> None:
    frame = encode(Register(device_id="cam-7", model_id="0123456789abcdef", seq=42))
    assert frame_length(frame[:8], max_bytes=1 << 20) == len(frame)
    assert frame_seq(frame) == 42
    assert frame_device_id(frame) == "cam-7"
    assert frame_device_id(b"\x00" * 10) == ""
