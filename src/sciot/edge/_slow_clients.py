"""HTTP connections that read too slowly are closed: slow-loris and slow bodies.

uvicorn times out idle keep-alive connections but not a request whose headers or body trickle
in, so 200 slow bodies once held 800 MiB and a connection sending a header byte a minute was
never closed. :func:`guarded_protocol` derives uvicorn's HTTP protocol class (httptools or
h11, whichever it picked) with two bounds, counted from a request's first byte:

- ``read_timeout_s``: a request must be read whole (headers and body) within it, else the
  connection is closed;
- ``max_unfinished_bytes``: the bytes held by all requests not yet read whole, across every
  connection; the connection whose bytes would exceed it is closed.

WebSocket connections leave the protocol when upgraded, so neither bound applies to them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar, cast


class _Unfinished:
    """Bytes held by requests not yet read whole, shared by every guarded connection."""

    total = 0


def guarded_protocol(
    base: type[asyncio.Protocol], *, read_timeout_s: float, max_unfinished_bytes: int
) -> type[asyncio.Protocol]:
    """``base`` with the two read bounds of this module (see there)."""
    held = _Unfinished()
    proto_base = cast(Any, base)

    class Guarded(proto_base):  # type: ignore[misc, valid-type]
        unfinished: ClassVar[_Unfinished] = held

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self._began_s: float | None = time.monotonic()
            self._held = 0
            self._timer: asyncio.TimerHandle | None = None
            self._arm(read_timeout_s)

        def data_received(self, data: bytes) -> None:
            if self._began_s is None and not self._serving():
                self._began_s = time.monotonic()  # a new request's first byte
                if self._timer is None:
                    self._arm(read_timeout_s)
            super().data_received(data)
            if self.transport.get_protocol() is not self or self._serving():
                self._release()  # read whole (or upgraded to a WebSocket)
                return
            if self._began_s is not None:
                self._held += len(data)
                held.total += len(data)
                if held.total > max_unfinished_bytes:
                    self._release()
                    self.transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            self._release()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            super().connection_lost(exc)

        def _serving(self) -> bool:
            """Whether the current request was read whole and awaits or gets its response."""
            cycle = getattr(self, "cycle", None)
            return cycle is not None and not cycle.response_complete and not cycle.more_body

        def _release(self) -> None:
            held.total -= self._held
            self._held = 0
            self._began_s = None

        def _arm(self, delay_s: float) -> None:
            self._timer = asyncio.get_running_loop().call_later(delay_s, self._expired)

        def _expired(self) -> None:
            self._timer = None
            if self.transport.is_closing() or self.transport.get_protocol() is not self:
                return
            if self._began_s is None:
                return
            waited_s = time.monotonic() - self._began_s
            if waited_s >= read_timeout_s:
                self._release()
                self.transport.close()
            else:
                self._arm(read_timeout_s - waited_s)

    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{base.__name__}"
    return cast(type[asyncio.Protocol], Guarded)


__all__ = ["guarded_protocol"]
