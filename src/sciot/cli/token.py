"""``sciot token create|revoke|list``: provision the device tokens an edge checks.

The store is the edge's ``auth.token_file`` (from ``--config``, or ``--token-file``, or
``sciot-tokens.json`` in the working directory). A token is printed once, at creation: the
store keeps only its SHA-256, so a lost token is replaced, never recovered. A running edge sees
a revocation within a second.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sciot.edge import TokenStore

app = typer.Typer(no_args_is_help=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Edge settings YAML whose auth.token_file to use."),
]
TokenFileOpt = Annotated[
    Path | None,
    typer.Option("--token-file", help="The token store (overrides the settings' path)."),
]
DeviceArg = Annotated[str, typer.Argument(help="The device id (as in the device's settings).")]


def _store(config: Path | None, token_file: Path | None) -> TokenStore:
    from sciot.edge import TokenStore, load_edge_config

    if token_file is not None:
        return TokenStore(token_file)
    return TokenStore(load_edge_config(config).auth.token_file)


@app.command()
def create(device_id: DeviceArg, config: ConfigOpt = None, token_file: TokenFileOpt = None) -> None:
    """Create (or replace) a device's token and print it once."""
    store = _store(config, token_file)
    token = store.create(device_id)
    typer.echo(token.hex())
    typer.echo(
        f"token for {device_id!r} stored (hashed) in {store.path}; it is shown only now: give "
        "it to the device (sciot device --token, SCIOT_DEVICE_TOKEN or 'token:' in its settings)",
        err=True,
    )


@app.command()
def revoke(device_id: DeviceArg, config: ConfigOpt = None, token_file: TokenFileOpt = None) -> None:
    """Remove a device's token: the edge refuses its frames from then on."""
    from sciot.errors import ConfigError

    store = _store(config, token_file)
    if not store.revoke(device_id):
        raise ConfigError(
            f"device {device_id!r} has no token in {store.path}; `sciot token list` shows those"
        )
    typer.echo(f"revoked {device_id!r} in {store.path}")


@app.command(name="list")
def list_tokens(config: ConfigOpt = None, token_file: TokenFileOpt = None) -> None:
    """List the devices that hold a token (never the tokens themselves)."""
    store = _store(config, token_file)
    entries = store.load()
    if not entries:
        typer.echo(f"no device tokens in {store.path}", err=True)
        return
    for entry in sorted(entries.values(), key=lambda e: e.device_id):
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(entry.created_at_s))
        typer.echo(f"{entry.device_id}\tcreated {created}\tsha256 {entry.sha256[:12]}")
