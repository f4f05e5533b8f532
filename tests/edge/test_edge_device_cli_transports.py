"""``sciot device`` against ``sciot serve`` over TCP, UDP and MQTT: the device's own settings
pick the transport, one edge process serves all three at once."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from broker_testkit import mosquitto
from serve_testkit import raw_urls, sciot_serve

from sciot.device import DeviceConfig, open_transport
from sciot.errors import ConfigError
from sciot.transport import MqttClientTransport, TcpClientTransport, UdpClientTransport

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def serve_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One ``sciot serve`` with TCP, UDP and MQTT on (its own Mosquitto); scheme -> URL."""
    tmp_path = tmp_path_factory.mktemp("serve")
    with mosquitto(tmp_path) as broker_port:
        flags = ("--tcp-port", "0", "--udp-port", "0", "--mqtt-broker", f"127.0.0.1:{broker_port}")
        with sciot_serve(tmp_path, *flags) as (_proc, lines):
            urls = raw_urls(lines)
            assert set(urls) == {"tcp", "udp", "mqtt"}, lines
            yield urls


@pytest.mark.parametrize("transport", ["tcp", "udp", "mqtt"])
def test_sciot_device_runs_split_inference_over_each_transport(
    tmp_path: Path, serve_urls: dict[str, str], transport: str
) -> None:
    config = tmp_path / "device.yaml"
    if transport == "tcp":  # --edge-url alone: its scheme picks the transport
        config.write_text(f"device_id: cli-{transport}\n", encoding="utf-8")
        url = ["--edge-url", serve_urls[transport]]
    else:
        config.write_text(
            f"device_id: cli-{transport}\ntransport: {transport}\n"
            f"edge_url: {serve_urls[transport]}\n",
            encoding="utf-8",
        )
        url = []
    summary_path = tmp_path / "summary.json"
    cmd = [sys.executable, "-m", "sciot", "device", "-c", str(config), *url, "--count", "12", "-q"]
    out = subprocess.run(
        [*cmd, "--json", str(summary_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    assert summary["inferences"] == 12
    assert summary["registrations"] >= 1
    assert summary["local_fallbacks"] == 0 and summary["lost"] == 0, summary
    # A tail ran on the edge over this transport: a split inference, or a probe the device
    # sent alongside a device-only one while the planner was still learning the link.
    split = summary["split_inferences"] + summary["edge_only"] + summary["probes_alongside"]
    assert split > 0, summary


def test_device_settings_pick_the_raw_transport_from_the_url() -> None:
    picked = {
        "tcp": TcpClientTransport,
        "udp": UdpClientTransport,
        "mqtt": MqttClientTransport,
    }
    for transport, kind in picked.items():
        settings = DeviceConfig(transport=transport, edge_url=f"{transport}://127.0.0.1:5000")  # type: ignore[arg-type]
        opened = open_transport(settings)
        try:
            assert isinstance(opened, kind)
        finally:
            opened.close()


def test_a_url_that_does_not_match_the_transport_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"does not match 'transport: tcp'.*tcp://HOST:PORT"):
        open_transport(DeviceConfig(transport="tcp", edge_url="udp://127.0.0.1:5000"))
    with pytest.raises(ConfigError, match="needs 'transport' set to its scheme"):
        open_transport(DeviceConfig(transport="http", edge_url="mqtt://127.0.0.1:1883"))
