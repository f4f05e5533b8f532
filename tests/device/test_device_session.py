"""The sans-I/O session state machine and its backoff, driven by plain events and clocks."""

from __future__ import annotations

import numpy as np
import pytest

from sciot.device import (
    TRANSITIONS,
    Action,
    Backoff,
    Session,
    SessionEvent,
    SessionProtocolError,
    SessionState,
)


def _session(jitter: float = 0.0) -> Session:
    return Session(
        backoff=Backoff(initial_s=1.0, max_s=8.0, factor=2.0, jitter=jitter),
        rng=np.random.default_rng(0),
    )


def test_starts_offline_and_asks_to_register() -> None:
    session = _session()
    assert session.state is SessionState.OFFLINE
    assert session.next_action(0.0) is Action.REGISTER
    session.handle(SessionEvent.REGISTERED, 0.0)
    assert session.next_action(0.0) is Action.CALL


def test_failure_backs_off_then_retries_registration() -> None:
    session = _session()
    session.handle(SessionEvent.REGISTERED, 0.0)
    session.handle(SessionEvent.CALL_FAILED, 10.0)
    assert session.state is SessionState.BACKOFF
    # While backing off the device runs locally and does not touch the network.
    assert session.next_action(10.5) is Action.LOCAL
    assert session.seconds_until_retry(10.5) == pytest.approx(0.5)
    assert session.next_action(11.0) is Action.REGISTER
    assert session.state is SessionState.OFFLINE


def test_backoff_grows_exponentially_up_to_max() -> None:
    session = _session()
    waits = []
    now_s = 0.0
    for _ in range(6):
        assert session.next_action(now_s) is Action.REGISTER
        session.handle(SessionEvent.CALL_FAILED, now_s)
        waits.append(session.retry_at_s - now_s)
        now_s = session.retry_at_s
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    session.next_action(now_s)
    session.handle(SessionEvent.REGISTERED, now_s)
    assert session.failures == 0
    session.handle(SessionEvent.CALL_FAILED, now_s)
    assert session.retry_at_s - now_s == 1.0


def test_jitter_shortens_within_bounds_and_is_seeded() -> None:
    backoff = Backoff(initial_s=1.0, max_s=100.0, factor=2.0, jitter=0.5)
    first = [backoff.delay_s(n, np.random.default_rng(3)) for n in range(1, 6)]
    second = [backoff.delay_s(n, np.random.default_rng(3)) for n in range(1, 6)]
    assert first == second
    for n, wait in enumerate(first, start=1):
        assert 0.5 * 2 ** (n - 1) <= wait <= 2 ** (n - 1)


def test_very_long_outage_does_not_overflow() -> None:
    assert Backoff(initial_s=1.0, max_s=30.0, factor=10.0).delay_s(10_000) == 30.0


def test_forgotten_device_registers_again() -> None:
    session = _session()
    session.handle(SessionEvent.REGISTERED, 0.0)
    session.handle(SessionEvent.FORGOTTEN, 1.0)
    assert session.next_action(1.0) is Action.REGISTER


@pytest.mark.parametrize("state", list(SessionState))
@pytest.mark.parametrize("event", list(SessionEvent))
def test_every_pair_follows_the_table(state: SessionState, event: SessionEvent) -> None:
    session = _session()
    session.state = state
    expected = TRANSITIONS.get((state, event))
    if expected is None:
        with pytest.raises(SessionProtocolError, match=str(event)):
            session.handle(event, 0.0)
        assert session.state is state
    else:
        assert session.handle(event, 0.0) is expected


def test_every_state_is_reachable_and_left() -> None:
    sources = {state for state, _ in TRANSITIONS}
    targets = set(TRANSITIONS.values())
    assert sources == set(SessionState)
    assert targets == set(SessionState)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial_s": 0.0},
        {"initial_s": 2.0, "max_s": 1.0},
        {"factor": 0.5},
        {"jitter": 1.0},
    ],
)
def test_backoff_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


def test_retry_now_ends_the_wait_early() -> None:
    session = _session()
    session.handle(SessionEvent.CALL_FAILED, 0.0)
    assert session.next_action(0.1) is Action.LOCAL
    session.retry_now(0.1)
    assert session.next_action(0.1) is Action.REGISTER
