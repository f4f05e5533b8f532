"""The ``sciot`` command: one Typer app, one module per sub-command group.

Each sub-command module under ``sciot.cli`` defines ``app: typer.Typer`` (a group such as
``sciot model ...``) or ``command`` (a single command such as ``sciot demo``) and is listed in
``_GROUPS`` / ``_COMMANDS`` below. Modules import heavy libraries inside their functions so
``sciot --help`` stays fast. :func:`main` turns every usage error and every
:class:`~sciot.errors.SciotError` into one line on stderr and an exit code.
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
    ("bench", "bench", "Benchmarks: transport round trips and goodput (sciot bench net)."),
    ("federated", "federated", "Federated training with Flower, exported to split TFLite."),
    ("token", "token", "Device tokens for an edge with auth on: create, revoke, list."),
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


def _hide_flag_types(command: Any) -> None:
    """Blank the ``<bool>`` type column beside on/off flags in ``--help``.

    A flag takes no value, so showing a type beside it reads as if it wanted one. Typer's rich
    help prints the option's ``metavar`` when set, so an empty one hides the column; the help
    option is built lazily and cached per command, so it is fetched once here to be blanked too.
    """
    context = typer.Context(command, info_name=command.name)
    for param in [*command.params, command.get_help_option(context)]:
        if getattr(param, "is_flag", False):
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _hide_flag_types(sub)


def _usage_line(exc: Exception) -> str:
    """One line for a usage error: what was wrong (naming the flag) and where help is."""
    message = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
    message = message.replace(": Value error, ", ": ")  # pydantic's prefix says nothing
    context = getattr(exc, "ctx", None)
    if context is not None:
        message += f" (see '{context.command_path} --help')"
    return message


def _is_usage_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a command-line usage error from Typer (vendored click) or click."""
    try:  # Typer >= 0.24 vendors click and raises its own exceptions
        from typer.exceptions import TyperException
    except ImportError:  # older Typer (the federated extra pins one) raises click's
        pass
    else:
        if isinstance(exc, TyperException):
            return True
    try:
        import click
    except ImportError:  # pragma: no cover - click is optional since Typer vendors it
        return False
    return isinstance(exc, click.ClickException)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; usage and library errors become one clear line and a non-zero exit code.

    Usage errors (unknown command or flag, a value out of range, a missing option) exit 2 as
    usual for command-line tools; a :class:`~sciot.errors.SciotError` exits with its own code.
    """
    command = typer.main.get_command(app)
    _hide_flag_types(command)
    try:
        code = command.main(args=argv, standalone_mode=False, prog_name="sciot")
    except SciotError as exc:
        print(f"sciot: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("sciot: interrupted", file=sys.stderr)
        sys.exit(130)
    except typer.Abort:
        print("sciot: aborted", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:
        if not _is_usage_error(exc):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # type: ignore[attr-defined]  # the group's help, as asked for
        else:
            print(f"sciot: error: {_usage_line(exc)}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 2))
    if isinstance(code, int) and code != 0:
        sys.exit(code)


if __name__ == "__main__":
    main()
