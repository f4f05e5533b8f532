"""``sciot federated ...``: federated training with Flower and the plot of its metrics.

``run`` builds :class:`~sciot.federated.FederatedSettings` from its options, calls
:func:`sciot.federated.run_federated` with one progress line per round on stderr, optionally
trains the centralised yardstick on the same data, and writes ``metrics.csv``,
``metrics.png``, ``model.tflite`` and friends into ``-o DIR``. ``plot`` draws one or more runs'
``metrics.csv`` side by side. Flower is imported only when a run starts (the ``federated``
extra); without it the command says which extra to install.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)


class ModelChoice(StrEnum):
    sensor = "sensor"
    fomo = "fomo"


class StrategyChoice(StrEnum):
    fedavg = "fedavg"
    fedprox = "fedprox"
    fedadam = "fedadam"


class EngineChoice(StrEnum):
    simulation = "simulation"
    deployment = "deployment"


def _say(line: str) -> None:
    print(f"sciot: {line}", file=sys.stderr, flush=True)


@app.command()
def run(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")],
    clients: Annotated[int, typer.Option("--clients", "-n", min=1, help="Clients.")] = 10,
    rounds: Annotated[int, typer.Option("--rounds", "-r", min=1, help="Rounds.")] = 5,
    strategy: Annotated[
        StrategyChoice, typer.Option("--strategy", "-s", help="Aggregation strategy.")
    ] = StrategyChoice.fedavg,
    alpha: Annotated[
        float | None,
        typer.Option(
            "--alpha",
            help="Dirichlet label skew per client (small: non-IID); unset: each site's own mix.",
        ),
    ] = None,
    model: Annotated[ModelChoice, typer.Option("--model", "-m", help="Model to train.")] = (
        ModelChoice.sensor
    ),
    engine: Annotated[
        EngineChoice,
        typer.Option("--engine", help="simulation (virtual clients) or deployment (processes)."),
    ] = EngineChoice.simulation,
    samples: Annotated[
        int, typer.Option("--samples", min=8, help="Training samples per client.")
    ] = 160,
    local_epochs: Annotated[
        int, typer.Option("--local-epochs", min=1, help="Local epochs per round.")
    ] = 2,
    learning_rate: Annotated[
        float, typer.Option("--lr", help="Client learning rate (> 0).")
    ] = 0.006,
    seed: Annotated[int, typer.Option("--seed", help="Seed of data and initial model.")] = 0,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Simulation worker processes (default: cores)."),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1.0, help="Seconds a deployment run may take.")
    ] = 1800.0,
    round_timeout: Annotated[
        float, typer.Option("--round-timeout", min=1.0, help="Seconds to wait for clients.")
    ] = 300.0,
    baseline: Annotated[
        bool, typer.Option("--baseline", help="Also train centrally on the same data.")
    ] = False,
    export: Annotated[
        bool, typer.Option("--export/--no-export", help="Convert, validate and split.")
    ] = True,
) -> None:
    """Train a model across N clients with Flower; write metrics.csv and model.tflite."""
    from sciot.federated import (
        FederatedSettings,
        RoundMetrics,
        plot_metrics,
        require_flower,
        run_federated,
        train_centralised,
    )

    settings = FederatedSettings(
        model=model.value,
        clients=clients,
        rounds=rounds,
        strategy=strategy.value,
        alpha=alpha,
        seed=seed,
        samples_per_client=samples,
        local_epochs=local_epochs,
        learning_rate=learning_rate,
        round_timeout_s=round_timeout,
        export=export,
        out_dir=str(out),
    )

    def progress(row: RoundMetrics) -> None:
        clients_line = "" if row.round == 0 else f"  clients {row.clients_ok}/{clients}"
        failed = f" ({row.clients_failed} failed)" if row.clients_failed else ""
        _say(
            f"round {row.round}/{rounds}  accuracy {row.accuracy:.3f}  loss {row.loss:.3f}  "
            f"f1 {row.f1:.3f}{clients_line}{failed}  {row.elapsed_s:.1f} s"
        )

    require_flower()
    _say(
        f"federated {model.value}: {clients} clients x {rounds} rounds, {strategy.value}, "
        f"alpha {alpha if alpha is not None else 'none'}, {engine.value} engine"
    )
    result = run_federated(
        settings, engine=engine.value, workers=workers, timeout_s=timeout, progress=progress
    )
    runs = {f"federated ({strategy.value})": list(result.rounds)}
    if baseline:
        _say("training the centralised baseline on the same data")
        central = train_centralised(settings)
        runs["centralised"] = central
        gap = central[-1].accuracy - result.final.accuracy
        _say(f"centralised accuracy {central[-1].accuracy:.3f}; federated gap {gap:+.3f}")
        summary_path = result.out_dir / "summary.json"
        summary = json.loads(summary_path.read_text())
        summary["centralised"] = {"final_accuracy": central[-1].accuracy, "gap": gap}
        summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    plot_metrics(runs, result.out_dir / "metrics.png")
    exported = result.summary.get("export")
    if exported:
        _say(
            f"model.tflite: int8, {exported['int8_bytes']} bytes, agreement with Keras "
            f"{exported['int8_agreement']:.1%} (float32 {exported['float32_agreement']:.1%}), "
            f"{exported['splittable_cuts']} cuts split into {exported['split_dir']}"
        )
    print(result.out_dir)


@app.command()
def plot(
    runs: Annotated[list[Path], typer.Argument(help="Run directories (or metrics.csv files).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG to write.")],
) -> None:
    """Plot accuracy and loss per round of one or more federated runs."""
    from sciot.federated import plot_metrics, read_metrics

    series = {}
    for run_path in runs:
        csv_path = run_path / "metrics.csv" if run_path.is_dir() else run_path
        series[str(run_path)] = read_metrics(csv_path)
    print(plot_metrics(series, out))
