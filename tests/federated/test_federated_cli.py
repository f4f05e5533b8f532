"""``sciot federated``: bad options are one line and exit 2, a missing Flower names its extra,
and ``plot`` draws a run's metrics."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from sciot.federated import RoundMetrics
from sciot.federated._metrics import MetricsWriter

HAS_FLOWER = importlib.util.find_spec("flwr") is not None


def _sciot(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sciot", *argv], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--alpha", "-1"], ["alpha must be > 0"]),
        (["--lr", "0"], ["learning_rate must be > 0"]),
        (["--clients", "0"], ["--clients"]),
        (["--strategy", "fedsgd"], ["--strategy", "fedsgd"]),
        (["--model", "resnet"], ["--model", "resnet"]),
    ],
)
def test_bad_options_are_one_line_and_exit_2(argv: list[str], words: list[str]) -> None:
    done = _sciot("federated", "run", "-o", "unused", *argv)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in done.stderr


@pytest.mark.skipif(HAS_FLOWER, reason="Flower is installed in this environment")
def test_without_flower_the_run_names_the_extra(tmp_path: Path) -> None:
    done = _sciot("federated", "run", "-o", str(tmp_path / "run"), "--clients", "2")
    assert done.returncode == 9
    assert done.stderr.strip().splitlines() == [
        "sciot: error: Federated training needs the optional package 'flwr', which is not "
        "installed; install it with: pip install 'sciot[federated]'"
    ]
    assert not (tmp_path / "run").exists()


def test_plot_draws_a_runs_metrics(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    writer = MetricsWriter(run / "metrics.csv")
    for k in range(3):
        writer.write(
            RoundMetrics(
                round=k,
                accuracy=0.5 + 0.1 * k,
                loss=0.7 - 0.1 * k,
                f1=0.5,
                clients_ok=3,
                clients_failed=0,
                elapsed_s=float(k),
            )
        )
    done = _sciot("federated", "plot", str(run), "-o", str(tmp_path / "m.png"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"


def test_plot_of_a_missing_run_is_one_line(tmp_path: Path) -> None:
    done = _sciot("federated", "plot", str(tmp_path / "nope"), "-o", str(tmp_path / "m.png"))
    assert done.returncode == 2
    assert done.stderr.strip().startswith("sciot: error: cannot read")
    assert "Traceback" not in done.stderr
