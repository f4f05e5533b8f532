"""Running untrusted models in a child process first, so LiteRT can never crash ours.

LiteRT is native code: on some malformed or unusual models it aborts or segfaults, and takes
the whole Python process with it. So before a model's bytes are built into an interpreter
here, one long-lived worker process (:mod:`sciot.runtime._sandbox_worker`) builds and runs
them; only bytes that came through are trusted, by SHA-256, for the rest of the process. The
same worker checks every cut of a model (head then tail equals the full model); when it dies
the cut it was on is reported as crashing and a fresh worker carries on with the others.

One worker, reused, keeps the cost to one process start per process plus one interpreter
build per distinct model; a lock makes it safe to call from any thread.
"""

from __future__ import annotations

import atexit
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from sciot.errors import ModelError
from sciot.runtime._sandbox_worker import _HEADER, digest

STEP_TIMEOUT_S = 300.0
_BANNER = "Created TensorFlow Lite XNNPACK delegate"

_lock = threading.RLock()
_trusted: set[bytes] = set()
_worker: _Worker | None = None


class _WorkerDied(Exception):
    """The worker exited (crashed) or stopped answering; the message says how."""


class _Worker:
    __slots__ = ("_errors", "_process", "pid_of_parent")

    def __init__(self) -> None:
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_root, env.get("PYTHONPATH", "")) if p
        )
        # Kept open for the worker's lifetime (closed in close()), so no context manager.
        self._errors: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self._process = subprocess.Popen(
            [sys.executable, "-m", "sciot.runtime._sandbox_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._errors,
            env=env,
            bufsize=0,
            # Its own session: a Ctrl-C meant for us must not kill it mid-reply (we stop it).
            start_new_session=True,
        )
        self.pid_of_parent = os.getpid()

    def send(self, message: Any) -> None:
        import pickle

        payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        stdin = self._process.stdin
        assert stdin is not None
        try:
            stdin.write(_HEADER.pack(len(payload)) + payload)
            stdin.flush()
        except (BrokenPipeError, OSError):
            raise _WorkerDied(self._death()) from None

    def receive(self, timeout_s: float) -> Any:
        import pickle

        deadline = time.monotonic() + timeout_s
        (size,) = _HEADER.unpack(self._read(_HEADER.size, deadline))
        return pickle.loads(self._read(size, deadline))

    def _read(self, size: int, deadline: float) -> bytes:
        stdout = self._process.stdout
        assert stdout is not None
        chunks: list[bytes] = []
        left = size
        while left > 0:
            wait = deadline - time.monotonic()
            ready, _, _ = select.select([stdout], [], [], max(wait, 0.0))
            if not ready:
                self.close()
                raise _WorkerDied(f"LiteRT did not finish within {STEP_TIMEOUT_S:.0f} s")
            chunk = os.read(stdout.fileno(), min(left, 1 << 20))
            if not chunk:
                raise _WorkerDied(self._death())
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _death(self) -> str:
        """Why the worker died: its signal or exit code, and the last thing it printed."""
        try:
            code = self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.close()
            code = self._process.returncode
        how = (
            f"signal {signal.Signals(-code).name}"
            if code is not None and code < 0
            else f"exit code {code}"
        )
        last = self._last_error_line()
        return f"LiteRT crashed ({how}{': ' + last if last else ''})"

    def _last_error_line(self) -> str:
        self._errors.seek(0, os.SEEK_END)
        size = self._errors.tell()
        self._errors.seek(max(0, size - 4096))
        lines = self._errors.read().decode("utf-8", errors="replace").splitlines()
        useful = [line.strip() for line in lines if line.strip() and _BANNER not in line]
        return useful[-1][:200] if useful else ""

    def alive(self) -> bool:
        return self._process.poll() is None

    def close(self) -> None:
        process = self._process
        if process.poll() is None:
            if process.stdin is not None:
                process.stdin.close()
            try:
                process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None and not stream.closed:
                stream.close()
        self._errors.close()


def _current_worker() -> _Worker:
    """The live worker, started (again) if there is none, it was forked from another process,
    or it died since the last request (so an earlier death is never blamed on a new model)."""
    global _worker
    if _worker is not None and _worker.pid_of_parent == os.getpid() and not _worker.alive():
        _discard_worker()
    if _worker is None or _worker.pid_of_parent != os.getpid():
        _worker = _Worker()
    return _worker


def _discard_worker() -> None:
    global _worker
    if _worker is not None and _worker.pid_of_parent == os.getpid():
        _worker.close()
    _worker = None


atexit.register(_discard_worker)


def is_trusted(data: bytes) -> bool:
    return digest(data) in _trusted


def require_runnable(data: bytes, num_threads: int) -> None:
    """Build and run ``data`` once in the worker; raise ModelError if that fails or crashes."""
    key = digest(data)
    if key in _trusted:
        return
    with _lock:
        if key in _trusted:
            return
        try:
            worker = _current_worker()
            worker.send(("probe", data, num_threads))
            status, reason = worker.receive(STEP_TIMEOUT_S)
        except _WorkerDied as died:
            _discard_worker()
            raise ModelError(f"LiteRT cannot run this model: {died}") from None
        except BaseException:  # interrupted mid-reply: the stream is out of step, start over
            _discard_worker()
            raise
        if status != "ok":
            raise ModelError(f"LiteRT cannot load this model: {reason}")
        _trusted.add(key)


def check_cuts_in_worker(
    data: bytes,
    cuts: Sequence[int],
    seeds: Sequence[int],
    progress: Callable[[int, int], None] | None = None,
) -> dict[int, str | None]:
    """Per cut: None when head then tail runs and equals the full model, else why not.

    ``progress(done, total)`` is called after each cut. Raises ModelError when the full model
    itself cannot run (nothing to compare against).
    """
    results: dict[int, str | None] = {}
    pending = list(cuts)
    restarts = 0
    with _lock:
        while pending:
            run = _CheckRun()
            try:
                worker = _current_worker()
                worker.send(("check", data, pending, list(seeds)))
                run.follow(worker, results, pending, len(cuts), progress)
            except ModelError:
                raise  # the full model failed: the worker said so and is ready for more
            except BaseException as exc:
                _discard_worker()
                if not isinstance(exc, _WorkerDied):
                    raise  # interrupted mid-reply: the stream is out of step, start over
                died = exc
                if not run.ready:
                    raise ModelError(f"LiteRT cannot run this model: {died}") from None
                if run.current is not None:
                    results[run.current] = str(died)
                    pending.remove(run.current)
                else:  # died between cuts: nothing to blame, try the rest again
                    restarts += 1
                    if restarts > 3:
                        raise ModelError(f"LiteRT keeps crashing on this model: {died}") from None
        _trusted.add(digest(data))
    return results


class _CheckRun:
    """What one worker has told us during a check: whether it ran the full model, and the
    cut it is on (the one to blame if it dies)."""

    __slots__ = ("current", "ready")

    def __init__(self) -> None:
        self.ready = False
        self.current: int | None = None

    def follow(
        self,
        worker: _Worker,
        results: dict[int, str | None],
        pending: list[int],
        total: int,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        while True:
            reply = worker.receive(STEP_TIMEOUT_S)
            kind = reply[0]
            if kind == "ready":
                self.ready = True
            elif kind == "start":
                self.current = reply[1]
            elif kind == "cut":
                _, k, reason, digests = reply
                results[k] = reason
                _trusted.update(digests)
                pending.remove(k)
                self.current = None
                if progress is not None:
                    progress(len(results), total)
            elif kind == "error":
                raise ModelError(f"LiteRT cannot run this model: {reply[1]}")
            else:  # done: anything not answered was not checked
                for k in pending:
                    results[k] = "the check ended before reaching this cut"
                pending.clear()
                return
