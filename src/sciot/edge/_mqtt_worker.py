"""One edge worker of a scaled-out edge tier: an MQTT listener in a shared group, no HTTP.

Several such processes (on one machine or many) subscribe as ``$share/<group>/sciot/+/infer``
to one broker and keep registrations and replies in one Redis, so any of them can answer any
device and a worker that dies costs no inference (the devices retransmit; a request another
worker already ran is answered from the shared reply cache). Run one with
``python -m sciot.edge._mqtt_worker --broker HOST:PORT --redis redis://HOST:PORT/0`` and the
edge configuration file ``sciot serve`` reads; it prints one ``ready`` line and serves until
SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from sciot.edge._config import EdgeConfig, load_edge_config
from sciot.edge._mqtt_listener import MqttListener
from sciot.edge._server import build_edge
from sciot.edge._shared_state import LocalState, RedisState, SharedState
from sciot.errors import ConfigError, SciotError

DEFAULT_GROUP = "sciot-edge"


def serve_worker(
    config: EdgeConfig,
    *,
    host: str,
    port: int,
    group: str,
    redis_url: str | None,
    stop: threading.Event,
    lanes: int = 1,
) -> None:
    """Serve until ``stop`` is set; ``lanes`` tails run at once (one per device lane)."""
    app = build_edge(config)
    state: SharedState = LocalState() if redis_url is None else RedisState(redis_url)
    app.start()
    try:
        with MqttListener(app.core, host=host, port=port, group=group, state=state, workers=lanes):
            print(f"ready: worker in group {group} on {host}:{port}", flush=True)
            stop.wait()
    finally:
        app.stop()
        if isinstance(state, RedisState):
            state.close()


def _broker(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--broker {text!r} must be HOST:PORT")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sciot.edge._mqtt_worker")
    parser.add_argument("--broker", required=True, help="MQTT broker HOST:PORT")
    parser.add_argument("--redis", default=None, help="redis://HOST:PORT/DB for shared state")
    parser.add_argument("--group", default=DEFAULT_GROUP, help="shared subscription group")
    parser.add_argument("--config", type=Path, default=None, help="edge YAML configuration")
    parser.add_argument("--lanes", type=int, default=1, help="tails run at once")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        host, port = _broker(args.broker)
        config = load_edge_config(args.config) if args.config else EdgeConfig()
        serve_worker(
            config,
            host=host,
            port=port,
            group=args.group,
            redis_url=args.redis,
            stop=stop,
            lanes=max(1, args.lanes),
        )
    except SciotError as exc:
        print(f"sciot edge worker: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
