"""``sciot demo --transport tcp|udp|mqtt``: the demo's devices over each raw transport."""

from __future__ import annotations

import pytest

from sciot.errors import ConfigError
from sciot.sim.demo import DemoOptions, run_demo

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("transport", ["tcp", "udp", "mqtt"])
def test_the_demo_runs_split_inference_over_each_transport(transport: str) -> None:
    options = DemoOptions(devices=2, duration_s=1.5, transport=transport, link="loopback")  # type: ignore[arg-type]
    summary = run_demo(options)
    assert summary.inferences > 0
    assert summary.split_inferences > 0, summary
    assert summary.local_fallbacks == 0
    assert summary.lost == 0


def test_an_unknown_demo_transport_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="http, ws, tcp, udp or mqtt"):
        DemoOptions(transport="carrier-pigeon")  # type: ignore[arg-type]
