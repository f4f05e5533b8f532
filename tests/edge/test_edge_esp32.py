"""The ESP32 seed firmware's raw TCP protocol, answered by the compatibility listener.

A client here does exactly what the firmware does: connect, write the 5,488 raw activation
bytes with no header, read one ``Predictions: ...`` line ending in CRLF. The activations are
real: MobileNetV2 0.35/224 up to ``block_16_project_BN`` on held-out images (see
``esp32_testkit``), and the answers are checked against the images' labels.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from edge_testkit import Fomo, edge_config
from esp32_testkit import Esp32Split, esp32_split

from sciot.edge import EdgeApp, start_edge
from sciot.edge._esp32_compat import SEED_RAW_BYTES, RawTailAnswerer
from sciot.edge._tcp_listener import TcpListener
from sciot.errors import ConfigError
from sciot.transport import TcpClientTransport
from sciot.wire import DeviceProfile, Register, RegisterAck, decode, encode

pytestmark = [pytest.mark.slow, pytest.mark.tensorflow]

LINE = re.compile(rb"^Predictions: Class (\d+) \((\d+\.\d\d)%\)(, Class \d+ \(\d+\.\d\d%\))*\r\n$")


@pytest.fixture(scope="module")
def split(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Esp32Split:
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    directory = (
        cache.mkdir("sciot-esp32") if cache is not None else tmp_path_factory.mktemp("esp32")
    )
    return esp32_split(directory)


@pytest.fixture
def compat(tmp_path: Path, split: Esp32Split) -> Iterator[tuple[EdgeApp, TcpListener]]:
    server, app = start_edge(edge_config(tmp_path))
    listener = TcpListener(app.core, raw=RawTailAnswerer(split.tail_tflite)).start()
    try:
        yield app, listener
    finally:
        listener.stop()
        server.stop()


def _firmware_exchange(port: int, raw: bytes, sock: socket.socket | None = None) -> bytes:
    """What the seed node does: write the raw bytes, read up to and including CRLF."""
    own = sock is None
    sock = sock or socket.create_connection(("127.0.0.1", port), timeout=10.0)
    try:
        sock.sendall(raw)
        line = b""
        while not line.endswith(b"\r\n"):
            chunk = sock.recv(256)
            if not chunk:
                break
            line += chunk
        return line
    finally:
        if own:
            sock.close()


def test_raw_5488_bytes_get_the_seed_line_with_the_right_class(
    compat: tuple[EdgeApp, TcpListener], split: Esp32Split
) -> None:
    _, listener = compat
    classes = []
    for raw in split.heldout_raw:
        payload = raw.tobytes()
        assert len(payload) == SEED_RAW_BYTES
        line = _firmware_exchange(listener.port, payload)
        match = LINE.match(line)
        assert match is not None, line
        classes.append(int(match.group(1)))
    predicted = np.array(classes)
    accuracy = float(np.mean(predicted == split.heldout_labels))
    agreement = float(np.mean(predicted == split.keras_classes))
    # Chance is 1/3; the int8 tail on firmware-quantised activations must also agree with
    # the float Keras whole model on (almost) every held-out image.
    assert accuracy >= 0.6, f"held-out accuracy {accuracy:.2f}"
    assert agreement >= 0.9, f"agreement with the float model {agreement:.2f}"
    assert listener.raw_answered == len(split.heldout_raw)


def test_one_connection_can_send_many_activations(
    compat: tuple[EdgeApp, TcpListener], split: Esp32Split
) -> None:
    _, listener = compat
    with socket.create_connection(("127.0.0.1", listener.port), timeout=10.0) as sock:
        lines = [
            _firmware_exchange(listener.port, r.tobytes(), sock) for r in split.heldout_raw[:5]
        ]
    assert all(LINE.match(line) for line in lines)


def test_framed_devices_share_the_port_told_apart_by_the_magic(
    compat: tuple[EdgeApp, TcpListener], split: Esp32Split, fomo: Fomo
) -> None:
    _, listener = compat
    transport = TcpClientTransport(listener.url)
    try:
        register = Register(
            device_id="framed", model_id=fomo.graph.model_id, profile=DeviceProfile()
        )
        assert isinstance(decode(transport.request(encode(register), timeout_s=10.0)), RegisterAck)
        assert LINE.match(_firmware_exchange(listener.port, split.heldout_raw[0].tobytes()))
    finally:
        transport.close()


def test_a_tail_that_does_not_fit_the_raw_size_is_refused_at_startup(split: Esp32Split) -> None:
    from sciot.edge._esp32_compat import RawActivation

    with pytest.raises(ConfigError, match="raw activations are"):
        RawTailAnswerer(split.tail_tflite, activation=RawActivation(shape=(1, 7, 7, 96)))
