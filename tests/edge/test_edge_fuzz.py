"""A live edge on loopback under junk: every malformed request gets a clear 4xx, never a 5xx.

Hypothesis mutates valid frames (bit flips, truncations, splices, overwrites with values at
the edges of each field's range, with and without a corrected length) and JSON registrations,
and sends them over HTTP and WebSocket to a real uvicorn edge, while a valid device sends its
own inferences between the cases. Afterwards every one of the valid device's inferences has
its telemetry row and no row holds a value out of range. Bounded: a few hundred cases per
test (``bench/bench_fuzz.py`` is the benchmark-sized run).
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from edge_testkit import Fomo, edge_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection, connect

from sciot.edge import EdgeApp, RunningServer, read_telemetry, start_edge
from sciot.edge._runner import ClientFaultLogFilter
from sciot.transport import HttpClientTransport
from sciot.wire import (
    DeviceOnlyReport,
    ErrorFrame,
    InferResponse,
    OfflineAck,
    OfflineRecord,
    OfflineReport,
    Register,
    RegisterAck,
    TensorEncoding,
    decode,
    encode,
)

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)
FUZZ_ID = "fz-1"
# Field values at or beyond the edges of their ranges, as they would sit in a frame.
EDGE_VALUES = [
    struct.pack("<Q", 2**63),
    struct.pack("<Q", 2**64 - 1),
    struct.pack("<d", float("nan")),
    struct.pack("<d", float("-inf")),
    struct.pack("<d", -1.0),
    struct.pack("<d", 1e300),
    struct.pack("<d", 5e-324),
    struct.pack("<i", 2**31 - 1),
    struct.pack("<i", -(2**31)),
    struct.pack("<I", 0xFFFFFFFF),
    struct.pack("<H", 0xFFFF),
    b"\xff",
    b"\x00",
]


@dataclass
class Edge:
    server: RunningServer
    app: EdgeApp
    db: Path
    valid: HttpClientTransport
    fomo: Fomo
    valid_inferences: dict[str, int] = field(default_factory=dict)

    def run_valid_device(self, device_id: str) -> None:
        """One inference and a one-record device-only report of a well-behaved device."""
        done = self.valid_inferences.get(device_id)
        if done is None:
            ack = decode(self.valid.request(encode(self._register(device_id)), timeout_s=10.0))
            assert isinstance(ack, RegisterAck), ack
            done = 0
        reply = decode(
            self.valid.request(
                encode(self.fomo.request(7, device_id=device_id, seq=done)), timeout_s=10.0
            )
        )
        assert isinstance(reply, InferResponse), reply
        record = OfflineRecord(
            seq=done + 1,
            cut=self.fomo.graph.num_ops,
            started_at_s=time.time(),
            device_seconds=0.001,
        )
        report = DeviceOnlyReport(
            device_id=device_id, model_id=self.fomo.graph.model_id, seq=done + 1, records=(record,)
        )
        ack = decode(self.valid.request(encode(report), timeout_s=10.0))
        assert isinstance(ack, OfflineAck) and ack.accepted == 1, ack
        self.valid_inferences[device_id] = done + 2

    def _register(self, device_id: str) -> Register:
        return Register(device_id=device_id, model_id=self.fomo.graph.model_id)


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory, fomo: Fomo) -> Iterator[Edge]:
    tmp = tmp_path_factory.mktemp("fuzz")
    server, app = start_edge(edge_config(tmp))
    valid = HttpClientTransport(server.http_url)
    fuzz = HttpClientTransport(server.http_url)
    ack = decode(
        fuzz.request(
            encode(Register(device_id=FUZZ_ID, model_id=fomo.graph.model_id)), timeout_s=10.0
        )
    )
    assert isinstance(ack, RegisterAck)
    fuzz.close()
    yield Edge(server=server, app=app, db=tmp / "telemetry.sqlite", valid=valid, fomo=fomo)
    valid.close()
    server.stop()


def _base_frames(fomo: Fomo) -> list[bytes]:
    model_id = fomo.graph.model_id
    records = tuple(
        OfflineRecord(seq=i, cut=fomo.graph.num_ops, started_at_s=100.0 + i, device_seconds=0.01)
        for i in range(3)
    )
    with_tensors = (
        OfflineRecord(
            seq=9,
            cut=fomo.graph.num_ops,
            started_at_s=5.0,
            device_seconds=0.1,
            tensors=fomo.crossing[fomo.graph.num_ops],
        ),
    )
    frames = [
        encode(Register(device_id=FUZZ_ID, model_id=model_id)),
        encode(DeviceOnlyReport(device_id=FUZZ_ID, model_id=model_id, records=records)),
        encode(OfflineReport(device_id=FUZZ_ID, model_id=model_id, records=with_tensors)),
    ]
    for cut, encoding in (
        (7, TensorEncoding.RAW),
        (12, TensorEncoding.INT8),
        (20, TensorEncoding.INT8_ZLIB),
    ):
        frames.append(encode(fomo.request(cut, device_id=FUZZ_ID), encoding=encoding))
    return frames


@st.composite
def mutated_frames(draw: st.DrawFn, bases: list[bytes]) -> bytes:
    frame = bytearray(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "truncate", "splice", "overwrite", "edge_value"]))
        at = draw(st.integers(0, max(len(frame) - 1, 0)))
        if kind == "flip" and frame:
            frame[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del frame[at:]
        elif kind == "splice":
            other = draw(st.sampled_from(bases))
            frame = frame[:at] + other[draw(st.integers(0, len(other) - 1)) :]
        elif kind == "overwrite":
            junk = draw(st.binary(min_size=1, max_size=16))
            frame[at : at + len(junk)] = junk
        else:
            value = draw(st.sampled_from(EDGE_VALUES))
            frame[at : at + len(value)] = value
    if len(frame) >= 8 and draw(st.booleans()):  # keep the length honest, to reach the body
        frame[4:8] = struct.pack("<I", len(frame))
    return bytes(frame)


def _assert_clean_reply(status: int, body: bytes) -> None:
    assert status < 500, (status, body[:200])
    reply = decode(body)
    if status != 200:
        assert isinstance(reply, ErrorFrame) and int(reply.code) == status and reply.reason


def _post(server: RunningServer, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_mutated_frames_over_http_get_4xx_frames_beside_a_valid_device(edge: Edge) -> None:
    bases = _base_frames(edge.fomo)

    @FUZZ
    @given(mutated_frames(bases))
    def case(frame: bytes) -> None:
        status, body = _post(edge.server, "/v1/frame", frame, "application/octet-stream")
        _assert_clean_reply(status, body)
        edge.run_valid_device("valid-http")

    case()
    _assert_valid_rows_complete(edge)


@pytest.fixture
def ws(edge: Edge) -> Iterator[ClientConnection]:
    with connect(edge.server.ws_url, max_size=None) as conn:
        yield conn


def test_mutated_frames_over_websocket_get_error_frames_beside_a_valid_device(
    edge: Edge, ws: ClientConnection
) -> None:
    bases = _base_frames(edge.fomo)

    @FUZZ
    @given(mutated_frames(bases))
    def case(frame: bytes) -> None:
        ws.send(frame)
        reply = decode(ws.recv(timeout=10))
        assert not (isinstance(reply, ErrorFrame) and int(reply.code) >= 500), reply
        edge.run_valid_device("valid-ws")

    case()
    _assert_valid_rows_complete(edge)


def _assert_valid_rows_complete(edge: Edge) -> None:
    telemetry = edge.app.core.telemetry
    assert telemetry is not None
    telemetry.flush()
    rows = read_telemetry(edge.db)
    for device_id, count in edge.valid_inferences.items():
        assert sum(r["device_id"] == device_id for r in rows) == count, device_id
    for r in rows:  # nothing out of range was accepted from anyone
        assert 0 <= int(r["seq"]) < 2**63  # type: ignore[call-overload]
        for column in ("at_s", "device_s", "transfer_s", "edge_s", "end_to_end_s"):
            value = r[column]
            assert value is None or (math.isfinite(value) and value >= 0), (column, r)  # type: ignore[arg-type]
    assert telemetry.counts().dropped_rows == 0


# ------------------------------------------------------------------------- JSON registration


@pytest.mark.parametrize(
    ("body", "status", "names"),
    [
        ({"device_id": "j-1", "model_id": "zz"}, 422, "model_id"),
        ({"device_id": "j-1", "model_id": "0123456789ABCDEF"}, 422, "model_id"),
        ({"device_id": "j-1", "model_id": "0123456789abcdef"}, 406, "does not serve model"),
        ({"device_id": "j-1", "kind": "k" * 256}, 422, "kind"),
        ({"device_id": "j-1", "kind": "\u00e9" * 200}, 422, "kind longer than 255 bytes"),
        ({"device_id": "\u00e9" * 40}, 422, "device_id"),  # 40 characters, 80 bytes
        ({"device_id": "\ud800"}, 422, "device_id"),
        ({"device_id": ""}, 422, "device_id"),
        ({"device_id": 7}, 422, "device_id"),
        ({"model_id": "0123456789abcdef"}, 422, "device_id"),
        ({"device_id": "j-1", "extra": 1}, 422, "extra"),
        (["device_id"], 422, "dict"),
        ("not json at all", 422, "JSON"),
    ],
)
def test_each_kind_of_bad_registration_is_a_clear_4xx(
    edge: Edge, body: object, status: int, names: str
) -> None:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    got, reply = _post(edge.server, "/api/registration", raw, "application/json")
    assert got == status, reply
    assert names in reply.decode(), reply


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=300),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(["device_id", "model_id", "kind", "other"]), json_values, max_size=4
    )
    | json_values
)
def test_random_json_registrations_never_get_a_5xx(edge: Edge, body: object) -> None:
    status, reply = _post(
        edge.server, "/api/registration", json.dumps(body).encode(), "application/json"
    )
    assert status < 500, (status, reply[:300])
    assert isinstance(json.loads(reply), dict)


# ------------------------------------------------------------------------- junk connections


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _send_junk(server: RunningServer, junk: bytes) -> bytes:
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(junk)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_a_junk_connection_flood_logs_a_few_aggregated_lines(edge: Edge) -> None:
    logger = logging.getLogger("uvicorn.error")
    lines = _Lines()
    logger.addHandler(lines)
    filters = [f for f in logger.filters if isinstance(f, ClientFaultLogFilter)]
    assert len(filters) == 1
    before = filters[0].suppressed
    started = time.monotonic()
    try:
        for i in range(60):
            answer = _send_junk(edge.server, b"\x16\x03\x01 junk %d\r\n\r\n" % i)
            assert answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer[:80]
    finally:
        elapsed = time.monotonic() - started
        logger.removeHandler(lines)
    shown = [m for m in lines.messages if m.startswith("Invalid HTTP request received.")]
    # At most one line per window (an earlier junk connection may have opened the window).
    assert len(shown) <= 1 + math.ceil(elapsed / filters[0].window_s), shown
    assert filters[0].suppressed - before == 60 - len(shown)  # the rest counted, not lost
    edge.run_valid_device("valid-after-junk")  # and the edge serves on


def test_the_filter_reports_what_it_held_back() -> None:
    now = [0.0]
    log_filter = ClientFaultLogFilter(window_s=10.0, clock=lambda: now[0])

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("uvicorn.error", logging.WARNING, __file__, 1, message, (), None)

    assert log_filter.filter(record("Invalid HTTP request received."))
    assert not any(log_filter.filter(record("Invalid HTTP request received.")) for _ in range(5))
    assert log_filter.filter(record("Exception in ASGI application"))  # others pass untouched
    now[0] = 10.5
    summary = record("Invalid HTTP request received.")
    assert log_filter.filter(summary)
    assert "5 more like it held back in the last 10 s" in summary.getMessage()
    assert log_filter.suppressed == 5
