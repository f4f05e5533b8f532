"""Golden bytes: the wire format is normative (docs/wire.md), so its bytes must not drift.

Each ``golden/<name>.hex`` holds one frame as hex (whitespace ignored). A change that breaks
one of these is a wire format change: bump ``VERSION`` and update docs/wire.md. To rewrite
the files after an intended change, run with ``SCIOT_REGEN_GOLDEN=1``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from sciot.wire import (
    DeviceOnlyReport,
    DeviceProfile,
    ErrorCode,
    ErrorFrame,
    InferRequest,
    InferResponse,
    Message,
    OfflineAck,
    OfflineRecord,
    OfflineReport,
    Register,
    RegisterAck,
    Tensor,
    TensorEncoding,
    TransferSample,
    decode,
    encode,
)

GOLDEN = Path(__file__).parent / "golden"
MODEL = "0123456789abcdef"
ACT = np.array([[0.0, 0.5], [-1.0, 2.0]], dtype=np.float32)

CASES: dict[str, tuple[Message, TensorEncoding]] = {
    "register": (
        Register(
            device_id="cam-1",
            model_id=MODEL,
            seq=1,
            profile=DeviceProfile(kind="rpi4", speed_factor=2.0, op_seconds=(0.5, 0.25)),
            sent_at_s=10.0,
        ),
        TensorEncoding.RAW,
    ),
    "register_ack": (
        RegisterAck(
            device_id="cam-1", model_id=MODEL, seq=1, num_ops=59, cut=3, max_frame_bytes=1 << 20
        ),
        TensorEncoding.RAW,
    ),
    "infer_request_raw": (
        InferRequest(
            device_id="cam-1",
            model_id=MODEL,
            seq=7,
            cut=2,
            tensors=(Tensor(name="t", array=ACT),),
            device_seconds=0.125,
            device_op_seconds=(0.0625, 0.0625),
            last_transfer=TransferSample(uplink_bytes=100, downlink_bytes=20, seconds=0.5),
            sent_at_s=11.5,
        ),
        TensorEncoding.RAW,
    ),
    "infer_request_int8": (
        InferRequest(
            device_id="cam-1", model_id=MODEL, seq=8, cut=2, tensors=(Tensor(name="t", array=ACT),)
        ),
        TensorEncoding.INT8,
    ),
    "infer_request_zlib": (
        InferRequest(
            device_id="cam-1",
            model_id=MODEL,
            seq=9,
            cut=0,
            tensors=(
                Tensor(name="in", array=np.zeros((4, 4), dtype=np.int8), scale=0.5, zero_point=-3),
            ),
        ),
        TensorEncoding.RAW_ZLIB,
    ),
    "infer_response": (
        InferResponse(
            device_id="cam-1",
            model_id=MODEL,
            seq=7,
            cut=2,
            next_cut=4,
            tensors=(Tensor(name="out", array=np.array([1, 2, 3], dtype=np.uint8)),),
            edge_seconds=0.25,
            sent_at_s=12.0,
        ),
        TensorEncoding.RAW,
    ),
    "offline_report": (
        OfflineReport(
            device_id="cam-1",
            model_id=MODEL,
            seq=3,
            records=(
                OfflineRecord(
                    seq=5,
                    cut=59,
                    started_at_s=1.0,
                    device_seconds=0.5,
                    device_op_seconds=(0.5,),
                    tensors=(Tensor(name="out", array=np.array([True, False])),),
                ),
            ),
        ),
        TensorEncoding.RAW,
    ),
    "offline_ack": (
        OfflineAck(device_id="cam-1", model_id=MODEL, seq=3, accepted=1, next_cut=3),
        TensorEncoding.RAW,
    ),
    "device_only_report": (
        DeviceOnlyReport(
            device_id="cam-1",
            model_id=MODEL,
            seq=12,
            records=(
                OfflineRecord(
                    seq=10, cut=59, started_at_s=2.0, device_seconds=0.5, device_op_seconds=(0.5,)
                ),
                OfflineRecord(seq=11, cut=59, started_at_s=2.5, device_seconds=0.25),
            ),
            last_transfer=TransferSample(uplink_bytes=90, downlink_bytes=50, seconds=0.125),
            sent_at_s=3.0,
        ),
        TensorEncoding.RAW,
    ),
    "error": (
        ErrorFrame(code=ErrorCode.UNKNOWN_MODEL, reason="no model 0123", device_id="cam-1"),
        TensorEncoding.RAW,
    ),
}


def _read_hex(name: str) -> bytes:
    return bytes.fromhex("".join((GOLDEN / f"{name}.hex").read_text().split()))


def _write_hex(name: str, frame: bytes) -> None:
    text = frame.hex()
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    (GOLDEN / f"{name}.hex").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("name", sorted(CASES))
def test_encoding_matches_golden_bytes(name: str) -> None:
    msg, encoding = CASES[name]
    frame = encode(msg, encoding=encoding)
    if os.environ.get("SCIOT_REGEN_GOLDEN") == "1":
        _write_hex(name, frame)
    assert frame == _read_hex(name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_bytes_decode_to_the_message(name: str) -> None:
    msg, encoding = CASES[name]
    decoded = decode(_read_hex(name))
    if encoding.quantised:
        assert isinstance(decoded, InferRequest) and isinstance(msg, InferRequest)
        np.testing.assert_allclose(
            decoded.tensors[0].array, msg.tensors[0].array, atol=3.0 / 255.0 / 2 + 1e-6
        )
    else:
        assert decoded == msg


def test_header_layout_is_as_documented() -> None:
    frame = _read_hex("register_ack")
    assert frame[:2] == b"SC"
    assert frame[2] == 1  # version
    assert frame[3] == 2  # RegisterAck
    assert int.from_bytes(frame[4:8], "little") == len(frame)
    assert int.from_bytes(frame[8:16], "little") == 1  # seq
    assert frame[16:24].hex() == MODEL
    assert int.from_bytes(frame[24:26], "little") == 3  # cut
    assert frame[36] == len("cam-1")
