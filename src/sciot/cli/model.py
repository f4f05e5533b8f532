"""``sciot model ...``: inspect, split, export and convert models.

Each command parses its arguments, calls one ``sciot.model`` function and prints; errors are
``SciotError`` subclasses that ``sciot.cli.app.main`` turns into one line on stderr.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from sciot.errors import ConfigError

app = typer.Typer(no_args_is_help=True)

_NUMERIC_COLUMNS = frozenset({"op", "cut", "tensors", "bytes", "MACs"})

ModelArg = Annotated[
    str, typer.Argument(help="A .tflite file, or the name of a shipped demo model (fomo96).")
]


@app.command()
def inspect(
    model: ModelArg,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON document (ops, inputs, outputs, cuts).")
    ] = False,
) -> None:
    """Show a model's operators and every cut with the tensors that cross it."""
    from sciot.model import describe_graph, load_model, resolve_model_path

    path = resolve_model_path(model)
    graph = load_model(path)
    if as_json:
        document = {"model": str(model), "path": str(path), **describe_graph(graph)}
        typer.echo(json.dumps(document, indent=2))
        return
    _print_graph(str(model), graph)


@app.command()
def split(
    model: ModelArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="Directory to write into.")],
    at: Annotated[
        list[int] | None,
        typer.Option("--at", help="Cut index k (device runs ops [0, k)); repeatable."),
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Split at every cut.")] = False,
    c_array: Annotated[
        bool, typer.Option("--c-array", help="Also write each head as C source for TFLM.")
    ] = False,
) -> None:
    """Split a model into head/tail .tflite files and write DIR/manifest.json."""
    from sciot.model import load_model, resolve_model_path, write_splits

    if every == bool(at):
        raise ConfigError("give either --at K (one or more times) or --all, not both or neither")
    graph = load_model(resolve_model_path(model))
    manifest = write_splits(
        graph, out, None if every else at, model_label=str(model), c_array=c_array
    )
    typer.echo(f"wrote {len(manifest['cuts'])} split(s) and {out / 'manifest.json'}")


def _print_graph(label: str, graph: Any) -> None:
    from rich.console import Console

    console = Console()
    console.print(
        f"[bold]{label}[/bold]  id {graph.model_id}  {len(graph.model_bytes):,} bytes  "
        f"{graph.num_ops} ops  {graph.total_macs:,} MACs"
    )
    for kind, tensors in (("input", graph.inputs), ("output", graph.outputs)):
        for t in tensors:
            console.print(f"  {kind} {t.name}  {t.dtype}{list(t.shape)}  {t.nbytes:,} B")
    rows = [
        [
            str(op.index),
            op.op_type,
            " ".join(_shape(t) for t in op.outputs) or "-",
            f"{sum(t.nbytes for t in op.outputs):,}",
            f"{op.macs:,}",
            op.name,
        ]
        for op in graph.ops
    ]
    headers = ["op", "type", "output", "bytes", "MACs", "name"]
    console.print(_table("Operators", headers, rows, console.width))
    rows = [
        [
            str(cut.index),
            str(len(cut.tensors)),
            f"{cut.crossing_bytes:,}",
            f"blocked: {cut.blocked_reason}"
            if cut.blocked_reason
            else ", ".join(_shape(t) for t in cut.tensors),
        ]
        for cut in graph.cuts
    ]
    headers = ["cut", "tensors", "bytes", "crossing"]
    console.print(_table("Cuts (the device runs ops [0, k))", headers, rows, console.width))


def _table(title: str, headers: list[str], rows: list[list[str]], width: int) -> Any:
    """A table whose columns keep their full width except the last, cut to fit ``width``."""
    from rich.table import Table

    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headers)]
    room = max(12, width - sum(widths[:-1]) - 3 * len(headers) - 1)
    table = Table(title=title, title_justify="left")
    for header in headers:
        numeric = header in _NUMERIC_COLUMNS
        table.add_column(header, no_wrap=True, justify="right" if numeric else "left")
    for row in rows:
        last = row[-1] if len(row[-1]) <= room else row[-1][: room - 1] + "…"
        table.add_row(*row[:-1], last)
    return table


def _shape(tensor: Any) -> str:
    return f"{tensor.dtype}[{'x'.join(str(d) for d in tensor.shape)}]"


from sciot.cli.model_convert import convert_command  # noqa: E402

app.command("convert")(convert_command)
