"""metrics.csv is written a row at a time and read back even while it grows."""

from __future__ import annotations

from pathlib import Path

import pytest

from sciot.errors import ConfigError
from sciot.federated import COLUMNS, RoundMetrics, plot_metrics, read_metrics
from sciot.federated._metrics import MetricsWriter, binary_f1


def _row(k: int) -> RoundMetrics:
    return RoundMetrics(
        round=k,
        accuracy=0.5 + k / 10,
        loss=1.0 / (k + 1),
        f1=0.4,
        clients_ok=3,
        clients_failed=k % 2,
        elapsed_s=float(k),
    )


def test_rows_round_trip_with_the_documented_columns(tmp_path: Path) -> None:
    writer = MetricsWriter(tmp_path / "metrics.csv")
    for k in range(3):
        writer.write(_row(k))
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0].split(",")
    assert tuple(header) == COLUMNS
    assert {"round", "accuracy", "loss"} <= set(header)
    rows = read_metrics(tmp_path / "metrics.csv")
    assert [r.round for r in rows] == [0, 1, 2]
    assert rows[2].accuracy == pytest.approx(0.7)
    assert rows[1].clients_failed == 1


def test_a_half_written_last_row_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    MetricsWriter(path).write(_row(0))
    with path.open("a") as fh:
        fh.write("1,0.6")
    assert [r.round for r in read_metrics(path)] == [0]


def test_a_foreign_csv_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="not a federated metrics file"):
        read_metrics(path)


def test_plot_writes_a_png(tmp_path: Path) -> None:
    out = plot_metrics({"a": [_row(0), _row(1)], "b": [_row(0)]}, tmp_path / "m.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_binary_f1() -> None:
    import numpy as np

    pred, truth = np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0])
    assert binary_f1(pred, truth) == pytest.approx(0.5)
    assert binary_f1(np.zeros(4, dtype=np.int64), truth) == 0.0
