"""A Mosquitto of one's own on a free loopback port, for the demo and the benchmarks.

Started from a generated configuration (loopback only, no persistence, ``set_tcp_nodelay``
so small frames do not wait for delayed ACKs) and stopped by PID, never by name.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sciot.errors import TransportError

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found is not None:
        return found
    return next((p for p in MOSQUITTO_PATHS if Path(p).exists()), None)


@contextmanager
def local_mosquitto(*, startup_timeout_s: float = 10.0) -> Iterator[int]:
    """Yields the port of a broker listening on 127.0.0.1 until the block ends."""
    binary = mosquitto_binary()
    if binary is None:
        raise TransportError(
            "MQTT needs a Mosquitto broker: install one (apt-get install mosquitto) or point "
            "the devices and the edge at a running broker"
        )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with tempfile.TemporaryDirectory(prefix="sciot-mosquitto-") as workdir:
        conf = Path(workdir, "mosquitto.conf")
        conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "set_tcp_nodelay true\nmax_queued_messages 100000\nlog_dest none\n",
            encoding="utf-8",
        )
        proc = subprocess.Popen(
            [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            _wait_listening(proc, port, startup_timeout_s)
            yield port
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _wait_listening(proc: subprocess.Popen[bytes], port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise TransportError(f"mosquitto exited with code {proc.returncode} at startup")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TransportError(f"mosquitto did not listen on 127.0.0.1:{port} within {timeout_s} s")
