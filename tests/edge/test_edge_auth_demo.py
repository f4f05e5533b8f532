"""``sciot demo --auth``: the demo's devices get tokens and the edge checks every frame."""

from __future__ import annotations

from sciot.edge import EdgeApp
from sciot.sim.demo import DemoOptions, run_demo


def test_the_demo_runs_with_tokens_on_and_refuses_nothing_of_its_own_devices() -> None:
    edges: list[EdgeApp] = []
    summary = run_demo(
        DemoOptions(devices=2, duration_s=1.0, auth=True, device_profile="this-machine"),
        prepare_edge=edges.append,
    )
    (app,) = edges
    assert app.core.auth is not None and app.core.auth.provisioned == 2
    assert summary.inferences > 0 and summary.lost == 0
    assert "unauthorized" not in app.core.rejected
    assert {d.device_id for d in app.core.stats()} == {"device-01", "device-02"}
