"""Run an ASGI app under uvicorn in a background thread, on a loopback port chosen by the OS.

The demo, the tests and the benchmark need an edge server in the same process that they can
start, address and stop deterministically; binding the socket ourselves (port 0) avoids the
race of "find a free port, then hope nobody takes it".
"""

from __future__ import annotations

import socket
import threading
import time
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
    config = uvicorn.Config(app, **options)
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
