"""``sciot sensors ...``: simulated sensors, MQTT ingestion and streaming anomaly detection.

``run`` parses its options, calls :func:`sciot.sensors.run_pipeline` once, prints a summary
table and optionally writes the JSON report; ``evaluate`` does the same with
:func:`sciot.sensors.evaluate_detection` (hours of simulated plant replayed in seconds).
Errors are ``SciotError`` subclasses that ``sciot.cli.app.main`` turns into one line.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(no_args_is_help=True)


class RunMode(StrEnum):
    simulate = "simulate"
    ingest = "ingest"
    all = "all"


class EncodingChoice(StrEnum):
    json = "json"
    batch = "batch"


class DetectorChoice(StrEnum):
    streaming = "streaming"
    iforest = "iforest"
    tflite = "tflite"


@app.command()
def run(
    config: Annotated[
        Path | None, typer.Option("--config", help="Pipeline YAML (default: a built-in plant).")
    ] = None,
    mode: Annotated[RunMode, typer.Option("--mode", help="What this process does.")] = (
        RunMode.all
    ),
    duration: Annotated[
        float, typer.Option("--duration", help="Wall seconds to run (then drain).", min=0.001)
    ] = 10.0,
    broker: Annotated[
        str | None,
        typer.Option("--broker", help="MQTT broker HOST:PORT; without it, in-process transport."),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the run report as JSON here.")
    ] = None,
    encoding: Annotated[
        EncodingChoice | None,
        typer.Option("--encoding", help="Override simulation.encoding (json or batch)."),
    ] = None,
    speed: Annotated[
        float | None,
        typer.Option(
            "--speed", help="Override simulation.speed (simulated s per wall s, > 0).", max=1e6
        ),
    ] = None,
    detector: Annotated[
        DetectorChoice | None, typer.Option("--detector", help="Override detection.detector.")
    ] = None,
    load_state: Annotated[
        Path | None, typer.Option("--load-detector", help="Start from a saved detector state.")
    ] = None,
    save_state: Annotated[
        Path | None, typer.Option("--save-detector", help="Save the detector state at the end.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar or table.")] = False,
) -> None:
    """Simulate sensors, ingest their readings, detect anomalies and report."""
    from sciot.sensors import default_config, load_config, load_detector, parse_config
    from sciot.sensors import run_pipeline as run_sensor_pipeline

    if speed is not None and speed <= 0:
        raise typer.BadParameter(
            f"must be > 0 simulated seconds per wall second, got {speed:g}", param_hint="'--speed'"
        )
    cfg = load_config(config) if config is not None else default_config()
    overrides: dict[str, Any] = cfg.model_dump()
    if encoding is not None:
        overrides["simulation"]["encoding"] = encoding.value
    if speed is not None:
        overrides["simulation"]["speed"] = speed
    if detector is not None:
        overrides["detection"]["detector"] = detector.value
    cfg = parse_config(overrides, source=str(config or "<default>"))
    state = load_detector(load_state) if load_state is not None else None
    if quiet:
        report = run_sensor_pipeline(
            cfg, mode=mode.value, duration_s=duration, broker=broker, detector=state
        )
    else:
        report = _run_with_progress(cfg, mode.value, duration, broker, state)
    if save_state is not None:
        if report.detector is None:
            typer.echo("no detector ran in this mode; nothing to save", err=True)
        else:
            report.detector.save(save_state)
    if json_out is not None:
        report.write_json(json_out)
    if not quiet:
        _print_summary(report.to_json())
    elif json_out is None:
        typer.echo(json.dumps(report.to_json(), indent=2))


@app.command()
def evaluate(
    config: Annotated[
        Path | None, typer.Option("--config", help="Pipeline YAML (default: a built-in plant).")
    ] = None,
    hours: Annotated[
        float, typer.Option("--hours", help="Simulated hours to replay.", min=0.001, max=720)
    ] = 6.0,
    detector: Annotated[
        DetectorChoice | None, typer.Option("--detector", help="Override detection.detector.")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the report as JSON here.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No table; JSON to stdout.")] = False,
) -> None:
    """Replay simulated hours of the plant as fast as possible and score the detector."""
    from sciot.sensors import default_config, evaluate_detection, load_config, parse_config

    cfg = load_config(config) if config is not None else default_config()
    if detector is not None:
        doc = cfg.model_dump()
        doc["detection"]["detector"] = detector.value
        cfg = parse_config(doc, source=str(config or "<default>"))
    report = evaluate_detection(cfg, simulated_s=hours * 3600.0)
    if json_out is not None:
        report.write_json(json_out)
    if not quiet:
        _print_summary(report.to_json())
    elif json_out is None:
        typer.echo(json.dumps(report.to_json(), indent=2))


def _run_with_progress(cfg: Any, mode: Any, duration: float, broker: str | None, state: Any) -> Any:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from sciot.sensors import run_pipeline as run_sensor_pipeline

    with Progress(
        TextColumn("[bold]sensors[/bold] {task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(mode, total=1.0)
        return run_sensor_pipeline(
            cfg,
            mode=mode,
            duration_s=duration,
            broker=broker,
            detector=state,
            progress=lambda done: bar.update(task, completed=done),
        )


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _print_summary(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    totals = Table(title=f"sensor pipeline ({doc['mode']}, {doc['duration_s']:.1f} s)")
    totals.add_column("metric")
    totals.add_column("value", justify="right")
    for key in (
        "published",
        "readings",
        "readings_per_s",
        "messages",
        "alerts",
        "suppressed_alerts",
        "malformed",
        "out_of_range",
        "late",
        "duplicate",
        "dropped",
        "missing_seq",
        "events",
        "precision",
        "recall",
        "f1",
    ):
        unscored = key in ("precision", "recall", "f1") and "scores_note" in doc
        totals.add_row(
            key, "n/a" if unscored else _fmt(doc[key], 1 if key == "readings_per_s" else 3)
        )
    latency = doc["latency_ms"]
    totals.add_row("latency p50 / p99 ms", f"{_fmt(latency['p50'], 2)} / {_fmt(latency['p99'], 2)}")
    console.print(totals)
    if "scores_note" in doc:
        console.print(f"scores n/a: {doc['scores_note']}", markup=False, highlight=False)
    if doc["per_kind"] and "scores_note" not in doc:
        kinds = Table(title="detection per anomaly kind (event level)")
        for column in ("kind", "events", "caught", "false alerts", "precision", "recall", "f1"):
            kinds.add_column(column, justify="left" if column == "kind" else "right")
        for kind, s in doc["per_kind"].items():
            kinds.add_row(
                kind,
                _fmt(s["events"]),
                _fmt(s["caught"]),
                _fmt(s["false_alerts"]),
                _fmt(s["precision"]),
                _fmt(s["recall"]),
                _fmt(s["f1"]),
            )
        console.print(kinds)


@app.command("example-config")
def example_config(
    out: Annotated[Path, typer.Argument(help="Where to write the YAML.")],
) -> None:
    """Write the built-in plant as a YAML file to start from."""
    import yaml

    from sciot.errors import ConfigError
    from sciot.sensors import default_config

    doc = default_config().model_dump(mode="json")
    try:
        out.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror or exc}") from exc
    typer.echo(f"wrote {out}")
