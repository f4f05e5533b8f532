"""``sciot serve`` as a subprocess with the raw transports on, for the tests that dial them.

The edge prints its HTTP address on one line and the raw transports' URLs on the next
(``sciot edge: also on tcp://..., udp://..., mqtt://...``); those two lines are read, so a
serve that fails to start ends the read at EOF instead of hanging. It is stopped by PID with
SIGINT, as a user's Ctrl-C would.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RAW_URL = re.compile(r"\b((tcp|udp|mqtt)://[^\s,)]+)")


def raw_urls(lines: list[str]) -> dict[str, str]:
    """Scheme -> URL of every raw transport named in ``serve``'s start-up lines."""
    return {scheme: url for url, scheme in RAW_URL.findall(" ".join(lines))}


@contextmanager
def sciot_serve(tmp_path: Path, *flags: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """Yields the ``sciot serve --port 0 <flags>`` process and its first two stdout lines."""
    cmd = [sys.executable, "-m", "sciot", "serve", "--port", "0", *flags]
    cmd += ["--telemetry", str(tmp_path / "t.sqlite")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(2)]  # bounded: serve exits on error
        yield proc, lines
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
