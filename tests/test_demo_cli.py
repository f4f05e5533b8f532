"""``sciot demo``: an edge and N devices on loopback over an emulated link; the summary and
its JSON are exact, and on the default link the planner splits at interior cuts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sciot.edge import read_telemetry
from sciot.errors import ConfigError
from sciot.sim.demo import DEMO_LINKS, DemoOptions, run_demo
from sciot.sim.emulation import DeviceEmulation, device_speed_factor, emulate_device

KEYS = {
    "devices",
    "duration_s",
    "inferences",
    "split_inferences",
    "local_fallbacks",
    "lost",
    "inferences_per_s",
    "latency_ms",
    "per_device",
    "link",
}


@pytest.mark.parametrize("transport", ["http", "ws"])
def test_run_demo_serves_every_device(tmp_path: Path, transport: str) -> None:
    ticks: list[int] = []
    summary = run_demo(
        DemoOptions(
            devices=2,
            duration_s=0.6,
            transport=transport,  # type: ignore[arg-type]
            telemetry_path=tmp_path / "t.sqlite",
        ),
        on_tick=lambda tracks, url: ticks.append(sum(t.inferences for t in tracks)),
    )
    doc = summary.as_json()
    assert set(doc) == KEYS
    assert doc["devices"] == 2 and doc["duration_s"] == 0.6
    assert doc["lost"] == 0 and doc["local_fallbacks"] == 0
    assert doc["inferences"] > 0 and doc["inferences_per_s"] > 0
    assert doc["latency_ms"]["p95"] >= doc["latency_ms"]["p50"] > 0
    assert [d["device_id"] for d in doc["per_device"]] == ["device-01", "device-02"]
    for device in doc["per_device"]:
        assert sum(device["cuts"].values()) == device["inferences"]
    assert sum(d["inferences"] for d in doc["per_device"]) == doc["inferences"]
    assert ticks and ticks[-1] == doc["inferences"]
    # Every inference the edge took part in was persisted.
    rows = read_telemetry(tmp_path / "t.sqlite")
    assert len(rows) >= doc["split_inferences"]


def test_demo_without_telemetry_path_leaves_no_directory_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default telemetry lives in a temporary directory that the demo removes."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    emulation = DeviceEmulation(profile="this-machine", speed_factor=1.0, whole_model_s=0.0002)
    summary = run_demo(DemoOptions(devices=1, duration_s=0.3), emulation=emulation)
    assert summary.inferences > 0 and summary.telemetry_path is None
    assert list(tmp_path.iterdir()) == []


def test_run_demo_is_library_code() -> None:
    """The command only parses and prints: the orchestration lives in sciot.sim.demo."""
    import sciot.cli.demo as command

    assert command.run_demo is run_demo
    assert not hasattr(command, "_run_device") and not hasattr(command, "emulate_device")


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="--devices"):
        DemoOptions(devices=0)
    with pytest.raises(ConfigError, match="--duration"):
        DemoOptions(duration_s=0)
    with pytest.raises(ConfigError, match="--transport"):
        DemoOptions(transport="carrier-pigeon")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="--device-op-delay-ms"):
        DemoOptions(device_op_delay_s=2.0)
    with pytest.raises(ConfigError, match=r"--device-profile must be one of .*esp32-s3"):
        DemoOptions(device_profile="pdp-11")


def test_device_profiles_map_to_speed_factors() -> None:
    assert device_speed_factor("this-machine", "fomo96") == 1.0
    pi4 = device_speed_factor("rpi4", "fomo96")
    zero = device_speed_factor("rpi-zero-2w", "fomo96")
    esp = device_speed_factor("esp32-s3", "fomo96")
    # Measured here, so only the order is stable: each class is slower than the one above it.
    assert 1.0 <= pi4 < zero < esp


def test_default_profile_emulates_a_slower_device(tmp_path: Path) -> None:
    emulation = DeviceEmulation(profile="esp32-s3", speed_factor=8.0, whole_model_s=0.0002)
    assert emulation.device_alone_ms == pytest.approx(1.6)
    options = DemoOptions(devices=1, duration_s=0.5, telemetry_path=tmp_path / "t.sqlite")
    assert options.device_profile == "esp32-s3"
    summary = run_demo(options, emulation=emulation)
    assert summary.emulation == emulation
    assert set(summary.as_json()) == KEYS and summary.inferences > 0


def test_emulated_heads_take_the_device_time(tmp_path: Path) -> None:
    # A 5 ms device: every inference that runs ops on it lasts at least that long, and over
    # the emulated Wi-Fi (47 ms for the input) the planner keeps the model on the device.
    emulation = DeviceEmulation(
        profile="esp32-s3", speed_factor=25.0, whole_model_s=0.0002, device_op_s=(0.0002,) * 25
    )
    assert emulation.device_alone_ms == pytest.approx(5.0)
    options = DemoOptions(devices=1, duration_s=1.0, telemetry_path=tmp_path / "t.sqlite")
    doc = run_demo(options, emulation=emulation).as_json()
    cuts = doc["per_device"][0]["cuts"]
    assert cuts.get("25", 0) >= 0.6 * doc["inferences"] > 0
    assert doc["latency_ms"]["p50"] >= 5.0


@pytest.mark.slow
def test_cli_writes_the_json_summary(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sciot",
            "demo",
            "--devices",
            "3",
            "--duration",
            "1",
            "--transport",
            "ws",
            "--int8",
            "--device-op-delay-ms",
            "0.05",
            "--json",
            str(out),
            "--telemetry",
            str(tmp_path / "t.sqlite"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "sciot demo summary" in result.stdout
    doc = json.loads(out.read_text())
    assert set(doc) == KEYS and doc["devices"] == 3 and doc["lost"] == 0
    assert len(doc["per_device"]) == 3


def test_cli_rejects_bad_transport() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sciot", "demo", "--transport", "pigeon", "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == ConfigError.exit_code
    assert "--transport must be http, ws, tcp, udp or mqtt" in result.stderr


def test_link_option_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"--link must be one of loopback, wifi, lte, got 'x25'"):
        DemoOptions(link="x25")
    with pytest.raises(ConfigError, match="--link-change-at needs an emulated link"):
        DemoOptions(link="loopback", link_change_at_s=1.0)
    for at_s in (0.0, 10.0, -1.0, float("nan")):
        with pytest.raises(ConfigError, match="--link-change-at must be inside the run"):
            DemoOptions(duration_s=10.0, link_change_at_s=at_s)
    assert DemoOptions().link == "wifi"


def test_links_are_the_simulators_link_models() -> None:
    from sciot.sim.scenarios import BASE_BYTES_PER_S, BASE_RTT_S

    assert DEMO_LINKS["loopback"].link_model() is None
    wifi = DEMO_LINKS["wifi"].link_model()
    assert wifi is not None and wifi.at(0.0) == (BASE_RTT_S, BASE_BYTES_PER_S)
    lte = DEMO_LINKS["lte"].link_model()
    assert lte is not None and lte.at(0.0) == pytest.approx((0.040, 5e6 / 8))
    changed = DEMO_LINKS["wifi"].link_model(change_at_s=3.0)
    assert changed is not None
    assert changed.at(2.9)[1] == BASE_BYTES_PER_S
    assert changed.at(3.0)[1] == pytest.approx(BASE_BYTES_PER_S / 10)


def test_cli_rejects_unknown_link() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sciot", "demo", "--link", "carrier-pigeon", "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == ConfigError.exit_code
    assert "--link must be one of loopback, wifi, lte, got 'carrier-pigeon'" in result.stderr


def test_emulated_device_ops_follow_their_macs() -> None:
    from sciot.device import resolve_model_source
    from sciot.model import load_model

    emulation = emulate_device("esp32-s3", "fomo96")
    graph = load_model(resolve_model_source("fomo96"))
    assert len(emulation.device_op_s) == graph.num_ops
    assert sum(emulation.device_op_s) * 1e3 == pytest.approx(emulation.device_alone_ms)
    heaviest = max(range(graph.num_ops), key=lambda i: graph.ops[i].macs)
    assert max(emulation.device_op_s) == emulation.device_op_s[heaviest]
    assert emulate_device("this-machine", "fomo96").device_op_s == ()


def _cuts_in_order(path: Path) -> dict[str, list[int]]:
    """Each device's cuts in the order it ran them, from the telemetry (device-only ones too,
    as the device reports them)."""
    rows = sorted(read_telemetry(path), key=lambda r: (r["device_id"], r["seq"]))
    cuts: dict[str, list[int]] = {}
    for row in rows:
        cuts.setdefault(str(row["device_id"]), []).append(int(row["cut"]))
    return cuts


def _interior_count(cuts: list[int], num_ops: int = 25) -> int:
    return sum(1 for cut in cuts if 0 < cut < num_ops)


def test_default_demo_splits_at_interior_cuts(tmp_path: Path) -> None:
    """An ESP32-S3 over the emulated Wi-Fi: the input (110 kB) costs more on the air than
    running the first ops does, the whole model more than sending an early cut's 18 kB.

    Learning the link and the device takes a few probes and a device-only stretch of one to
    four report intervals (time, not requests: when the first edge-only probes leave the link
    fit steep, cut 6 looks slower than device-only until a probe or two of it), so how many
    inferences it covers depends on the machine's load: the contract is checked on each
    device's last inferences, after it. 3 s runs failed it about one in ten; 6 s runs passed
    it 12 of 12."""
    summary = run_demo(DemoOptions(devices=2, duration_s=6.0, telemetry_path=tmp_path / "t.db"))
    doc = summary.as_json()
    assert set(doc) == KEYS and doc["link"] == "wifi" and doc["lost"] == 0
    assert doc["local_fallbacks"] == 0
    cuts = _cuts_in_order(tmp_path / "t.db")
    assert sorted(cuts) == ["device-01", "device-02"]
    for device, order in cuts.items():
        last = order[-15:]
        # Once learned, most inferences split inside the model; probes still visit other cuts.
        assert len(last) == 15 and _interior_count(last) >= 0.6 * len(last), (device, order)
    # One emulated Wi-Fi round trip alone is 3 ms: every latency includes the link.
    assert doc["latency_ms"]["p50"] > 3.0


def test_loopback_link_is_not_emulated(tmp_path: Path) -> None:
    options = DemoOptions(
        devices=1, duration_s=1.5, link="loopback", telemetry_path=tmp_path / "t.db"
    )
    doc = run_demo(options).as_json()
    assert doc["link"] == "loopback" and doc["inferences"] > 0
    # Sending the input over bare loopback is nearly free: once the planner has the device's
    # first reports (about half a second of device-only), it keeps the device idle.
    cuts = doc["per_device"][0]["cuts"]
    assert cuts.get("0", 0) >= 0.6 * doc["inferences"]


@pytest.mark.slow
def test_link_change_moves_the_cut(tmp_path: Path) -> None:
    """Wi-Fi dropping to 2 Mbit/s: the 18 kB cut costs over 80 ms on the air, the device
    alone 42 ms, so the planner moves the cut to the device (25) within the run.

    Checked on the inferences just before the change and at the end of the run, which are
    past each phase's learning however loaded the machine is (a count over the whole run is
    not: learning lasts report intervals, and a loaded machine runs fewer inferences in one)."""
    options = DemoOptions(
        devices=1, duration_s=5.0, link_change_at_s=2.5, telemetry_path=tmp_path / "t.db"
    )
    run_demo(options)
    rows = sorted(read_telemetry(tmp_path / "t.db"), key=lambda r: int(r["seq"]))
    started_s = float(rows[0]["at_s"])
    before = [int(r["cut"]) for r in rows if float(r["at_s"]) < started_s + 2.4][-10:]
    after = [int(r["cut"]) for r in rows][-10:]
    assert len(before) == 10 and _interior_count(before) >= 8, before
    assert after.count(25) >= 8, after
