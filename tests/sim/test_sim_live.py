"""Live scenarios: a real edge and device clients on loopback, the link emulated in transport."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from sciot.cli.app import main
from sciot.delays import DelaySpec
from sciot.errors import ConfigError
from sciot.model import demo_model_path
from sciot.sim import ComputeModel, NetemSupport, RunConfig, Window, run_simulation
from sciot.sim._live import PacedArtefacts
from sciot.sim.netem import LIVE, detect_kernel_netem, netem_fallback_note


class _Sleeps:
    def __init__(self) -> None:
        self.slept_s: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.slept_s.append(seconds)


def test_paced_heads_take_the_device_models_time() -> None:
    sleeps = _Sleeps()
    artefacts = PacedArtefacts(
        demo_model_path("fomo96"), rng=np.random.default_rng(0), sleep=sleeps
    )
    n = artefacts.num_ops
    device = ComputeModel(
        op_s=tuple(0.001 * (i + 1) for i in range(n)),
        slowdowns=(Window(start_s=10.0, end_s=20.0, factor=3.0),),
    )
    now = [0.0]
    artefacts.pace(device, lambda: now[0])
    array = np.zeros(artefacts.graph.inputs[0].shape, dtype=np.float32)
    ticks = iter(range(1000))

    def clock() -> float:  # a fake clock: 1 us per reading, so the real head costs ~nothing
        return next(ticks) * 1e-6

    head = artefacts.run_head(6, array, profile=True, clock=clock)
    assert head.op_seconds == pytest.approx([0.001 * (i + 1) for i in range(6)])
    assert sleeps.slept_s[-1] == pytest.approx(0.021, abs=1e-5)
    now[0] = 15.0  # throttled: 3x the time
    head = artefacts.run_head(6, array, profile=False, clock=clock)
    assert head.op_seconds is None
    assert sleeps.slept_s[-1] == pytest.approx(0.063, abs=1e-5)
    edge_only = artefacts.run_head(0, array, profile=False, clock=clock)
    assert edge_only.device_s == 0.0 and len(sleeps.slept_s) == 2
    with pytest.raises(ConfigError, match="ops"):
        artefacts.pace(ComputeModel(op_s=(0.001,)), lambda: 0.0)


def test_paced_heads_draw_the_computation_delay() -> None:
    sleeps = _Sleeps()
    artefacts = PacedArtefacts(
        demo_model_path("fomo96"), rng=np.random.default_rng(1), sleep=sleeps
    )
    n = artefacts.num_ops
    device = ComputeModel(op_s=(0.0,) * (n - 1) + (0.001,), extra_delay=DelaySpec.static(0.004))
    artefacts.pace(device, lambda: 0.0)
    array = np.zeros(artefacts.graph.inputs[0].shape, dtype=np.float32)
    artefacts.run_head(n, array, profile=False, clock=lambda: 0.0)
    assert sleeps.slept_s[-1] == pytest.approx(0.005)


def test_bad_emulation_settings_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown emulation"):
        RunConfig(emulation="ns3")
    with pytest.raises(ConfigError, match="live_transport"):
        RunConfig(emulation="live", live_transport="mqtt")
    live = RunConfig(emulation="live", scenarios=("edge_overload",), policies=("adaptive",))
    with pytest.raises(ConfigError, match=r"edge_overload.*--emulation virtual"):
        run_simulation(live, tmp_path)
    dynamic = RunConfig(emulation="live", scenarios=("baseline",), policies=("oracle-dynamic",))
    with pytest.raises(ConfigError, match="oracle-dynamic"):
        run_simulation(dynamic, tmp_path)


def test_netem_fallback_note_says_why() -> None:
    missing = netem_fallback_note(NetemSupport(available=False, reason="not running as root"))
    assert "not usable here: not running as root" in missing and LIVE in missing
    present = netem_fallback_note(NetemSupport(available=True, reason="usable"))
    assert "not implemented" in present and "falling back to live" in present


def _summary(out: Path) -> list[dict[str, str]]:
    with (out / "summary.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_live_run_through_a_real_edge(tmp_path: Path) -> None:
    out = tmp_path / "live"
    config = RunConfig(
        emulation="live",
        scenarios=("network_delay_20ms", "edge_outage"),
        policies=("adaptive", "oracle"),
        requests=400,
        duration_s=2.0,
    )
    result = run_simulation(config, out)
    assert result.emulation == LIVE and not any("netem" in note for note in result.notes)
    summary = _summary(out)
    assert {(r["scenario"], r["policy"]) for r in summary} == {
        (s, p) for s in ("network_delay_20ms", "edge_outage") for p in ("adaptive", "oracle")
    }
    assert all(r["emulation"] == LIVE for r in summary)
    delayed = [r for r in _rows(out / "network_delay_20ms.csv") if r["failed"] == "False"]
    offloaded = [r for r in delayed if int(r["uplink_bytes"]) > 0]
    assert offloaded, "every inference talks to the edge (device-only reports its result)"
    # The device measured the emulated network: 3 ms RTT plus N(20, 5) ms, never less than RTT.
    network_ms = np.array([float(r["network_ms"]) for r in offloaded])
    assert network_ms.min() >= 3.0 and 12.0 < float(np.median(network_ms)) < 40.0
    outage = _rows(out / "edge_outage.csv")
    # The outage is [2/3, 1) s; a request started just before it is sent inside it. (Other
    # failures -- a reply later than the timeout on a loaded machine -- are not the outage.)
    down = [r for r in outage if r["failed"] == "True" and "link down" in r["reason"]]
    assert down and 0.6 <= float(down[0]["start_s"]) < 1.0
    meta = json.loads((out / "run.json").read_text())
    assert meta["emulation"] == LIVE and meta["emulation_requested"] == "live"
    assert meta["kernel_netem"]["used"] is False and "live" in meta
    main(["analyze", str(out)])
    assert (out / "analysis" / "report.html").is_file()


@pytest.mark.slow
def test_netem_request_runs_live_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Kernel netem is detected, not implemented: the CLI falls back to live with a note."""
    support = detect_kernel_netem()
    out = tmp_path / "netem"
    argv = ["simulate", "-o", str(out), "-s", "baseline", "-p", "device-only", "-n", "20"]
    main([*argv, "--duration", "1", "--emulation", "netem"])
    captured = capsys.readouterr()
    assert netem_fallback_note(support) in captured.err
    assert LIVE in captured.out
    meta = json.loads((out / "run.json").read_text())
    assert meta["emulation_requested"] == "netem" and meta["emulation"] == LIVE
    assert meta["notes"] == [netem_fallback_note(support)]
    assert meta["kernel_netem"]["available"] is support.available
    assert 1 <= len(_rows(out / "baseline.csv")) <= 20
