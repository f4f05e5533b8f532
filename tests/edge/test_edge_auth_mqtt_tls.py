"""MQTT over TLS where the broker offers it: a Mosquitto with a TLS listener (certificate from
the test's CA), the edge and a device with its token both verifying the broker."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from broker_testkit import MOSQUITTO, free_port, stop, wait_listening
from edge_testkit import edge_config
from tls_testkit import Pki, make_pki

from sciot.device import DeviceConfig, run_device
from sciot.edge import TokenStore, start_edge
from sciot.edge._transports import TransportOptions, start_transports
from sciot.errors import TransportError
from sciot.transport import client_transport
from sciot.wire import Register, encode


@contextmanager
def tls_mosquitto(tmp_path: Path, pki: Pki) -> Iterator[int]:
    binary = MOSQUITTO if Path(MOSQUITTO).exists() else shutil.which("mosquitto")
    if binary is None:
        pytest.skip("the mosquitto broker binary is not installed (apt-get install mosquitto)")
    port = free_port()
    conf = tmp_path / "mosquitto-tls.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        f"cafile {pki.ca}\ncertfile {pki.cert}\nkeyfile {pki.key}\nlog_dest none\n"
        # As root, Mosquitto drops to its own user, which cannot read the test's private
        # temporary directory: keep the user (elsewhere the key is ignored).
        + ("user root\n" if os.geteuid() == 0 else ""),
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_listening(port, proc)
        yield port
    finally:
        stop(proc)


def test_mqtts_with_tokens_end_to_end(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    store = TokenStore(tmp_path / "tokens.json")
    token = store.create("cam-mqtts").hex()
    config = edge_config(tmp_path, auth={"mode": "tokens", "token_file": str(store.path)})
    server, app = start_edge(config)
    try:
        with tls_mosquitto(tmp_path, pki) as port:
            options = TransportOptions(mqtt_broker=f"127.0.0.1:{port}", mqtt_ca_file=pki.ca)
            running = start_transports(app.core, options)
            try:
                url = f"mqtts://127.0.0.1:{port}"
                settings = DeviceConfig.from_mapping(
                    {"device_id": "cam-mqtts", "token": token, "timeout_s": 10.0}
                )
                stats = run_device(
                    settings, count=15, transport=client_transport(url, ca_file=pki.ca)
                )
                assert stats.inferences == 15 and stats.registrations == 1 and stats.failures == 0
                assert app.core.devices["cam-mqtts"].transport == "mqtt"
                untrusting = client_transport(url, ca_file=pki.other_ca)
                with pytest.raises(TransportError, match="broker"):
                    untrusting.request(
                        encode(Register(device_id="cam-mqtts", model_id="00" * 8)), timeout_s=3.0
                    )
                untrusting.close()
            finally:
                running.stop()
    finally:
        server.stop()
