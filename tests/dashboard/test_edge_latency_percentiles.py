"""The edge's per-device latency percentiles (``p50_ms``, ``p95_ms`` in ``/api/stats``).

They are what the dashboard shows beside the means: over each device's last
``LATENCY_WINDOW`` inferences, nearest-rank. Device-only reports carry exact end-to-end times
(the device's own), so the expected values are known to the microsecond.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from sciot.edge import EdgeApp, EdgeConfig, build_edge
from sciot.edge._metrics import stats_json
from sciot.edge._registry import LATENCY_WINDOW
from sciot.wire import DeviceOnlyReport, OfflineAck, OfflineRecord, Register, decode, encode


@pytest.fixture(scope="module")
def app() -> EdgeApp:
    return build_edge(EdgeConfig.from_mapping({"telemetry": {"enabled": False}}))


def _report(app: EdgeApp, device_id: str, seconds: list[float], first_seq: int) -> None:
    model = next(iter(app.core.models.values()))
    records = tuple(
        OfflineRecord(seq=first_seq + i, cut=model.num_ops, started_at_s=100.0, device_seconds=s)
        for i, s in enumerate(seconds)
    )
    msg = DeviceOnlyReport(device_id=device_id, model_id=model.model_id, seq=1, records=records)
    assert isinstance(decode(app.core.handle_frame(encode(msg), time.time()).frame), OfflineAck)


def _entry(app: EdgeApp, device_id: str) -> dict[str, Any]:
    return next(d for d in stats_json(app.core)["devices"] if d["device_id"] == device_id)


def test_percentiles_are_none_before_any_inference(app: EdgeApp) -> None:
    model_id = next(iter(app.core.models))
    app.core.handle_frame(encode(Register(device_id="fresh", model_id=model_id)), time.time())
    entry = _entry(app, "fresh")
    assert entry["p50_ms"] is None and entry["p95_ms"] is None
    assert "mean_end_to_end_ms" in entry  # every earlier key is still there


def test_percentiles_of_the_recent_window(app: EdgeApp) -> None:
    model_id = next(iter(app.core.models))
    app.core.handle_frame(encode(Register(device_id="timed", model_id=model_id)), time.time())
    old = [1.0] * LATENCY_WINDOW  # pushed out of the window by the next reports
    _report(app, "timed", old, 1)
    recent = [(i % 100 + 1) / 1000.0 for i in range(LATENCY_WINDOW)]  # 1..100 ms, shuffled
    np.random.default_rng(0).shuffle(recent)
    _report(app, "timed", recent, 1 + LATENCY_WINDOW)
    entry = _entry(app, "timed")
    expected = np.percentile(np.array(recent) * 1000, [50, 95], method="inverted_cdf")
    assert entry["p50_ms"] == pytest.approx(expected[0])
    assert entry["p95_ms"] == pytest.approx(expected[1])
    assert entry["mean_end_to_end_ms"] > 400  # the mean still counts every inference
