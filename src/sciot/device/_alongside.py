"""A probe sent alongside a device-only inference, on a thread of its own.

The planner asks a device-only device to probe a split cut now and then, to see whether the
link or the edge has become worth it. Run in place of a local inference, that probe costs the
request its whole detour (on a cellular uplink, ~50-200 ms on top of a 43 ms model). A device
that computes the whole model anyway needs no detour: the op by op run of its next inference
passes the cut's crossing tensors, which go to the edge as a measurement while the device
keeps its own result (``sciot.planner.runs_alongside``). :class:`ProbeAlongside` makes that
round trip off the inference path; the client collects its reply between two inferences, so
the session, the cut and the statistics are only ever touched by the client's own thread.
"""

from __future__ import annotations

import threading

from sciot.device._exchange import CallFailed, Exchange, RoundTrip, describe
from sciot.wire import InferRequest, InferResponse, TensorEncoding


class ProbeAlongside:
    """One probe's round trip, started at once; :meth:`outcome` once it is :attr:`done`."""

    def __init__(self, exchange: Exchange, request: InferRequest, encoding: TensorEncoding) -> None:
        self.request = request
        self._exchange = exchange
        self._encoding = encoding
        self._result: RoundTrip | CallFailed | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"sciot-probe-{request.device_id}", daemon=True
        )
        self._thread.start()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the reply (or the failure); whether it came."""
        return self._done.wait(timeout_s)

    def _run(self) -> None:
        try:
            self._result = self._exchange.round_trip(self.request, self._encoding)
        except CallFailed as exc:
            self._result = exc
        except Exception as exc:  # a bug must not die silently on a background thread
            self._result = CallFailed(f"probe at cut {self.request.cut} failed: {exc!r}")
        finally:
            self._done.set()

    def outcome(self) -> tuple[RoundTrip, InferResponse] | CallFailed:
        """The round trip and its reply, or why there is none (also for a reply that does
        not answer this probe)."""
        result = self._result
        if result is None:
            return CallFailed(f"probe at cut {self.request.cut} still in flight")
        if isinstance(result, CallFailed):
            return result
        reply = result.reply
        if (
            not isinstance(reply, InferResponse)
            or reply.seq != self.request.seq
            or reply.cut != self.request.cut
        ):
            return CallFailed(
                f"unexpected reply to the probe at cut {self.request.cut}: {describe(reply)}"
            )
        return result, reply


__all__ = ["ProbeAlongside"]
