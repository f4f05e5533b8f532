"""Per-round metrics of a federated run: the CSV row, its writer and reader, and the plot.

The ServerApp appends one row per round (round 0 is the untrained model) and flushes it at
once, so anyone tailing ``metrics.csv`` (the CLI's progress under the deployment engine)
sees each round as it ends. Columns: ``round, accuracy, loss, f1, clients_ok,
clients_failed, elapsed_s``.
"""

from __future__ import annotations

import csv
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import numpy as np
import numpy.typing as npt

from sciot.errors import ConfigError
from sciot.model.zoo import score_fomo


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundMetrics:
    """The global model after ``round`` rounds, scored on the held-out set."""

    round: int
    accuracy: float
    loss: float
    f1: float
    clients_ok: int
    clients_failed: int
    elapsed_s: float


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(RoundMetrics))


class MetricsWriter:
    """Writes ``metrics.csv`` row by row (header first), keeping the rows for the summary."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[RoundMetrics] = []
        with path.open("w", newline="") as fh:
            csv.writer(fh).writerow(COLUMNS)

    def write(self, row: RoundMetrics) -> None:
        self.rows.append(row)
        with self.path.open("a", newline="") as fh:
            csv.writer(fh).writerow(_formatted(row))


def _formatted(row: RoundMetrics) -> list[str]:
    return [f"{v:.6f}" if isinstance(v, float) else str(v) for v in astuple(row)]


def read_metrics(path: str | Path) -> list[RoundMetrics]:
    """Rows of a ``metrics.csv`` (complete rows only: the file may still be growing)."""
    source = Path(path)
    try:
        lines = source.read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read {source}: {exc.strerror or exc}") from exc
    reader = csv.DictReader(lines)
    if reader.fieldnames is None or tuple(reader.fieldnames) != COLUMNS:
        raise ConfigError(f"{source} is not a federated metrics file (columns {COLUMNS})")
    rows = []
    for raw in reader:
        if any(raw.get(c) in (None, "") for c in COLUMNS):
            continue
        rows.append(
            RoundMetrics(
                round=int(raw["round"]),
                accuracy=float(raw["accuracy"]),
                loss=float(raw["loss"]),
                f1=float(raw["f1"]),
                clients_ok=int(raw["clients_ok"]),
                clients_failed=int(raw["clients_failed"]),
                elapsed_s=float(raw["elapsed_s"]),
            )
        )
    return rows


def binary_f1(predictions: npt.NDArray[np.int64], labels: npt.NDArray[np.int64]) -> float:
    """F1 of the positive (anomalous) class."""
    tp = int(((predictions == 1) & (labels == 1)).sum())
    fp = int(((predictions == 1) & (labels == 0)).sum())
    fn = int(((predictions == 0) & (labels == 1)).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def fomo_f1(predictions: npt.NDArray[np.int64], targets: npt.NDArray[np.int64]) -> float:
    """Centroid-detection F1 of predicted cell maps, scored as the demo FOMO model is."""
    return score_fomo(predictions, targets).f1


def plot_metrics(runs: dict[str, list[RoundMetrics]], path: str | Path) -> Path:
    """Accuracy and loss per round of one or more runs (labelled) into one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for label, rows in runs.items():
        rounds = [r.round for r in rows]
        acc_ax.plot(rounds, [r.accuracy for r in rows], marker="o", label=label)
        loss_ax.plot(rounds, [r.loss for r in rows], marker="o", label=label)
    acc_ax.set(xlabel="round", ylabel="held-out accuracy", title="accuracy")
    loss_ax.set(xlabel="round", ylabel="held-out loss", title="loss")
    for ax in (acc_ax, loss_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    target = Path(path)
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target
