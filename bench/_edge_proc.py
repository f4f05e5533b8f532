"""Server processes for the benchmarks: start, wait for ready, read /proc, stop by PID.

The benchmarks run the edge (and the broker, Redis, a bare HTTP server) as subprocesses so the
edge's CPU time and memory can be read from ``/proc/<pid>`` apart from the devices'. Each such
process says it is ready with a line on stdout (``sciot serve`` prints ``... on http://...``)
or by listening on a port; both ways are here once, with the stop that every benchmark needs
(SIGTERM, then SIGKILL if it does not exit), so a change to how a server is started or stopped
reaches every benchmark.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def proc_rss_mb(pid: int) -> tuple[float, float]:
    """Resident memory now and its peak, in MB (NaN where ``/proc`` has none: a zombie)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", float("nan")), values.get("VmHWM", float("nan"))


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[Any], timeout_s: float = 15.0) -> None:
    """Return once ``proc`` accepts connections on ``port``; exit the benchmark if it never does."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{proc.args!r} did not listen on {port}")


def stop_process(proc: subprocess.Popen[Any], timeout_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within ``timeout_s``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def launch(
    cmd: list[str],
    ready: Callable[[str], bool],
    what: str,
    *,
    quiet: bool = True,
    deadline_s: float = 60.0,
) -> tuple[subprocess.Popen[str], str]:
    """Start ``cmd`` and read its stdout up to the first line ``ready`` accepts.

    Returns the process and that line. A process that closes stdout (it exits when it cannot
    start) or prints no such line within ``deadline_s`` is killed and the benchmark exits with
    the last line it printed. ``quiet`` sends the process's stderr to /dev/null.
    """
    process = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if quiet else None,
        text=True,
        bufsize=1,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + deadline_s
    line = ""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if ready(line) or not line:
            break
    if not ready(line):
        process.kill()
        process.wait(10)
        process.stdout.close()
        raise SystemExit(f"{what} did not start: {line!r}")
    return process, line


def serving_url(line: str) -> str:
    """The HTTP URL in a ``... on http://HOST:PORT ...`` ready line."""
    return line.split(" on ", 1)[1].split()[0]


@dataclass
class Edge:
    """A server subprocess and the HTTP URL it serves on."""

    process: subprocess.Popen[str]
    url: str
    stop_timeout_s: float = 10.0

    def stop(self) -> None:
        stop_process(self.process, self.stop_timeout_s)
        if self.process.stdout is not None:
            self.process.stdout.close()


def launch_http(cmd: list[str], what: str = "edge", *, stop_timeout_s: float = 10.0) -> Edge:
    """Start a server that prints ``... on http://...`` once it accepts connections."""
    process, line = launch(cmd, lambda text: " on http://" in text, what)
    return Edge(process=process, url=serving_url(line), stop_timeout_s=stop_timeout_s)


def sciot_serve(*flags: str, stop_timeout_s: float = 10.0) -> Edge:
    """``python -m sciot serve --port 0 <flags>``: the edge as a user runs it."""
    cmd = [sys.executable, "-m", "sciot", "serve", "--port", "0", *flags]
    return launch_http(cmd, stop_timeout_s=stop_timeout_s)
