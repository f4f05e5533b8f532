"""What a finished run left in its directory, read back the same way for both engines."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sciot.errors import SciotError
from sciot.federated._metrics import RoundMetrics, read_metrics

SUMMARY_FILE = "summary.json"
ERROR_FILE = "error.txt"


class FederatedRunError(SciotError):
    """The federated run failed; the message is the server's one-line reason."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """A finished run: its directory, per-round metrics and the summary the server wrote."""

    out_dir: Path
    rounds: tuple[RoundMetrics, ...]
    summary: dict[str, Any]

    @property
    def final(self) -> RoundMetrics:
        return self.rounds[-1]

    @property
    def model_path(self) -> Path:
        return self.out_dir / "model.tflite"


def run_failure(out_dir: Path) -> str | None:
    """The server's one-line reason when the run in ``out_dir`` failed, else None."""
    error = out_dir / ERROR_FILE
    if not error.is_file():
        return None
    return error.read_text().splitlines()[0] if error.stat().st_size else "unknown error"


def read_result(out_dir: Path) -> RunResult:
    """The result in ``out_dir``, or the server's reason for failing as an error."""
    reason = run_failure(out_dir)
    if reason is not None:
        raise FederatedRunError(f"federated run failed: {reason} (details: {out_dir / ERROR_FILE})")
    summary_path = out_dir / SUMMARY_FILE
    if not summary_path.is_file():
        raise FederatedRunError(
            f"federated run ended without a summary in {out_dir}; see the Flower log above"
        )
    summary = json.loads(summary_path.read_text())
    rounds = tuple(read_metrics(out_dir / "metrics.csv"))
    return RunResult(out_dir=out_dir, rounds=rounds, summary=summary)
