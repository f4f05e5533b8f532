"""Split policies: every one is an object with ``decide(state, now_s) -> Decision``.

- ``adaptive`` (ours): minimise the objective's predicted cost over every feasible cut, and
  probe another cut only when its optimistic cost could beat the current best (or an estimate
  it would refresh is older than a bound), at most once per ``probe_gap`` requests, or every
  ``urgent_gap`` requests while something is unknown or just changed.
- ``sciot``: SCIoT's published logic, as a baseline (see :class:`SciotPolicy`).
- ``device-only``, ``edge-only``, ``fixed:K``: one cut, always.
- ``oracle``: knows the environment's true expected latency (a callable) and picks its best
  cut per request, or holds the best fixed cut it was given.

Policies hold no per-device data (that lives in :class:`DeviceState`) and no clock; the only
randomness is the state's seeded generator, so the same inputs give the same decisions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from sciot.errors import PlannerError
from sciot.planner._baselines import ExploreGreedyPolicy, LinUcbPolicy, NeurosurgeonPolicy
from sciot.planner._decision import CutCost, Decision, Explanation
from sciot.planner._estimators import FloatArray
from sciot.planner._explain import explained_decision
from sciot.planner._fixed import ExpectedLatency, FixedPolicy, OraclePolicy, best_fixed_cut
from sciot.planner._state import DeviceState, Prediction, predict

POLICY_NAMES = (
    "adaptive",
    "sciot",
    "neurosurgeon",
    "explore-greedy",
    "linucb",
    "device-only",
    "edge-only",
    "fixed:K",
    "oracle",
)


@runtime_checkable
class Policy(Protocol):
    """Chooses a cut for one request of one device."""

    @property
    def name(self) -> str: ...

    def decide(self, state: DeviceState, now_s: float) -> Decision: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class AdaptiveOptions:
    """Knobs of the adaptive policy; the defaults are what the benchmarks and tests use.

    ``z``: width of the optimistic bound in standard errors. ``drift_per_s``: how fast an
    unrefreshed estimate loses credibility (relative standard error per second of age).
    ``max_age_s``: an estimate older than this is stale and gets re-measured;
    ``step_age_s`` instead for an avoided op whose last change was a step up (throttling, an
    overload), which tends to end as abruptly: re-measured every 0.6 s at the plain
    ``probe_gap`` (not the wider gap a costly probe gets), its end is seen within about
    that, ~13 requests of a 48 ms one. ``probe_gap``:
    fewest requests between two probes in steady state; ``urgent_gap`` while a cut is still
    unknown, the bandwidth is not yet separated from the RTT or a change was detected in the
    last ``settle_requests`` requests. ``p_local``: SCIoT's probabilistic all-on-device mode.
    ``calibrate``: add to each cut's cost the model's mean error on this policy's requests
    at that cut (not to the optimistic bound). Choosing the cut whose estimate is lowest picks
    it when its recent samples were luckiest (a tail that waited less than usual), so its
    prediction is low exactly when it is used; the measured error puts that back, and covers
    per-request costs the model has no term for.
    """

    z: float = 2.0
    drift_per_s: float = 0.01
    max_age_s: float = 20.0
    step_age_s: float = 0.6
    probe_gap: int = 10
    urgent_gap: int = 2
    settle_requests: int = 20
    p_local: float = 0.0
    calibrate: bool = True

    def __post_init__(self) -> None:
        if self.z < 0 or self.drift_per_s < 0 or self.max_age_s <= 0 or self.step_age_s <= 0:
            raise PlannerError(
                "adaptive options need z >= 0, drift_per_s >= 0, max_age_s > 0, step_age_s > 0"
            )
        if self.probe_gap < 1 or self.urgent_gap < 1 or self.settle_requests < 0:
            raise PlannerError("adaptive options need probe_gap >= 1 and urgent_gap >= 1")
        _check_probability(self.p_local)


class AdaptivePolicy:
    """Our policy: best predicted cost, with optimistic probing to keep estimates fresh."""

    def __init__(self, options: AdaptiveOptions | None = None) -> None:
        self.options = options or AdaptiveOptions()

    @property
    def name(self) -> str:
        return "adaptive"

    def decide(self, state: DeviceState, now_s: float) -> Decision:
        opts = self.options
        space = state.space
        p = predict(
            state,
            now_s,
            z=opts.z,
            drift_per_s=opts.drift_per_s,
            max_age_s=opts.max_age_s,
            step_age_s=opts.step_age_s,
            calibrate=opts.calibrate,
        )
        if now_s < state.down_until_s:
            return explained_decision(
                self.name, p, space.device_only_cut, "edge unreachable: backing off"
            )
        if opts.p_local > 0 and state.rng.random() < opts.p_local:
            return explained_decision(
                self.name, p, space.device_only_cut, "local-inference mode", True
            )
        allowed = state.allowed
        feasible = allowed & state.constraints.feasible(
            request_bytes=state.request_bytes, latency_s=p.latency_s
        )
        feasible_lo = allowed & state.constraints.feasible(
            request_bytes=state.request_bytes, latency_s=p.latency_lo_s
        )
        cost = np.where(feasible, p.cost, np.inf)
        if np.isfinite(cost).any():
            best = int(np.argmin(cost))
            best_cost, best_reason = float(cost[best]), "lowest predicted cost"
        elif p.known.any():
            best = int(np.argmin(np.where(p.known, p.latency_s, np.inf)))
            best_cost, best_reason = math.inf, "no cut meets the constraints: fastest known"
        else:
            # Nothing known yet: device-only first. It needs no link, measures every device
            # op, and costs at most the device's time, where a first offload over an unknown
            # link may cost seconds (a big input over a slow cellular uplink).
            usable = feasible_lo if feasible_lo.any() else allowed
            cut = space.device_only_cut
            if not usable[cut]:
                cut = int(np.argmin(np.where(usable, p.cost_lo, np.inf)))
            return explained_decision(
                self.name, p, cut, "cold start: measuring an unknown cut", True
            )
        since_probe = state.requests - state.last_probe_request
        candidates = feasible_lo & (p.cost_lo < best_cost)
        candidates[best] = False
        urgent = (
            bool((candidates & ~p.known).any())
            or not p.link.identified
            or state.requests - state.last_change_request < opts.settle_requests
        )
        if candidates.any():
            cut = _probe_cut(candidates, p, state.request_bytes)
            gap = opts.urgent_gap if urgent else _steady_gap(opts.probe_gap, p, cut, best)
            if since_probe >= gap:
                reason = "probe: could beat the best" + (" (unknown)" if not p.known[cut] else "")
                return self._noted(state, p, explained_decision(self.name, p, cut, reason, True))
        if since_probe >= opts.probe_gap:
            refresh = _stale_refresh_cut(p, best, cost)
            # A step up (throttling, an overload) ends as abruptly as it began, and every
            # request past its end pays the detour: it is re-measured every step_age_s at
            # the plain gap, not the gap a costly probe is spaced by.
            if refresh is not None and since_probe >= (
                opts.probe_gap if p.stepped_stale else _steady_gap(opts.probe_gap, p, refresh, best)
            ):
                reason = "probe: re-measure stale estimates"
                return self._noted(
                    state, p, explained_decision(self.name, p, refresh, reason, True)
                )
        return self._noted(state, p, explained_decision(self.name, p, best, best_reason))

    @staticmethod
    def _noted(state: DeviceState, p: Prediction, decision: Decision) -> Decision:
        """Remember the model's latency for the chosen cut, to measure its error by."""
        cut = decision.cut
        if p.correction_s is not None and math.isfinite(float(p.latency_s[cut])):
            model_s = float(p.latency_s[cut] - p.correction_s[cut])
            state.note_expected(cut, model_s, probe=decision.probe)
        return decision


_PROBE_GROWTH = 8.0  # an identifying probe sends at most this many times the largest transfer


def _probe_cut(candidates: npt.NDArray[np.bool_], p: Prediction, request_bytes: FloatArray) -> int:
    """The candidate to probe, stepping up in size while the link is not yet identified.

    Nothing known of the link: the smallest transfer, not the cut whose cost merely looks
    lowest while the network counts zero (a blind big offload costs seconds over EV-DO).
    Known from small transfers only: the cheapest optimistic cut among those at least twice
    (another size bucket, so the fit can separate bandwidth from RTT) and at most
    ``_PROBE_GROWTH`` times the largest transfer seen, else the smallest bigger one. Jumping
    straight to the input (110 kB after a 5 kB probe) leaves a guessed slope in between, under
    which a mid-size cut that would beat the device looks no better than it, and the device
    is sent back to device-only for a report interval.
    """
    if p.link.samples == 0:
        return int(np.argmin(np.where(candidates, request_bytes, np.inf)))
    if not p.link.identified:
        larger = candidates & (request_bytes > 2 * p.link.largest_bytes)
        step = larger & (request_bytes <= _PROBE_GROWTH * max(p.link.largest_bytes, 1.0))
        if step.any():
            return int(np.argmin(np.where(step, p.cost_lo, np.inf)))
        if larger.any():
            return int(np.argmin(np.where(larger, request_bytes, np.inf)))
    return int(np.argmin(np.where(candidates, p.cost_lo, np.inf)))


def _steady_gap(probe_gap: int, p: Prediction, cut: int, best: int) -> int:
    """Requests between steady-state probes: ``probe_gap``, times the square of how much
    more the probe is expected to cost than the best cut. A probe costing r times the best,
    once every ``probe_gap * r**2`` requests, adds at most ``1 / (4 * probe_gap)`` to the mean
    latency however costly it is, so a hopeless but uncertain cut (a big tensor over a bursty
    cellular link) is still looked at, just rarely."""
    expected, best_s = float(p.latency_s[cut]), float(p.latency_s[best])
    if not (math.isfinite(expected) and best_s > 0):
        return probe_gap
    ratio = max(1.0, expected / best_s)
    return int(min(probe_gap * ratio * ratio, 100 * probe_gap))


def _stale_refresh_cut(p: Prediction, best: int, cost: FloatArray) -> int | None:
    """The cheapest cut that re-measures a stale op the best cut does not run."""
    n = len(p.device_stale)
    stale_dev = np.flatnonzero(p.device_stale[best:]) + best  # ops the best cut leaves to edge
    stale_edge = np.flatnonzero(p.edge_stale[:best])  # ops the best cut runs on the device
    covers = np.zeros(n + 1, dtype=bool)
    if len(stale_dev):
        covers[int(stale_dev[0]) + 1 :] = True
    if len(stale_edge):
        covers[: int(stale_edge[-1]) + 1] = True
    covers[best] = False
    if not covers.any():
        return None
    usable = np.where(covers & np.isfinite(cost), cost, np.inf)
    if not np.isfinite(usable).any():
        return None
    return int(np.argmin(usable))


class SciotPolicy:
    """SCIoT's published decision logic, reproduced as a baseline.

    Per-layer device and edge times are EMAs with alpha 0.2; the link speed is the size of the
    last message divided by its time (round trip included); the cost of offloading after layer
    ``l`` (our cut ``k = l + 1``) is ``sum(device[0..l]) + size[l] / speed + sum(edge[l+1..])``;
    edge-only is never considered; with probability ``p_local`` the device runs everything
    (their refresh of device times). Edge layers never measured count as 0; a cut is only
    considered once every device layer before it has been measured, so a fresh device starts
    by offloading after its first layer.
    """

    def __init__(self, *, p_local: float = 0.1) -> None:
        _check_probability(p_local)
        self.p_local = p_local

    @property
    def name(self) -> str:
        return "sciot"

    def decide(self, state: DeviceState, now_s: float) -> Decision:
        n = state.space.num_ops
        if self.p_local > 0 and state.rng.random() < self.p_local:
            return self._decision(state, n, "local-inference mode", True)
        cost = self._costs(state)
        if not np.isfinite(cost).any():  # no allowed cut is measured yet: run locally
            return self._decision(state, n, "no allowed cut measured: local", False)
        cut = int(np.argmin(cost))
        return self._decision(state, cut, "lowest SCIoT cost", False)

    def _costs(self, state: DeviceState) -> FloatArray:
        n = state.space.num_ops
        device = np.zeros(n + 1)
        np.cumsum(state.sciot_device_s, out=device[1:])
        edge = float(state.sciot_edge_s.sum()) - np.concatenate(
            ([0.0], np.cumsum(state.sciot_edge_s))
        )
        speed = state.sciot_bytes_per_s
        sizes = np.asarray(state.space.crossing_bytes, dtype=np.float64)
        network = sizes / speed if speed else np.zeros(n + 1)
        cost: FloatArray = device + edge + network
        cost[0] = np.inf  # never edge-only
        cost[~state.allowed] = np.inf
        # A cut needs every device layer before it measured; cut 1 needs none (if allowed), so
        # a fresh device starts by offloading after its first layer.
        unknown_before = np.concatenate(([0], np.cumsum(~state.sciot_device_known)))
        cost[2:][unknown_before[2:] > 0] = np.inf
        return cost

    def _decision(self, state: DeviceState, cut: int, reason: str, probe: bool) -> Decision:
        cost = self._costs(state)
        predicted = float(cost[cut]) if np.isfinite(cost[cut]) else math.nan
        order = [int(k) for k in np.argsort(cost, kind="stable")[:3] if int(k) != cut][:2]
        explanation = Explanation(
            policy=self.name,
            chosen=CutCost(cut=cut, predicted_s=predicted, cost=predicted),
            runners_up=tuple(
                CutCost(cut=k, predicted_s=float(cost[k]), cost=float(cost[k])) for k in order
            ),
            bytes_per_s=state.sciot_bytes_per_s,
        )
        return Decision(
            cut=cut, predicted_s=predicted, probe=probe, reason=reason, explanation=explanation
        )


def make_policy(name: str, *, seed: int = 0, **options: object) -> Policy:
    """Build a policy by name (see :data:`POLICY_NAMES`); ``linucb`` takes ``op_weights``.

    ``seed`` is accepted for symmetry with :class:`~sciot.planner.Planner`; policies draw from
    the per-device generator the planner seeds, so they keep no generator of their own.
    """
    del seed
    if name == "adaptive":
        try:
            return AdaptivePolicy(AdaptiveOptions(**options))  # type: ignore[arg-type]
        except TypeError as exc:
            raise PlannerError(f"bad option for the adaptive policy: {exc}") from exc
    if name == "sciot":
        p_local = options.pop("p_local", 0.1)
        _no_options(name, options)
        return SciotPolicy(p_local=float(p_local))  # type: ignore[arg-type]
    if name == "neurosurgeon":
        _no_options(name, options)
        return NeurosurgeonPolicy()
    if name == "explore-greedy":
        _no_options(name, options)
        return ExploreGreedyPolicy()
    if name == "linucb":
        try:
            return LinUcbPolicy(**options)  # type: ignore[arg-type]
        except TypeError as exc:
            raise PlannerError(f"bad option for the linucb policy: {exc}") from exc
    if name in ("device-only", "edge-only"):
        _no_options(name, options)
        return FixedPolicy(name)
    if name.startswith("fixed:"):
        _no_options(name, options)
        try:
            return FixedPolicy(int(name.removeprefix("fixed:")))
        except ValueError as exc:
            raise PlannerError(f"'{name}' needs an integer cut, e.g. fixed:3") from exc
    if name == "oracle":
        expected = options.pop("expected_s", None)
        fixed = options.pop("fixed_cut", None)
        _no_options(name, options)
        if not callable(expected):
            raise PlannerError("the oracle policy needs expected_s=callable(cut, now_s) -> seconds")
        return OraclePolicy(expected, fixed_cut=fixed)  # type: ignore[arg-type]
    raise PlannerError(f"unknown policy {name!r}; choose one of {', '.join(POLICY_NAMES)}")


def _no_options(name: str, options: dict[str, object]) -> None:
    if options:
        raise PlannerError(f"policy {name!r} takes no options {sorted(options)}")


def _check_probability(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise PlannerError(f"a probability must be between 0 and 1, got {p}")


__all__ = [
    "POLICY_NAMES",
    "AdaptiveOptions",
    "AdaptivePolicy",
    "ExpectedLatency",
    "FixedPolicy",
    "OraclePolicy",
    "Policy",
    "SciotPolicy",
    "best_fixed_cut",
    "make_policy",
]
