"""``sciot serve``: run the edge server until interrupted.

Reads the YAML settings (defaults when absent: the shipped ``fomo96`` model, SQLite telemetry in
the working directory, port 8000 on loopback), prepares every tail, mounts the live dashboard
(``/dashboard``), prints one line with the address once it accepts connections, and serves until
Ctrl-C.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sciot.edge import EdgeApp, EdgeConfig


def serve_command(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Edge settings YAML (see docs/edge.md)."),
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="Override the config's host.")] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", "-p", min=0, max=65535, help="Override the port (0: any free)."),
    ] = None,
    telemetry: Annotated[
        Path | None, typer.Option("--telemetry", help="Override the SQLite telemetry path.")
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option("--policy", help="Split policy: adaptive, sciot, fixed:K, edge-only, ..."),
    ] = None,
    auth: Annotated[
        bool | None,
        typer.Option(
            "--auth/--no-auth",
            help="Require device tokens (sciot token create) on every frame; overrides auth.mode.",
        ),
    ] = None,
    token_file: Annotated[
        Path | None, typer.Option("--token-file", help="Override auth.token_file.")
    ] = None,
    allow_public_without_auth: Annotated[
        bool,
        typer.Option(
            "--allow-public-without-auth",
            help="Serve beyond loopback with auth off (anyone reachable can speak for any device).",
        ),
    ] = False,
    tcp_port: Annotated[
        int | None,
        typer.Option("--tcp-port", min=0, max=65535, help="Also serve frames over raw TCP."),
    ] = None,
    udp_port: Annotated[
        int | None,
        typer.Option("--udp-port", min=0, max=65535, help="Also serve frames over UDP."),
    ] = None,
    mqtt_broker: Annotated[
        str | None,
        typer.Option("--mqtt-broker", help="Also answer sciot/<device>/infer via HOST:PORT."),
    ] = None,
    mqtt_group: Annotated[
        str | None,
        typer.Option("--mqtt-group", help="Share requests with other edge workers ($share)."),
    ] = None,
    redis_url: Annotated[
        str | None,
        typer.Option("--redis", help="redis://HOST:PORT/DB: state shared by --mqtt-group workers."),
    ] = None,
    esp32_tail: Annotated[
        Path | None,
        typer.Option("--esp32-tail", help="Answer ESP32 seed raw activations with this tail."),
    ] = None,
    esp32_port: Annotated[
        int, typer.Option("--esp32-port", min=0, max=65535, help="Port of --esp32-tail.")
    ] = 4210,
) -> None:
    """Serve split inference over HTTP and WebSocket, and TCP, UDP, MQTT when asked (Ctrl-C
    to stop)."""
    from sciot.dashboard import DASHBOARD_PATH, mount_dashboard
    from sciot.edge import load_edge_config, run_edge

    settings = load_edge_config(config)
    # One override per flag, so a bad value is reported under the flag that carried it.
    # Auth first: whether a non-loopback --host is acceptable depends on it.
    auth_changes: dict[str, object] = {}
    if auth is not None:
        auth_changes["mode"] = "tokens" if auth else "off"
    if token_file is not None:
        auth_changes["token_file"] = str(token_file)
    if allow_public_without_auth:
        auth_changes["allow_public_without_auth"] = True
    if auth_changes:
        settings = settings.with_overrides(
            source="--auth/--token-file/--allow-public-without-auth",
            auth={**settings.auth.model_dump(), **auth_changes},
        )
    settings = settings.with_overrides(source="--host/--port", host=host, port=port)
    if telemetry is not None:
        settings = settings.with_overrides(
            source="--telemetry",
            telemetry={**settings.telemetry.model_dump(), "path": str(telemetry)},
        )
    if policy is not None:
        settings = settings.with_overrides(
            source="--policy", planner={**settings.planner.model_dump(), "policy": policy}
        )
    models = ", ".join(m.label for m in settings.models)
    _announce_auth(settings)

    from sciot.edge import RunningTransports, TransportOptions, start_transports

    options = TransportOptions(
        host=settings.host,
        tcp_port=tcp_port,
        udp_port=udp_port,
        mqtt_broker=mqtt_broker,
        mqtt_group=mqtt_group,
        redis_url=redis_url,
        esp32_tail=esp32_tail,
        esp32_port=esp32_port,
        allow_public_without_auth=settings.auth.allow_public_without_auth,
    )
    extra: list[RunningTransports] = []

    def prepare(app: EdgeApp) -> None:
        mount_dashboard(app)
        extra.append(start_transports(app.core, options))

    def ready(url: str) -> None:
        typer.echo(
            f"sciot edge: serving {models} on {url} (frames: POST /v1/frame, WS /v1/ws; "
            f"dashboard: {url}{DASHBOARD_PATH})"
        )
        urls = extra[0].urls if extra else {}
        if urls:
            typer.echo("sciot edge: also on " + ", ".join(urls.values()))

    try:
        run_edge(settings, on_ready=ready, prepare=prepare)
    finally:
        for running in extra:
            running.stop()


def _announce_auth(settings: EdgeConfig) -> None:
    """Say, loudly and before serving, whether devices must prove who they are."""
    from sciot.edge import LOOPBACK_HOSTS, TokenStore

    auth = settings.auth
    if auth.mode == "off":
        typer.echo(
            "sciot edge: WARNING: device authentication is OFF (development mode): any client "
            "that reaches this edge can register, report and infer as any device id. Provision "
            "tokens with `sciot token create` and serve with --auth (auth.mode: tokens).",
            err=True,
        )
    else:
        count = len(TokenStore(auth.token_file).load())
        typer.echo(f"sciot edge: device tokens required ({count} provisioned in {auth.token_file})")
        if count == 0:
            typer.echo(
                "sciot edge: WARNING: the token store is empty; every device will be refused",
                err=True,
            )
    if auth.operator_token is None and settings.host not in LOOPBACK_HOSTS:
        typer.echo(
            "sciot edge: WARNING: /metrics, /api/stats and /dashboard are open to anyone "
            "reachable (set auth.operator_token)",
            err=True,
        )
