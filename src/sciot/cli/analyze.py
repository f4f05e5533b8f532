"""``sciot analyze DIR``: summary table, plots and an HTML report from a simulation run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def analyze_command(
    run_dir: Annotated[
        Path, typer.Argument(metavar="DIR", help="Directory written by `sciot simulate`.")
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Report directory (default: DIR/analysis)."),
    ] = None,
) -> None:
    """Write summary.csv, PNG plots and report.html for a run; print the summary table."""
    from sciot.analysis import analyze_run

    report = analyze_run(run_dir, out_dir=out)
    typer.echo(report.table)
    typer.echo(f"sciot analyze: {len(report.plots)} plots; report at {report.html}")
