"""Flower's deployment engine on this machine: a SuperLink and SuperNodes as real processes.

This is the path to a real fleet: the same SuperNode command runs on each device with
``--superlink HOST:PORT``, and the same app is submitted with ``flwr run``. Here every
address is on loopback (ports picked free), each process starts in its own session so it and
the app processes it spawns stop together, and the run's output directory is watched for
per-round rows (progress), ``summary.json`` (done) or ``error.txt`` (failed).

The Flower app handed to ``flwr run`` is a generated ``pyproject.toml`` whose components
point at :mod:`sciot.federated._apps` (installed alongside Flower, so nothing is installed
at run time) and whose run config holds the run's settings.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO

from sciot.errors import ConfigError, TransportError
from sciot.federated._metrics import RoundMetrics, read_metrics
from sciot.federated._results import (
    ERROR_FILE,
    SUMMARY_FILE,
    FederatedRunError,
    RunResult,
    read_result,
    run_failure,
)
from sciot.federated._settings import FederatedSettings

Progress = Callable[[RoundMetrics], None]
_START_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 10.0
_POLL_S = 0.5


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tool(name: str) -> str:
    """A Flower executable installed beside this Python (the federated environment's)."""
    path = Path(sys.executable).parent / name
    if not path.is_file():
        raise ConfigError(
            f"{name} not found beside {sys.executable}; install the federated extra "
            "(pip install 'sciot[federated]') in this environment"
        )
    return str(path)


class LocalFederation:
    """A SuperLink and ``nodes`` SuperNodes on loopback; a context manager that stops them."""

    def __init__(self, work_dir: str | Path, nodes: int) -> None:
        if nodes < 1:
            raise ConfigError(f"a federation needs at least one SuperNode, got {nodes}")
        self.work_dir = Path(work_dir).resolve()
        self.nodes = nodes
        self.flwr_home = self.work_dir / "flwr-home"
        self.logs = self.work_dir / "logs"
        self.serverappio_port, self.fleet_port, self.control_port = (
            free_port(),
            free_port(),
            free_port(),
        )
        self.superlink: subprocess.Popen[bytes] | None = None
        self.supernodes: list[subprocess.Popen[bytes]] = []
        self._log_files: list[IO[bytes]] = []

    @property
    def env(self) -> dict[str, str]:
        # The SuperLink and SuperNodes start Flower's other executables by name.
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        return {**os.environ, "FLWR_HOME": str(self.flwr_home), "PATH": path}

    def __enter__(self) -> LocalFederation:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        """Start the SuperLink, wait for its control API, then start the SuperNodes."""
        self.flwr_home.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.flwr_home / "config.toml").write_text(
            '[superlink]\ndefault = "local"\n\n[superlink.local]\n'
            f'address = "127.0.0.1:{self.control_port}"\ninsecure = true\n'
        )
        self.superlink = self._spawn(
            "superlink",
            [
                _tool("flower-superlink"),
                "--insecure",
                "--disable-runtime-dependency-installation",
                f"--serverappio-api-address=127.0.0.1:{self.serverappio_port}",
                f"--fleet-api-address=127.0.0.1:{self.fleet_port}",
                f"--control-api-address=127.0.0.1:{self.control_port}",
            ],
        )
        for port in (self.control_port, self.fleet_port):
            _wait_for_port(port, self.superlink, self.logs / "superlink.log")
        for k in range(self.nodes):
            self.supernodes.append(
                self._spawn(
                    f"supernode-{k}",
                    [
                        _tool("flower-supernode"),
                        "--insecure",
                        f"--superlink=127.0.0.1:{self.fleet_port}",
                        f"--node-config=partition-id={k} num-partitions={self.nodes}",
                        f"--clientappio-api-address=127.0.0.1:{free_port()}",
                    ],
                )
            )

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        self._log_files.append(log)
        return subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            cwd=self.work_dir,
            start_new_session=True,
        )

    def submit(self, settings: FederatedSettings) -> str:
        """Write the Flower app for ``settings`` and start it with ``flwr run``; the run id."""
        app_dir = write_app(self.work_dir / "app", settings)
        try:
            done = subprocess.run(
                [_tool("flwr"), "run", str(app_dir), "local"],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=_START_TIMEOUT_S * 2,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise TransportError(
                f"flwr run did not reach the SuperLink on 127.0.0.1:{self.control_port}"
            ) from exc
        found = re.search(r"started run (\d+)", done.stdout)
        if done.returncode != 0 or found is None:
            self.check_alive()
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise FederatedRunError(f"flwr run failed (exit {done.returncode}): {last[0]}")
        return found.group(1)

    def stop_node(self, k: int) -> None:
        """Stop SuperNode ``k`` and its ClientApp processes, as a device that goes away."""
        _stop(self.supernodes[k])

    def check_alive(self) -> None:
        if self.superlink is not None and self.superlink.poll() is not None:
            raise TransportError(
                f"the SuperLink exited with code {self.superlink.returncode}; "
                f"see {self.logs / 'superlink.log'}"
            )

    def close(self) -> None:
        """Stop every process this federation started (SuperNodes first), by process group."""
        for proc in [*self.supernodes, *([self.superlink] if self.superlink else [])]:
            _stop(proc)
        for log in self._log_files:
            log.close()
        self._log_files.clear()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process's own session group, SIGKILL it if it lingers, then reap.

    The group also holds the app processes the SuperLink or SuperNode spawned, which can
    outlive their parent; the final SIGKILL of the group makes sure they go too.
    """
    _signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.wait(timeout=_STOP_TIMEOUT_S)
    _signal_group(proc, signal.SIGKILL)


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise TransportError(f"the SuperLink exited with code {proc.returncode}; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise TransportError(f"the SuperLink did not listen on 127.0.0.1:{port} within 60 s")


def write_app(app_dir: Path, settings: FederatedSettings) -> Path:
    """The Flower app directory: a ``pyproject.toml`` naming our apps, run config = settings."""
    import tomli_w

    app_dir.mkdir(parents=True, exist_ok=True)
    project = {
        "build-system": {"requires": ["hatchling"], "build-backend": "hatchling.build"},
        "project": {
            "name": "sciot-federated",
            "version": "1.0.0",
            "description": "sciot federated training of split-computing models",
            "license": "Apache-2.0",
            "dependencies": [],
        },
        "tool": {
            "flwr": {
                "app": {
                    "publisher": "sciot",
                    "components": {
                        "serverapp": "sciot.federated._apps:server_app",
                        "clientapp": "sciot.federated._apps:client_app",
                    },
                    "config": settings.to_run_config(),
                }
            }
        },
    }
    (app_dir / "pyproject.toml").write_text(tomli_w.dumps(project))
    return app_dir


def wait_for_run(
    federation: LocalFederation,
    out_dir: Path,
    *,
    timeout_s: float,
    progress: Progress | None = None,
    on_round: Callable[[RoundMetrics], None] | None = None,
) -> RunResult:
    """Follow the run in ``out_dir`` until it writes its summary or its error (bounded)."""
    deadline = time.monotonic() + timeout_s
    seen = 0
    metrics = out_dir / "metrics.csv"
    while time.monotonic() < deadline:
        if metrics.is_file():
            rows = read_metrics(metrics)
            for row in rows[seen:]:
                for callback in (progress, on_round):
                    if callback is not None:
                        callback(row)
            seen = max(seen, len(rows))
        if (out_dir / SUMMARY_FILE).is_file() or run_failure(out_dir) is not None:
            return read_result(out_dir)
        federation.check_alive()
        time.sleep(_POLL_S)
    raise FederatedRunError(
        f"the federated run did not finish within {timeout_s:.0f} s; logs in {federation.logs}"
    )


def run_deployment_engine(
    settings: FederatedSettings,
    *,
    work_dir: str | Path | None = None,
    timeout_s: float = 1800.0,
    progress: Progress | None = None,
    on_round: Callable[[RoundMetrics], None] | None = None,
) -> RunResult:
    """Start a local SuperLink and one SuperNode per client, run, then stop them all."""
    out = settings.out_path.resolve()
    settings = settings.with_out_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in (SUMMARY_FILE, ERROR_FILE, "metrics.csv"):
        (out / stale).unlink(missing_ok=True)
    with LocalFederation(work_dir or out / "deployment", settings.clients) as federation:
        federation.submit(settings)
        return wait_for_run(
            federation, out, timeout_s=timeout_s, progress=progress, on_round=on_round
        )
