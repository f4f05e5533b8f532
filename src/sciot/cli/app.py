"""The ``sciot`` command: one Typer app, one module per sub-command group.

Each sub-command module under ``sciot.cli`` defines ``app: typer.Typer`` (a group such as
``sciot model ...``) or ``command`` (a single command such as ``sciot demo``) and is listed in
``_GROUPS`` / ``_COMMANDS`` below. Modules import heavy libraries inside their functions so
``sciot --help`` stays fast. :func:`main` turns every :class:`~sciot.errors.SciotError` into
one line on stderr and the error's exit code.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

import typer

from sciot.errors import SciotError

# (module under sciot.cli, group name, help)
_GROUPS: list[tuple[str, str, str]] = [
    ("model", "model", "Inspect, split, export and convert TFLite / Keras models."),
    ("sensors", "sensors", "Simulated sensors, MQTT ingestion and streaming anomaly detection."),
]
# (module under sciot.cli, attribute, command name)
_COMMANDS: list[tuple[str, str, str]] = [
    ("demo", "demo_command", "demo"),
    ("serve", "serve_command", "serve"),
    ("device", "device_command", "device"),
    ("simulate", "simulate_command", "simulate"),
    ("analyze", "analyze_command", "analyze"),
]

app = typer.Typer(
    name="sciot",
    help="Adaptive split computing of TinyML models between IoT devices and an edge server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _show_version(value: bool) -> None:
    if value:
        from sciot import __version__

        print(f"sciot {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """Adaptive split computing of TinyML models between IoT devices and an edge server."""


for _module, _name, _help in _GROUPS:
    _group = importlib.import_module(f"sciot.cli.{_module}").app
    app.add_typer(_group, name=_name, help=_help)
for _module, _attr, _name in _COMMANDS:
    _command: Callable[..., Any] = getattr(importlib.import_module(f"sciot.cli.{_module}"), _attr)
    app.command(name=_name)(_command)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; library errors become one clear line and a non-zero exit code."""
    try:
        app(args=argv, standalone_mode=False, prog_name="sciot")
    except SciotError as exc:
        print(f"sciot: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("sciot: interrupted", file=sys.stderr)
        sys.exit(130)
    except SystemExit:
        raise
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("sciot: aborted", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:
        # click usage errors (bad flag, missing argument) are shown by click itself.
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
