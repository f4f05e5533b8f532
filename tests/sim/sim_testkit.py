"""Shared pieces of the simulator tests: a small model profile and CSV readers."""

from __future__ import annotations

import csv
from pathlib import Path

from sciot.sim import ModelProfile

# A small FOMO-like model whose best cut on a slow device is in the middle (cut 4, 9 kB).
TINY = ModelProfile(
    name="tiny",
    op_s=(10e-6, 10e-6, 10e-6, 10e-6, 60e-6, 30e-6),
    crossing_bytes=(110_592, 147_456, 73_728, 18_432, 9_216, 2_304, 2_304),
    output_bytes=2_304,
    macs=4_000_000,
)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def policy_rows(path: Path, policy: str) -> list[dict[str, str]]:
    return [r for r in read_csv(path) if r["policy"] == policy]
