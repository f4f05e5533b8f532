"""The child side of the LiteRT sandbox: runs models the parent has not trusted yet.

Started by :mod:`sciot.runtime._sandbox` as ``python -m sciot.runtime._sandbox_worker``. It
reads length-prefixed pickled requests on stdin and writes replies on what was stdout; the
real file descriptor 1 is pointed at stderr first, so anything native code prints can never
corrupt the replies. If LiteRT aborts or segfaults here, only this process dies; the parent
sees the pipe close, names the model or cut that did it, and starts a fresh worker.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import struct
import sys
from typing import IO, Any

import numpy as np

_HEADER = struct.Struct("<Q")


def read_message(stream: IO[bytes]) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    return pickle.loads(stream.read(size))


def write_message(stream: IO[bytes], message: Any) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


def digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _probe(data: bytes, num_threads: int) -> tuple[str, str | None]:
    """Build, allocate and run once on zeros. Only a failure to build counts as an error:
    zeros are not valid input for every segment (a tail reading a shape tensor), so a
    failed run on them says nothing about real inputs; a crash while running still shows."""
    from sciot.runtime._executor import SegmentExecutor
    from sciot.runtime._feeds import zero_feeds

    try:
        executor = SegmentExecutor(data, num_threads=num_threads, sandboxed=False)
    except Exception as exc:  # every failure is a reason to report, not to die on
        return "error", _one_line(exc)
    with contextlib.suppress(Exception):
        executor.run(zero_feeds(executor.inputs))
    return "ok", None


def _check(out: IO[bytes], data: bytes, cuts: list[int], seeds: list[int]) -> None:
    """Reply ("cut", k, reason, digests) per cut, then ("done",); reason None means exact."""
    from sciot.model import load_model, split_model
    from sciot.runtime._executor import SegmentExecutor
    from sciot.runtime._feeds import random_feeds

    try:
        graph = load_model(data)
        full = SegmentExecutor(data, sandboxed=False)
        feeds = [random_feeds(graph.inputs, seed) for seed in seeds]
        expected = [full.run(f) for f in feeds]
    except Exception as exc:
        write_message(out, ("error", _one_line(exc)))
        return
    write_message(out, ("ready",))
    for k in cuts:
        write_message(out, ("start", k))
        try:
            split = split_model(graph, k)
            head = SegmentExecutor(split.head, sandboxed=False) if split.head else None
            tail = SegmentExecutor(split.tail, sandboxed=False) if split.tail else None
            reason = None
            for f, want in zip(feeds, expected, strict=True):
                mid = head.run(f) if head is not None else f
                got = tail.run(mid) if tail is not None else mid
                reason = _difference(want, got)
                if reason is not None:
                    break
            halves = [h for h in (split.head, split.tail) if h is not None]
            write_message(out, ("cut", k, reason, [digest(h) for h in halves]))
        except Exception as exc:
            write_message(out, ("cut", k, _one_line(exc), []))
    write_message(out, ("done",))


def _difference(want: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> str | None:
    for name, expected in want.items():
        actual = got.get(name)
        if actual is None:
            return f"the tail does not produce output {name!r}"
        if actual.dtype != expected.dtype or actual.shape != expected.shape:
            return f"output {name!r} comes out as {actual.dtype}{list(actual.shape)}"
        if not np.array_equal(actual, expected, equal_nan=expected.dtype.kind == "f"):
            return f"head then tail differs from the full model in output {name!r}"
    return None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def main() -> None:
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    stdin = sys.stdin.buffer
    while True:
        request = read_message(stdin)
        if request is None:
            return
        kind = request[0]
        if kind == "probe":
            write_message(out, _probe(request[1], request[2]))
        elif kind == "check":
            _check(out, request[1], request[2], request[3])
        else:
            write_message(out, ("error", f"unknown request {kind!r}"))


if __name__ == "__main__":
    main()
