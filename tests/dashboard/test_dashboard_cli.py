"""``sciot serve`` and ``sciot demo`` serve the dashboard and say where."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from sciot.dashboard import mount_dashboard
from sciot.sim.demo import DemoOptions, run_demo


@pytest.mark.slow
def test_serve_mounts_the_dashboard_and_prints_its_url(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "sciot", "serve", "--port", "0"]
    command += ["--telemetry", str(tmp_path / "t.sqlite")]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"dashboard: (http://127\.0\.0\.1:\d+/dashboard)\)", line)
        assert found, line
        page = httpx.get(found.group(1), timeout=10.0)
        assert page.status_code == 200 and "sciot fleet" in page.text
        snapshot = httpx.get(found.group(1) + "/api/snapshot", timeout=10.0).json()
        assert snapshot["stats"]["policy"] == "adaptive"
    finally:
        process.terminate()
        process.wait(20)
        if process.stdout is not None:
            process.stdout.close()


def test_the_demo_edge_serves_the_dashboard_while_devices_run(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []

    def look(_tracks: object, url: str) -> None:
        if not seen:
            seen.append(httpx.get(url + "/dashboard/api/snapshot", timeout=10.0).json())

    run_demo(
        DemoOptions(devices=1, duration_s=0.8, telemetry_path=tmp_path / "t.sqlite"),
        on_tick=look,
        prepare_edge=mount_dashboard,
    )
    assert seen and seen[0]["stats"]["models"][0]["name"] == "fomo96"


@pytest.mark.slow
def test_demo_prints_the_dashboard_url(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "sciot", "demo", "--devices", "1", "--duration", "1"]
    result = subprocess.run(
        [*command, "--telemetry", str(tmp_path / "t.sqlite")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"dashboard: http://127\.0\.0\.1:\d+/dashboard", result.stdout), result.stdout
