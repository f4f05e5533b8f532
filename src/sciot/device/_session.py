"""The device's session with its edge as a sans-I/O state machine.

The session never opens a socket, sleeps or reads a clock: the driver (:class:`DeviceClient`)
asks :meth:`Session.next_action` what to do at ``now_s``, performs it, and reports what
happened with :meth:`Session.handle`. All states and transitions sit in one table,
:data:`TRANSITIONS`, so the documentation can draw the diagram from it and tests can walk it.

- ``offline``: not registered (at start, or after the edge forgot us); the next action is to
  register.
- ``registered``: steady state; every split inference is one round trip to the edge, and
  device-only inferences are reported to it in periodic batches.
- ``backoff``: a call failed; until ``retry_at_s`` the device runs everything locally without
  touching the network, so a dead edge is not hammered. Each consecutive failure lengthens the
  wait exponentially (with seeded jitter, so a fleet does not reconnect in lockstep).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from sciot.errors import LocalProtocolError


class SessionState(enum.StrEnum):
    OFFLINE = "offline"
    REGISTERED = "registered"
    BACKOFF = "backoff"


class SessionEvent(enum.StrEnum):
    REGISTERED = "registered"
    """The edge accepted our registration."""
    CALL_OK = "call_ok"
    """A round trip succeeded."""
    CALL_FAILED = "call_failed"
    """A call timed out, the edge was unreachable, or it answered with an error."""
    FORGOTTEN = "forgotten"
    """The edge answered but no longer knows this device (it restarted): register again."""
    RETRY_DUE = "retry_due"
    """The backoff wait is over."""


class Action(enum.StrEnum):
    """What the driver should do next."""

    REGISTER = "register"
    CALL = "call"
    LOCAL = "local"


TRANSITIONS: Mapping[tuple[SessionState, SessionEvent], SessionState] = MappingProxyType(
    {
        (SessionState.OFFLINE, SessionEvent.REGISTERED): SessionState.REGISTERED,
        (SessionState.OFFLINE, SessionEvent.CALL_FAILED): SessionState.BACKOFF,
        (SessionState.REGISTERED, SessionEvent.CALL_OK): SessionState.REGISTERED,
        (SessionState.REGISTERED, SessionEvent.CALL_FAILED): SessionState.BACKOFF,
        (SessionState.REGISTERED, SessionEvent.FORGOTTEN): SessionState.OFFLINE,
        (SessionState.BACKOFF, SessionEvent.RETRY_DUE): SessionState.OFFLINE,
    }
)
"""Every legal (state, event) -> next state; anything else is a driver bug."""

_ACTIONS: Mapping[SessionState, Action] = MappingProxyType(
    {
        SessionState.OFFLINE: Action.REGISTER,
        SessionState.REGISTERED: Action.CALL,
        SessionState.BACKOFF: Action.LOCAL,
    }
)


class SessionProtocolError(LocalProtocolError):
    """The driver reported an event the current state cannot take (a bug in the driver)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """Exponential backoff policy; pure, so tests and simulations can evaluate it directly."""

    initial_s: float = 0.5
    max_s: float = 30.0
    factor: float = 2.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.max_s:
            raise ValueError(f"need 0 < initial_s <= max_s, got {self.initial_s}, {self.max_s}")
        if self.factor < 1.0:
            raise ValueError(f"factor must be >= 1, got {self.factor}")
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError(f"jitter must be in [0, 1), got {self.jitter}")

    def delay_s(self, failures: int, rng: np.random.Generator | None = None) -> float:
        """The wait after ``failures`` consecutive failures (``failures >= 1``)."""
        exponent = max(failures - 1, 0)
        # Cap the exponent so factor ** exponent cannot overflow after a very long outage.
        base_s = min(self.max_s, self.initial_s * self.factor ** min(exponent, 64))
        if rng is None or self.jitter == 0.0:
            return base_s
        return float(base_s * (1.0 - self.jitter * rng.random()))


@dataclass(slots=True, kw_only=True)
class Session:
    """One device's view of its session; mutable, driven by :meth:`handle`."""

    backoff: Backoff = field(default_factory=Backoff)
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    state: SessionState = SessionState.OFFLINE
    failures: int = 0
    retry_at_s: float = 0.0
    transitions: int = 0

    def next_action(self, now_s: float) -> Action:
        """What to do at ``now_s``; leaves ``backoff`` by itself once the wait is over."""
        if self.state is SessionState.BACKOFF and now_s >= self.retry_at_s:
            self.handle(SessionEvent.RETRY_DUE, now_s)
        return _ACTIONS[self.state]

    def handle(self, event: SessionEvent, now_s: float) -> SessionState:
        """Apply ``event`` at ``now_s`` and return the new state."""
        try:
            next_state = TRANSITIONS[(self.state, event)]
        except KeyError:
            raise SessionProtocolError(
                f"session in state '{self.state}' cannot take event '{event}'"
            ) from None
        if event is SessionEvent.CALL_FAILED:
            self.failures += 1
            self.retry_at_s = now_s + self.backoff.delay_s(self.failures, self.rng)
        elif event in (SessionEvent.REGISTERED, SessionEvent.CALL_OK):
            self.failures = 0
        self.state = next_state
        self.transitions += 1
        return next_state

    def retry_now(self, now_s: float) -> None:
        """End a backoff wait early (one deliberate attempt, such as a final upload)."""
        if self.state is SessionState.BACKOFF:
            self.retry_at_s = min(self.retry_at_s, now_s)

    def seconds_until_retry(self, now_s: float) -> float:
        """How long the device stays local-only (0 when not in backoff)."""
        if self.state is not SessionState.BACKOFF:
            return 0.0
        return max(0.0, self.retry_at_s - now_s)


__all__ = [
    "TRANSITIONS",
    "Action",
    "Backoff",
    "Session",
    "SessionEvent",
    "SessionProtocolError",
    "SessionState",
]
