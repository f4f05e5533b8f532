"""Run an ASGI app under uvicorn in a background thread, on a loopback port chosen by the OS.

The demo, the tests and the benchmark need an edge server in the same process that they can
start, address and stop deterministically; binding the socket ourselves (port 0) avoids the
race of "find a free port, then hope nobody takes it". Uvicorn's one-warning-per-junk-connection
log lines are aggregated (:class:`ClientFaultLogFilter`), so a junk or slow-loris flood cannot
flood the log.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from sciot.errors import TransportError


@dataclass(slots=True, kw_only=True)
class RunningServer:
    """A uvicorn server serving in a daemon thread; ``stop()`` shuts it down and joins."""

    host: str
    port: int
    _server: uvicorn.Server
    _thread: threading.Thread
    _sock: socket.socket
    _stopped: bool = field(default=False)

    @property
    def _netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://{self._netloc}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self._netloc}/v1/ws"

    def stop(self, *, timeout_s: float = 10.0) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.should_exit = True
        self._thread.join(timeout_s)
        if self._thread.is_alive():  # stuck connections: force it
            self._server.force_exit = True
            self._thread.join(timeout_s)
        self._sock.close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# Warnings uvicorn logs once per connection whose bytes are not HTTP (or an upgrade it refuses):
# the client's fault, and as many lines as a flood has connections.
CLIENT_FAULT_MESSAGES = frozenset(
    ("Invalid HTTP request received.", "Unsupported upgrade request.")
)
CLIENT_FAULT_WINDOW_S = 10.0


class ClientFaultLogFilter(logging.Filter):
    """Lets one client-fault warning of a kind through per window and counts the rest.

    The first line after a quiet window carries how many were held back, so nothing is hidden,
    only aggregated; every other record passes untouched.
    """

    def __init__(
        self,
        *,
        window_s: float = CLIENT_FAULT_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last_shown: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message not in CLIENT_FAULT_MESSAGES:
            return True
        now = self._clock()
        with self._lock:
            last = self._last_shown.get(message)
            if last is not None and now - last < self.window_s:
                self._held[message] = self._held.get(message, 0) + 1
                self.suppressed += 1
                return False
            self._last_shown[message] = now
            held = self._held.pop(message, 0)
        if held:
            record.msg = (
                f"{message} ({held} more like it held back in the last {self.window_s:g} s)"
            )
            record.args = ()
        return True


def quiet_client_faults(logger_name: str = "uvicorn.error") -> ClientFaultLogFilter:
    """Install (once) the aggregating filter on uvicorn's error logger and return it."""
    logger = logging.getLogger(logger_name)
    for existing in logger.filters:
        if isinstance(existing, ClientFaultLogFilter):
            return existing
    installed = ClientFaultLogFilter()
    logger.addFilter(installed)
    return installed


def bind_loopback(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise TransportError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def serve_in_thread(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout_s: float = 20.0,
    **uvicorn_options: Any,
) -> RunningServer:
    """Start serving ``app`` and return once it accepts connections."""
    sock = bind_loopback(host, port)
    options: dict[str, Any] = {
        "log_level": "warning",
        "access_log": False,
        "lifespan": "on",
        "ws_max_size": 64 * 1024 * 1024,
    }
    options.update(uvicorn_options)
    config = uvicorn.Config(app, **options)  # configures uvicorn's loggers
    quiet_client_faults()
    server = uvicorn.Server(config)

    def run() -> None:
        # Off the main thread uvicorn installs no signal handlers: stop() is the only way out.
        server.run(sockets=[sock])

    thread = threading.Thread(target=run, name=f"uvicorn-{sock.getsockname()[1]}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(5.0)
            sock.close()
            raise TransportError(
                f"edge server on {host} did not start within {startup_timeout_s} s"
            )
        time.sleep(0.01)
    return RunningServer(
        host=host, port=int(sock.getsockname()[1]), _server=server, _thread=thread, _sock=sock
    )
