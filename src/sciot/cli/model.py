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
    str,
    typer.Argument(
        metavar="MODEL", help="A .tflite file, or the name of a shipped demo model (fomo96)."
    ),
]


@app.command()
def inspect(
    model: ModelArg,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON document (ops, inputs, outputs, cuts).")
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check/--no-check",
            help="Run every cut's head and tail in LiteRT (in a separate process) and list "
            "the cuts that fail as excluded.",
        ),
    ] = True,
) -> None:
    """Show a model's operators and every cut with the tensors that cross it."""
    from sciot.model import describe_graph, load_model, resolve_model_path

    path = resolve_model_path(model)
    graph = load_model(path)
    if check:
        from sciot.runtime import verify_cuts

        with _CheckProgress() as progress:
            graph = verify_cuts(graph, progress=progress.update)
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
    """Split a model into head/tail .tflite files and write DIR/manifest.json.

    Every cut is first run in LiteRT (head then tail against the full model, in a separate
    process); a cut that does not run or is not bit-exact is not written.
    """
    from sciot.model import load_model, resolve_model_path, write_splits
    from sciot.runtime import verify_cuts

    if every == bool(at):
        raise ConfigError("give either --at K (one or more times) or --all, not both or neither")
    graph = load_model(resolve_model_path(model))
    if at:
        for k in at:
            graph.cut(k)  # an unknown cut is a usage error before any checking
    with _CheckProgress() as progress:
        graph = verify_cuts(graph, None if every else at, progress=progress.update)
    manifest = write_splits(
        graph, out, None if every else at, model_label=str(model), c_array=c_array
    )
    excluded = manifest["excluded"]
    note = f"; {len(excluded)} cut(s) excluded (sciot model inspect lists why)" if excluded else ""
    typer.echo(f"wrote {len(manifest['cuts'])} split(s) and {out / 'manifest.json'}{note}")


class _CheckProgress:
    """A progress bar on stderr while cuts are run, shown only on a terminal and only once
    the check has taken a second (small models finish before it would appear)."""

    def __init__(self) -> None:
        import sys
        import time

        self._enabled = sys.stderr.isatty()
        self._started = time.monotonic()
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _CheckProgress:
        return self

    def update(self, done: int, total: int) -> None:
        import time

        if not self._enabled or time.monotonic() - self._started < 1.0:
            return
        if self._bar is None:
            from rich.console import Console
            from rich.progress import Progress

            self._bar = Progress(console=Console(stderr=True), transient=True)
            self._bar.start()
            self._task = self._bar.add_task("running every cut in LiteRT", total=total)
        self._bar.update(self._task, completed=done)

    def __exit__(self, *_exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def _print_graph(label: str, graph: Any) -> None:
    from rich.console import Console

    console = Console()
    console.print(f"[bold]{label}[/bold]", soft_wrap=True)
    console.print(
        f"  id {graph.model_id}  {len(graph.model_bytes):,} bytes  {graph.num_ops} ops  "
        f"{graph.total_macs:,} MACs"
    )
    if graph.folded_ops:
        kinds = ", ".join(sorted({op.op_type for op in graph.folded_ops}))
        console.print(
            f"  {len(graph.folded_ops)} constant-derived ops folded ({kinds}): no cut points"
        )
    excluded = [cut for cut in graph.cuts if not cut.splittable]
    if excluded:
        console.print(f"  {len(excluded)} of {len(graph.cuts)} cuts excluded (reasons below)")
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
            f"excluded: {cut.blocked_reason}"
            if cut.blocked_reason
            else ", ".join(_shape(t) for t in cut.tensors),
        ]
        for cut in graph.cuts
    ]
    headers = ["cut", "tensors", "bytes", "crossing"]
    console.print(_table("Cuts (the device runs ops [0, k))", headers, rows, console.width))


def _table(title: str, headers: list[str], rows: list[list[str]], width: int) -> Any:
    """A table whose columns keep their full width except the last, cut to fit ``width``.

    Borderless with one space between columns, so numbers, types and shapes of real models
    fit an 80-column terminal whole; only the trailing name (or reason) is shortened, and
    ``--json`` has it in full.
    """
    from rich.table import Table

    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headers)]
    room = max(12, width - sum(widths[:-1]) - 2 * (len(headers) - 1))
    table = Table(title=title, title_justify="left", box=None, pad_edge=False, padding=(0, 1))
    for header, column_width in zip(headers[:-1], widths[:-1], strict=True):
        numeric = header in _NUMERIC_COLUMNS
        table.add_column(
            header, no_wrap=True, justify="right" if numeric else "left", min_width=column_width
        )
    table.add_column(headers[-1], no_wrap=True, overflow="ellipsis")
    for row in rows:
        last = row[-1] if len(row[-1]) <= room else row[-1][: room - 1] + "…"
        table.add_row(*row[:-1], last)
    return table


def _shape(tensor: Any) -> str:
    return f"{tensor.dtype}[{'x'.join(str(d) for d in tensor.shape)}]"


from sciot.cli.model_convert import convert_command  # noqa: E402

app.command("convert")(convert_command)

from sciot.cli.model_deploy import deploy_command  # noqa: E402

app.command("deploy")(deploy_command)
