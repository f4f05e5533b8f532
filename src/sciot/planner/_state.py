"""Everything the planner remembers about one device, and the cost prediction built on it.

A :class:`DeviceState` holds our estimators (per-op EWMA with change and variance detection,
the robust link fit) and, alongside, the plain estimators of the SCIoT baseline (per-layer EMA
with alpha 0.2, bandwidth from the last message), so every policy decides from the same
observations. :func:`predict` turns the state into per-cut device, edge and network times, the
objective's cost and an optimistic (lower-confidence) cost, in one vectorised pass.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sciot.errors import PlannerError
from sciot.planner._estimators import BoolArray, FloatArray, OpTimes, validate_op_seconds
from sciot.planner._link import LinkEstimate, LinkEstimator
from sciot.planner._space import Constraints, Objective, SplitSpace

SCIOT_ALPHA = 0.2


class DeviceState:
    """Per-device observations and bookkeeping; policies read it, only the planner writes it."""

    def __init__(
        self,
        space: SplitSpace,
        *,
        objective: Objective,
        constraints: Constraints,
        rng: np.random.Generator,
        alpha: float = 0.1,
        prior_bytes_per_s: float = 1e6,
        track_sciot: bool = True,
    ) -> None:
        n = space.num_ops
        # The SCIoT baseline's estimators cost a pass over the ops; skip them if unused.
        self.track_sciot = track_sciot
        self.space = space
        self.objective = objective
        self.constraints = constraints
        self.rng = rng
        self.alpha = alpha
        self.request_bytes = space.request_bytes()
        self.allowed = space.allowed_mask()
        self.device = OpTimes(n, alpha=alpha)
        self.edge = OpTimes(n, alpha=alpha)
        self.prior_bytes_per_s = prior_bytes_per_s
        # One link per transport the device has used: TCP to the edge and MQTT through a broker
        # are different paths, so their round trips and bandwidths are learnt apart. Decisions
        # use the link of ``transport``, the one the device used last.
        self.transport = ""
        self.links: dict[str, LinkEstimator] = {
            "": LinkEstimator(prior_bytes_per_s=prior_bytes_per_s)
        }
        self._sciot_bytes_per_s: dict[str, float | None] = {"": None}
        self.sciot_device_s = np.zeros(n)
        self.sciot_edge_s = np.zeros(n)
        self.sciot_device_known = np.zeros(n, dtype=bool)
        self.sciot_edge_known = np.zeros(n, dtype=bool)
        self.requests = 0
        self.last_probe_request = -(10**9)
        self.last_change_request = -(10**9)
        self.down_until_s = -math.inf
        self.failures = 0
        # End-to-end latencies per cut as the edge assembles them (newest last), for policies
        # that learn from the outcome rather than from its parts; ``latency_count`` counts all.
        self.latencies: deque[tuple[int, float, float]] = deque(maxlen=512)
        self.latency_count = 0
        # Per-device memory of policies that need one (keyed by policy name).
        self.policy_data: dict[str, object] = {}
        self._op_sums: _OpSums | None = None
        # What each cut's requests really cost over what the model predicted when the cut was
        # chosen: the model's error where it is used.
        self.expected_s = np.full(n + 1, np.nan)
        self.expected_probe = np.zeros(n + 1, dtype=bool)
        self.residual_s = np.zeros(n + 1)
        self.residual_count = np.zeros(n + 1, dtype=np.int64)
        self.residual_last_s = np.full(n + 1, -math.inf)
        # The edge's mean wait for its executor per offloaded request: a queue delays a
        # request by the same time whatever its cut, so it is no per-op cost.
        self.edge_wait_s = 0.0
        self.edge_wait_count = 0

    @property
    def link(self) -> LinkEstimator:
        """The link estimator of the transport the device used last."""
        return self.links[self.transport]

    @property
    def sciot_bytes_per_s(self) -> float | None:
        """The SCIoT baseline's bandwidth (its last message's) on the current transport."""
        return self._sciot_bytes_per_s[self.transport]

    def use_transport(self, transport: str) -> None:
        """Decide from now on with ``transport``'s link (a new one starts from the prior).

        A switch counts as a change, so exploring policies re-examine the cuts on that link.
        """
        if transport == self.transport:
            return
        unused = self.links[self.transport].estimate(0.0).samples == 0
        if self.transport == "" and unused and transport not in self.links:
            # The first transport named: the unnamed link, which nothing taught yet, is its.
            self.links = {transport: self.links.pop("")}
            self._sciot_bytes_per_s = {transport: self._sciot_bytes_per_s.pop("")}
            self.transport = transport
            return
        if transport not in self.links:
            self.links[transport] = LinkEstimator(prior_bytes_per_s=self.prior_bytes_per_s)
            self._sciot_bytes_per_s[transport] = None
        self.transport = transport
        self.last_change_request = self.requests

    def cached_op_sums(self) -> _OpSums | None:
        """Per-op sums computed since the last per-op observation, if any."""
        return self._op_sums

    def store_op_sums(self, sums: _OpSums) -> None:
        self._op_sums = sums

    def observe_device_ops(self, op_seconds: Mapping[int, float], now_s: float) -> None:
        self._op_sums = None
        self._note_shift(self.device, self.device.update(op_seconds, now_s), op_seconds)
        if self.track_sciot:
            _ema_update(
                self.sciot_device_s, self.sciot_device_known, op_seconds, self.space.num_ops
            )

    def observe_edge_ops(self, op_seconds: Mapping[int, float], now_s: float) -> None:
        self._op_sums = None
        self._note_shift(self.edge, self.edge.update(op_seconds, now_s), op_seconds)
        if self.track_sciot:
            _ema_update(self.sciot_edge_s, self.sciot_edge_known, op_seconds, self.space.num_ops)

    def _note_shift(self, side: OpTimes, shifted: list[int], observed: Mapping[int, float]) -> None:
        """One op jumping is usually a straggler burst; several, and a quarter of those
        observed, is a shift of the whole side (throttling, load) worth re-exploring for. The
        side's ops this request did not run move by the same factor: a device throttles, and
        an edge loads up, as a whole, so the ops past a device's cut (or before an edge's)
        are not left at a level the side has just left."""
        count = len(observed)
        if not shifted or len(shifted) < max(min(2, count), count // 4):
            return
        self.last_change_request = self.requests
        known = np.flatnonzero(side.count > 0)
        unseen = known[~np.isin(known, np.fromiter(observed.keys(), dtype=np.int64))]
        side.scale(unseen, float(np.median(side.shift_ratio[shifted])))

    def observe_transfer(
        self,
        *,
        uplink_bytes: int,
        downlink_bytes: int,
        seconds: float,
        now_s: float,
        transport: str | None = None,
    ) -> None:
        """One exchange's bytes and network time on ``transport`` (default: the current one),
        which becomes the current transport: the newest news about the device's link."""
        for name, value in (("uplink_bytes", uplink_bytes), ("downlink_bytes", downlink_bytes)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise PlannerError(f"{name} must be an integer >= 0, got {value!r}")
        total = int(uplink_bytes) + int(downlink_bytes)
        if transport is not None:
            self.use_transport(transport)
        if self.link.update(total, seconds, now_s):
            self.last_change_request = self.requests
        # SCIoT's estimate: the last message alone, round trip included.
        if total > 0:
            self._sciot_bytes_per_s[self.transport] = total / seconds
        self.failures = 0
        self.down_until_s = -math.inf

    def observe_edge_wait(self, seconds: float) -> None:
        """How long one offloaded request waited for the edge's executor (other devices'
        tails ahead of it in the queue). Added to every offloaded cut's cost as it is: a
        wait spread over the tail's ops like its run time would make a short tail (a late
        cut) look as if it waited less."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise PlannerError(
                f"an edge wait must be a finite number of seconds >= 0, got {seconds}"
            )
        self.edge_wait_count += 1
        weight = max(1.0 / self.edge_wait_count, self.alpha)
        self.edge_wait_s += weight * (seconds - self.edge_wait_s)

    def observe_latency(self, cut: int, seconds: float, now_s: float) -> None:
        """One request's end-to-end latency at ``cut``."""
        self.space.check_cut(cut)
        if not (math.isfinite(seconds) and seconds >= 0):
            raise PlannerError(f"a latency must be a finite number of seconds >= 0, got {seconds}")
        self.latencies.append((int(cut), float(seconds), now_s))
        self.latency_count += 1
        expected = float(self.expected_s[cut])
        if math.isfinite(expected) and expected > 0:
            # Clipped to the prediction's size: one timeout must not stand for the cut's error.
            error = min(max(seconds - expected, -expected), expected)
            count = int(self.residual_count[cut]) + 1
            # An old error says less about now: the longer since the last, the more the new
            # one counts (an error seen as a bandwidth drop began is replaced at its next use).
            age_s = max(0.0, now_s - float(self.residual_last_s[cut]))
            fresh = -math.expm1(-age_s / RESIDUAL_FADE_S)
            # A probe's request replaces an old error but does not dilute a recent one: the
            # error that matters is the one of the requests the cut is chosen for.
            weight = fresh if self.expected_probe[cut] else max(1.0 / count, RESIDUAL_ALPHA, fresh)
            self.residual_s[cut] += weight * (error - self.residual_s[cut])
            self.residual_count[cut] = count
            self.residual_last_s[cut] = now_s

    def note_expected(self, cut: int, model_latency_s: float, *, probe: bool) -> None:
        """The model's latency for ``cut`` (its measured error left out) as a policy chose it,
        and whether as a probe."""
        self.expected_s[cut] = model_latency_s
        self.expected_probe[cut] = probe

    def correction_s(self) -> FloatArray:
        """Per cut, the model's mean error where it has been measured enough (else 0)."""
        return np.where(self.residual_count >= RESIDUAL_MIN_SAMPLES, self.residual_s, 0.0)

    def observe_reachable(self) -> None:
        """A message from the device reached the edge: the link is up, so the backoff ends.
        The failure count stays until a transfer succeeds, so a link that drops again backs
        off longer."""
        self.down_until_s = -math.inf

    def observe_failure(self, now_s: float, *, base_backoff_s: float = 0.5) -> None:
        """The edge could not be reached: avoid offloading for an exponentially growing time."""
        self.failures += 1
        backoff_s = min(base_backoff_s * 2 ** (self.failures - 1), 30.0)
        self.down_until_s = now_s + backoff_s


def _ema_update(
    values: FloatArray, known: BoolArray, op_seconds: Mapping[int, float], num_ops: int
) -> None:
    ops, seconds = validate_op_seconds(op_seconds, num_ops)
    values[ops] = np.where(known[ops], values[ops] + SCIOT_ALPHA * (seconds - values[ops]), seconds)
    known[ops] = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Prediction:
    """Per-cut predictions (arrays of length num_ops + 1) from our estimators."""

    device_s: FloatArray
    edge_s: FloatArray
    network_s: FloatArray
    latency_s: FloatArray
    cost: FloatArray
    latency_lo_s: FloatArray
    cost_lo: FloatArray
    known: BoolArray
    link: LinkEstimate
    device_stale: BoolArray
    edge_stale: BoolArray
    device_unstable: BoolArray
    edge_unstable: BoolArray
    unstable_ops: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())
    stepped_stale: bool = False
    """Whether an op is stale because it stepped up and was avoided since (``step_age_s``)."""
    correction_s: FloatArray | None = None  # what ``calibrate`` added per cut, if asked


@dataclass(frozen=True, slots=True, kw_only=True)
class _OpSums:
    """What a prediction needs from the per-op estimators, up to the current time.

    ``sums[side, q]`` are device prefix sums (side 0, ops before the cut) and edge suffix sums
    (side 1, ops from the cut on) of: mean, squared standard error, never-observed count, and
    the moments ``m^2``, ``m^2 a`` and ``m^2 a^2`` of each op's mean ``m`` and age ``a`` at
    ``ref_s``. The staleness variance at any later time ``ref_s + d`` is then
    ``drift^2 * (d^2 M0 + 2 d M1 + M2)``: three vector operations per decision instead of
    a pass over every op.
    """

    ref_s: float
    sums: FloatArray
    known_op: BoolArray
    last_s: FloatArray
    unstable: BoolArray
    unstable_ops: tuple[tuple[int, ...], tuple[int, ...]]
    stepped: BoolArray


# The model's error per cut: an EWMA of (realised - predicted) over the adaptive policy's
# requests at that cut, applied once this many have been seen; an error this old or older
# counts for little beside a new one.
RESIDUAL_ALPHA = 0.1
RESIDUAL_MIN_SAMPLES = 5
RESIDUAL_FADE_S = 2.0

# An op whose latest detected shift made it this many times slower has stepped: a throttling,
# an overload. Such a change tends to end as abruptly as it began, so while the op is avoided
# its estimate turns stale after ``step_age_s`` rather than ``max_age_s``.
STEP_RATIO = 1.5


def _op_sums(state: DeviceState) -> _OpSums:
    n = state.space.num_ops
    dev, edg = state.device, state.edge
    ewma_se = math.sqrt(state.alpha / (2 - state.alpha))
    mean = np.stack((dev.mean_s, edg.mean_s))
    known_op = np.stack((dev.count > 0, edg.count > 0))
    last_s = np.stack((dev.last_s, edg.last_s))
    ref_s = float(last_s[known_op].max()) if known_op.any() else 0.0
    age_s = np.where(known_op, ref_s - last_s, 0.0)
    unstable = np.stack((dev.unstable(), edg.unstable()))
    se = np.sqrt(np.stack((dev.variance, edg.variance))) * (ewma_se * (1.0 + unstable))
    m = np.where(known_op, mean, 0.0)
    m2 = m * m
    per_op = np.stack(
        (m, np.where(known_op, se * se, 0.0), (~known_op).astype(np.float64), m2, m2 * age_s)
    )
    per_op = np.concatenate((per_op, (per_op[4] * age_s)[None]))
    sums = np.zeros((2, 6, n + 1))
    np.cumsum(per_op[:, 0, :], axis=1, out=sums[0, :, 1:])
    np.cumsum(per_op[:, 1, ::-1], axis=1, out=sums[1, :, n - 1 :: -1])
    unstable_ops = (
        tuple(np.flatnonzero(unstable[0]).tolist()),
        tuple(np.flatnonzero(unstable[1]).tolist()),
    )
    return _OpSums(
        ref_s=ref_s,
        sums=sums,
        known_op=known_op,
        last_s=last_s,
        unstable=unstable,
        unstable_ops=unstable_ops,
        stepped=known_op & (np.stack((dev.shift_ratio, edg.shift_ratio)) >= STEP_RATIO),
    )


def predict(
    state: DeviceState,
    now_s: float,
    *,
    z: float,
    drift_per_s: float,
    max_age_s: float,
    step_age_s: float = math.inf,
    calibrate: bool = False,
) -> Prediction:
    """Mean and optimistic cost of every cut for one device at ``now_s``; an op is stale
    after ``max_age_s`` unobserved, or ``step_age_s`` if it last stepped up (see
    :data:`STEP_RATIO`). ``calibrate`` adds each cut's measured model error
    (:meth:`DeviceState.correction_s`)."""
    n = state.space.num_ops
    cached = state.cached_op_sums()
    if cached is None:
        cached = _op_sums(state)
        state.store_op_sums(cached)
    sums = cached.sums
    d = now_s - cached.ref_s
    variance = sums[:, 1] + drift_per_s**2 * np.maximum(
        0.0, d * d * sums[:, 3] + 2 * d * sums[:, 4] + sums[:, 5]
    )
    device_s, edge_s = sums[0, 0], sums[1, 0]
    step_stale = cached.known_op & cached.stepped & (cached.last_s < now_s - step_age_s)
    stale = step_stale | (cached.known_op & (cached.last_s < now_s - max_age_s))

    link = state.link.estimate(now_s)
    request_bytes = state.request_bytes
    if link.samples > 0:
        network_s = link.network_s(request_bytes)
        if link.identified:
            rel_se = link.rel_spread / math.sqrt(max(1, link.window_samples))
            rtt_lo = link.rtt_s * max(0.0, 1 - z * rel_se)
            slope_lo = 1.0 / (link.bytes_per_s * (1 + drift_per_s * link.bandwidth_age_s))
            # A bound on the mean, as the cost is: the optimistic line times the mean factor.
            network_lo = (rtt_lo + request_bytes * slope_lo) * link.mean_factor
        else:
            network_lo = state.link.optimistic_network_s(request_bytes)
    else:
        network_s = np.zeros(n + 1)
        network_lo = np.zeros(n + 1)
    # Every offloaded cut waits the same for the edge's executor (device-only never does).
    network_s[:n] += state.edge_wait_s
    network_lo[:n] += state.edge_wait_s
    network_s[n] = 0.0
    network_lo[n] = 0.0

    known = (sums[0, 2] == 0) & (sums[1, 2] == 0)
    if link.samples == 0:
        known[:n] = False
    allowed = state.allowed
    correction = state.correction_s() if calibrate else None
    if correction is not None:
        # The error is time nobody modelled: waiting, for an offloaded cut; computing, on
        # device. ``device_s`` is the cached sums' row, so it is copied, not added to.
        network_s[:n] += correction[:n]
        device_s = device_s.copy()
        device_s[n] += correction[n]
    latency_s = device_s + edge_s + network_s
    # The optimistic bound leaves the measured error out: a cut kept out by an error seen in
    # other conditions is still probed, and its next error replaces the old one.
    side_lo = np.maximum(0.0, sums[:, 0] - z * np.sqrt(variance))
    objective = state.objective
    cost = objective.cost(
        device_s=device_s, edge_s=edge_s, network_s=network_s, request_bytes=request_bytes
    )
    cost[~known] = np.inf
    cost_lo = objective.cost(
        device_s=side_lo[0], edge_s=side_lo[1], network_s=network_lo, request_bytes=request_bytes
    )
    # A cut that may not be chosen costs infinitely much and is never "known": every policy
    # that minimises a predicted cost, or picks among known cuts, passes it over.
    known &= allowed
    cost[~allowed] = np.inf
    cost_lo[~allowed] = np.inf
    return Prediction(
        device_s=device_s,
        edge_s=edge_s,
        network_s=network_s,
        latency_s=latency_s,
        cost=cost,
        latency_lo_s=side_lo[0] + side_lo[1] + network_lo,
        cost_lo=cost_lo,
        known=known,
        link=link,
        device_stale=stale[0],
        edge_stale=stale[1],
        stepped_stale=bool(step_stale.any()),
        device_unstable=cached.unstable[0],
        edge_unstable=cached.unstable[1],
        unstable_ops=cached.unstable_ops,
        correction_s=correction,
    )


__all__ = ["SCIOT_ALPHA", "STEP_RATIO", "DeviceState", "Prediction", "predict"]
