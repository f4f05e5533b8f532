"""``/metrics``: the Prometheus text names models the way the operator configured them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from edge_testkit import Fomo, edge_config

from sciot.edge import EdgeApp, build_edge
from sciot.edge._metrics import render_metrics
from sciot.wire import Register, encode


@pytest.fixture()
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeApp]:
    app = build_edge(edge_config(tmp_path_factory.mktemp("metrics")))
    app.start()
    yield app
    app.stop()


def test_inference_counters_label_the_model_by_name(edge: EdgeApp, fomo: Fomo) -> None:
    frame = encode(Register(device_id="cam-m", model_id=fomo.graph.model_id))
    assert edge.core.handle_frame(frame, 1000.0).status == 200
    text = render_metrics(edge.core)
    line = next(
        row
        for row in text.splitlines()
        if row.startswith("sciot_edge_inferences_total{") and 'outcome="split"' in row
    )
    assert 'model="fomo96"' in line
    assert f'model_id="{fomo.graph.model_id}"' in line
