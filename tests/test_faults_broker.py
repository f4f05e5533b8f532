"""The MQTT broker restarted under split inference, counted end to end.

A real Mosquitto, the edge's MQTT listener and device clients on the MQTT transport; the
broker is stopped mid-run and started again on the same port. Devices run alone while it is
gone, the listener and the devices reconnect, and every inference a device made must then be a
telemetry row.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "edge"))
from broker_testkit import MOSQUITTO, free_port, stop, wait_listening

from sciot.device import CutArtefacts, DeviceClient, DeviceConfig
from sciot.edge import EdgeConfig, read_telemetry, start_edge
from sciot.edge._mqtt_listener import MqttListener
from sciot.model import load_model
from sciot.model.zoo import demo_model_path, load_demo_input
from sciot.transport import client_transport

pytestmark = pytest.mark.slow

DEVICES = 3
RUN_S = 6.0


def _broker(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    binary = MOSQUITTO if Path(MOSQUITTO).exists() else shutil.which("mosquitto")
    if binary is None:
        pytest.skip("the mosquitto broker binary is not installed (apt-get install mosquitto)")
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_listening(port, proc)
    return proc


def _run(client: DeviceClient, done: dict[str, int]) -> None:
    x = load_demo_input("fomo96", 0)
    try:
        client.start()
        end = time.monotonic() + RUN_S
        while time.monotonic() < end:
            client.infer(x)
            time.sleep(0.005)
        deadline = time.monotonic() + 30.0
        while (client.queued or client.unreported) and time.monotonic() < deadline:
            client.flush(force=True)
            time.sleep(0.1)
        done[client.config.device_id] = client.stats().inferences
        done[client.config.device_id + ".lost"] = client.stats().lost
        done[client.config.device_id + ".queued"] = client.queued
    finally:
        client.close()


def test_a_broker_restart_loses_no_inference(tmp_path: Path) -> None:
    port = free_port()
    broker = _broker(tmp_path, port)
    telemetry = tmp_path / "telemetry.sqlite"
    config = EdgeConfig.from_mapping(
        {"port": 0, "telemetry": {"path": str(telemetry), "flush_interval_s": 0.2}}
    )
    server, app = start_edge(config)
    listener = MqttListener(app.core, host="127.0.0.1", port=port).start()
    graph = load_model(demo_model_path("fomo96"))
    clients = [
        DeviceClient(
            DeviceConfig.from_mapping(
                {
                    "device_id": f"mq-{i}",
                    "timeout_s": 0.5,
                    "backoff": {"initial_s": 0.1, "max_s": 0.5},
                    "report_interval_s": 0.2,
                    "seed": i,
                }
            ),
            client_transport(f"mqtt://127.0.0.1:{port}"),
            artefacts=CutArtefacts(graph),
        )
        for i in range(DEVICES)
    ]
    done: dict[str, int] = {}
    threads = [threading.Thread(target=_run, args=(c, done)) for c in clients]
    try:
        for t in threads:
            t.start()
        time.sleep(1.5)
        stop(broker)
        time.sleep(1.5)
        broker = _broker(tmp_path, port)
        for t in threads:
            t.join(RUN_S + 60.0)
        assert not any(t.is_alive() for t in threads)
    finally:
        listener.stop()
        server.stop()
        stop(broker)
    rows = read_telemetry(telemetry)
    for client in clients:
        device_id = client.config.device_id
        assert client.stats().failures > 0, "the restart never hit this device"
        assert done[device_id + ".lost"] == 0 and done[device_id + ".queued"] == 0
        seqs = {int(r["seq"]) for r in rows if r["device_id"] == device_id}  # type: ignore[call-overload]
        missing = set(range(1, done[device_id] + 1)) - seqs
        assert not missing, f"{device_id}: {len(missing)} inferences done but not recorded"
