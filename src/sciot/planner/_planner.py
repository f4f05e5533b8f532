"""The planner: one policy, one objective, and a :class:`DeviceState` per device.

It is sans-I/O: callers feed observations and the current time in, and get decisions out. Each
device gets its own estimators and its own random generator, seeded from the planner's seed and
the device id, so a device's decisions do not depend on how other devices' requests interleave.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping

import numpy as np

from sciot.errors import PlannerError
from sciot.planner._decision import Decision
from sciot.planner._policies import Policy, SciotPolicy, make_policy
from sciot.planner._space import Constraints, Objective, SplitSpace
from sciot.planner._state import DeviceState


class Planner:
    """Chooses the cut for each request of each device.

    >>> space = SplitSpace(num_ops=2, crossing_bytes=(1000, 10, 0), result_bytes=4)
    >>> planner = Planner(space, "fixed:1")
    >>> planner.decide("cam-1", now_s=0.0).cut
    1
    """

    def __init__(
        self,
        space: SplitSpace,
        policy: Policy | str = "adaptive",
        *,
        objective: Objective | None = None,
        constraints: Constraints | None = None,
        seed: int = 0,
        alpha: float = 0.1,
        prior_bytes_per_s: float = 1e6,
    ) -> None:
        if not isinstance(space, SplitSpace):
            raise PlannerError(f"the planner needs a SplitSpace, got {type(space).__name__}")
        self.space = space
        self.policy: Policy = make_policy(policy, seed=seed) if isinstance(policy, str) else policy
        self.objective = objective or Objective.latency()
        self.constraints = constraints or Constraints()
        self.seed = seed
        self._alpha = alpha
        self._prior_bytes_per_s = prior_bytes_per_s
        self._states: dict[str, DeviceState] = {}

    def state(self, device_id: str) -> DeviceState:
        """The device's state, created on first use."""
        state = self._states.get(device_id)
        if state is None:
            if not isinstance(device_id, str) or not device_id:
                raise PlannerError(f"a device id must be a non-empty string, got {device_id!r}")
            rng = np.random.default_rng([self.seed, zlib.crc32(device_id.encode())])
            state = DeviceState(
                self.space,
                objective=self.objective,
                constraints=self.constraints,
                rng=rng,
                alpha=self._alpha,
                prior_bytes_per_s=self._prior_bytes_per_s,
                track_sciot=isinstance(self.policy, SciotPolicy),
            )
            self._states[device_id] = state
        return state

    def observe_device_ops(
        self, device_id: str, op_seconds: Mapping[int, float], now_s: float
    ) -> None:
        """Per-op times the device measured for the ops it ran (op index -> seconds)."""
        self.state(device_id).observe_device_ops(op_seconds, _check_time(now_s))

    def observe_edge_ops(
        self, device_id: str, op_seconds: Mapping[int, float], now_s: float
    ) -> None:
        """Per-op times the edge measured for the ops it ran for this device."""
        self.state(device_id).observe_edge_ops(op_seconds, _check_time(now_s))

    def observe_edge_wait(self, device_id: str, seconds: float) -> None:
        """How long one of this device's offloaded requests waited for the edge's executor."""
        self.state(device_id).observe_edge_wait(seconds)

    def observe_transfer(
        self,
        device_id: str,
        *,
        uplink_bytes: int,
        downlink_bytes: int,
        seconds: float,
        now_s: float,
        transport: str | None = None,
    ) -> None:
        """Network time of one request (round trip minus edge compute) and its bytes.

        Device-only requests should report their small result report too: transfers of very
        different sizes are what separates bandwidth from round-trip time. ``transport``
        names the link the exchange went over (each has its own estimates; default: the
        device's current one) and becomes the device's current transport.
        """
        self.state(device_id).observe_transfer(
            uplink_bytes=uplink_bytes,
            downlink_bytes=downlink_bytes,
            seconds=seconds,
            now_s=_check_time(now_s),
            transport=None if transport is None else _check_transport(transport),
        )

    def use_transport(self, device_id: str, transport: str) -> None:
        """The device now talks over ``transport``: decide with that link's estimates."""
        self.state(device_id).use_transport(_check_transport(transport))

    def observe_latency(self, device_id: str, cut: int, seconds: float, now_s: float) -> None:
        """End-to-end latency of one request at ``cut`` (device + edge + network)."""
        self.state(device_id).observe_latency(cut, seconds, _check_time(now_s))

    def observe_reachable(self, device_id: str) -> None:
        """A message from the device arrived: whatever backoff an outage set is over."""
        self.state(device_id).observe_reachable()

    def observe_failure(self, device_id: str, now_s: float) -> None:
        """The device could not reach the edge (timeout, refused): back off offloading."""
        self.state(device_id).observe_failure(_check_time(now_s))

    def decide(self, device_id: str, now_s: float) -> Decision:
        state = self.state(device_id)
        decision = self.policy.decide(state, _check_time(now_s))
        if decision.probe:
            state.last_probe_request = state.requests
        state.requests += 1
        return decision

    def count_inferences(self, device_id: str, count: int) -> None:
        """``count`` inferences ran without a decision of their own (a device-only batch):
        the gaps between probes count inferences, so a batch moves them on."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise PlannerError(f"an inference count must be an integer >= 0, got {count!r}")
        self.state(device_id).requests += count

    def forget(self, device_id: str) -> None:
        """Drop everything known about a device (it left, or was re-flashed)."""
        self._states.pop(device_id, None)

    def devices(self) -> tuple[str, ...]:
        return tuple(self._states)


def _check_transport(transport: str) -> str:
    if not isinstance(transport, str) or len(transport) > 32:
        raise PlannerError(f"a transport must be a short name such as 'tcp', got {transport!r}")
    return transport


def _check_time(now_s: float) -> float:
    if not isinstance(now_s, int | float) or not math.isfinite(now_s):
        raise PlannerError(f"now_s must be a finite number of seconds, got {now_s!r}")
    return float(now_s)


__all__ = ["Planner"]
