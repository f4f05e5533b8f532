"""Device tokens on the raw transports: TCP, UDP and MQTT carry the same signed frames, a
device with its token is served on each, and a forger under its id is refused on each."""

from __future__ import annotations

import os
from pathlib import Path

from broker_testkit import mosquitto
from edge_testkit import Fomo, edge_config

from sciot.device import DeviceConfig, run_device
from sciot.edge import TokenStore, start_edge
from sciot.edge._transports import TransportOptions, start_transports
from sciot.transport import client_transport
from sciot.wire import ErrorCode, ErrorFrame, Register, decode, encode, sign_frame


def test_tcp_udp_and_mqtt_check_tokens(tmp_path: Path, fomo: Fomo) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    names = ("tcp", "udp", "mqtt")
    tokens = {name: store.create(f"cam-{name}").hex() for name in names}
    config = edge_config(tmp_path, auth={"mode": "tokens", "token_file": str(store.path)})
    server, app = start_edge(config)
    try:
        with mosquitto(tmp_path) as broker:
            options = TransportOptions(tcp_port=0, udp_port=0, mqtt_broker=f"127.0.0.1:{broker}")
            running = start_transports(app.core, options)
            try:
                for name in names:
                    device_id = f"cam-{name}"
                    settings = DeviceConfig.from_mapping(
                        {"device_id": device_id, "token": tokens[name], "timeout_s": 10.0}
                    )
                    transport = client_transport(running.urls[name])
                    stats = run_device(settings, count=20, transport=transport)
                    assert stats.inferences == 20 and stats.registrations == 1, name
                    record = app.core.devices[device_id]
                    assert record.transport == name
                    served = record.inferences
                    forger = client_transport(running.urls[name])
                    try:
                        for forged in (
                            encode(fomo.request(13, device_id=device_id, seq=900)),
                            sign_frame(
                                encode(fomo.request(13, device_id=device_id, seq=901)),
                                os.urandom(32),
                            ),
                            encode(Register(device_id=device_id, model_id=fomo.graph.model_id)),
                        ):
                            reply = decode(forger.request(forged, timeout_s=10.0))
                            assert isinstance(reply, ErrorFrame), (name, reply)
                            assert reply.code is ErrorCode.UNAUTHORIZED, (name, reply)
                    finally:
                        forger.close()
                    assert app.core.devices[device_id].inferences == served
                    assert app.core.devices[device_id].registered_at_s == record.registered_at_s
            finally:
                running.stop()
    finally:
        server.stop()
    assert app.core.rejected.get("unauthorized") == 9
