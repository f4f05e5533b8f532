"""One edge serving TCP, UDP and MQTT at once over one core: one state per device."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from broker_testkit import mosquitto
from edge_testkit import Fomo, edge_config

from sciot.edge import start_edge
from sciot.edge._transports import TransportOptions, start_transports
from sciot.errors import ConfigError, TransportError
from sciot.transport import client_transport
from sciot.wire import DeviceProfile, InferResponse, Register, RegisterAck, decode, encode


def test_a_device_keeps_one_state_across_transports(tmp_path: Path, fomo: Fomo) -> None:
    server, app = start_edge(edge_config(tmp_path))
    try:
        with mosquitto(tmp_path) as broker:
            options = TransportOptions(tcp_port=0, udp_port=0, mqtt_broker=f"127.0.0.1:{broker}")
            running = start_transports(app.core, options)
            try:
                assert set(running.urls) == {"tcp", "udp", "mqtt"}
                register = Register(
                    device_id="roamer", model_id=fomo.graph.model_id, profile=DeviceProfile()
                )
                seq = 0
                for name in ("tcp", "udp", "mqtt"):
                    transport = client_transport(running.urls[name])
                    try:
                        if name == "tcp":  # registered once, on one transport only
                            ack = decode(transport.request(encode(register), timeout_s=10.0))
                            assert isinstance(ack, RegisterAck)
                        for _ in range(3):
                            seq += 1
                            frame = encode(fomo.request(13, device_id="roamer", seq=seq))
                            reply = decode(transport.request(frame, timeout_s=10.0))
                            assert isinstance(reply, InferResponse), (name, reply)
                            assert np.array_equal(reply.tensors[0].array, fomo.expected)
                    finally:
                        transport.close()
            finally:
                running.stop()
        assert app.core.devices["roamer"].inferences == 9
    finally:
        server.stop()


def test_bad_transport_options_are_refused_clearly(tmp_path: Path, fomo: Fomo) -> None:
    with pytest.raises(ConfigError, match="--tcp-port"):
        TransportOptions(tcp_port=70000)
    with pytest.raises(ConfigError, match="needs --mqtt-broker"):
        TransportOptions(mqtt_group="g")
    server, app = start_edge(edge_config(tmp_path))
    try:
        with pytest.raises(ConfigError, match="HOST:PORT"):
            start_transports(app.core, TransportOptions(mqtt_broker="nowhere"))
        with pytest.raises(TransportError, match="cannot reach the MQTT broker"):
            start_transports(app.core, TransportOptions(tcp_port=0, mqtt_broker="127.0.0.1:1"))
    finally:
        server.stop()
