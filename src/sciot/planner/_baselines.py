"""Published split policies, reproduced as baselines for the adaptive one.

- ``neurosurgeon`` (Kang et al., ASPLOS 2017, in spirit): one offline profile -- every op on
  the device and on the edge, and the link fitted by regression from transfers of two sizes --
  then the cut that profile predicts best, held for good.
- ``explore-greedy``: use every cut once, then always the cut with the lowest predicted cost
  from the running estimates (which keep learning from the cut in use, but nothing else).
- ``linucb`` (the µLinUCB of ANS, Zhang et al., INFOCOM 2020, in spirit): a contextual bandit
  over cut features. A cut's context is ``x = [device share, edge share, offloads, MB sent]``
  (the shares from the op profile), the latency is modelled as linear in it, ``θ`` is fitted
  by discounted ridge regression from the end-to-end latencies the edge assembles, and the
  cut with the lowest ``θ·x - α σ sqrt(xᵀA⁻¹x)`` is used; the optimistic bonus is applied on a
  ``mu`` share of requests (ANS's key frames), the others are greedy.

Per-device memory lives in :attr:`DeviceState.policy_data`, so the policies stay shareable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sciot.errors import PlannerError
from sciot.planner._decision import CutCost, Decision, Explanation
from sciot.planner._estimators import FloatArray
from sciot.planner._state import DeviceState, Prediction, predict


def _simple(policy: str, cut: int, predicted_s: float, reason: str, probe: bool) -> Decision:
    chosen = CutCost(cut=cut, predicted_s=predicted_s, cost=predicted_s)
    return Decision(
        cut=cut,
        predicted_s=predicted_s,
        probe=probe,
        reason=reason,
        explanation=Explanation(policy=policy, chosen=chosen),
    )


def _mean_prediction(state: DeviceState, now_s: float) -> Prediction:
    return predict(state, now_s, z=0.0, drift_per_s=0.0, max_age_s=math.inf)


def _argmin_known(p: Prediction, fallback: int) -> int:
    cost = np.where(p.known, p.cost, np.inf)
    return int(np.argmin(cost)) if np.isfinite(cost).any() else fallback


class NeurosurgeonPolicy:
    """Profile once (device-only, edge-only, one more transfer size), then hold one cut."""

    def __init__(self, *, max_profile_requests: int = 64) -> None:
        if max_profile_requests < 3:
            raise PlannerError("neurosurgeon needs max_profile_requests >= 3")
        self.max_profile_requests = max_profile_requests

    @property
    def name(self) -> str:
        return "neurosurgeon"

    def decide(self, state: DeviceState, now_s: float) -> Decision:
        n = state.space.num_ops
        held = state.policy_data.get(self.name)
        if isinstance(held, int):
            return _simple(self.name, held, math.nan, "neurosurgeon: profiled cut", False)
        p = _mean_prediction(state, now_s)
        device_known = bool((state.device.count > 0).all())
        edge_known = bool((state.edge.count > 0).all())
        done = device_known and edge_known and p.link.identified
        if done or state.requests >= self.max_profile_requests:
            cut = _argmin_known(p, n)
            state.policy_data[self.name] = cut
            return _simple(self.name, cut, float(p.latency_s[cut]), "neurosurgeon: chosen", False)
        if not device_known:
            cut = n
        elif not edge_known:  # edge-only, or the allowed cut closest to it
            cut = int(np.argmax(state.allowed))
        else:  # a transfer of another size than the input, to fit the link's line
            sizes = np.asarray(state.space.crossing_bytes[1:n], dtype=np.float64)
            sizes[~state.allowed[1:n]] = np.inf
            cut = 1 + int(np.argmin(sizes)) if np.isfinite(sizes).any() else n
        return _simple(self.name, cut, math.nan, "neurosurgeon: offline profile", True)


class ExploreGreedyPolicy:
    """Every cut once (device-only first), then the best predicted cut, never probing."""

    @property
    def name(self) -> str:
        return "explore-greedy"

    def decide(self, state: DeviceState, now_s: float) -> Decision:
        n = state.space.num_ops
        # Device-only first, then every other allowed cut once, in order.
        order = [n, *(int(k) for k in np.flatnonzero(state.allowed[:n]))]
        i = state.requests
        if i < len(order):
            return _simple(self.name, order[i], math.nan, "explore: every cut once", True)
        p = _mean_prediction(state, now_s)
        cut = _argmin_known(p, n)
        return _simple(self.name, cut, float(p.latency_s[cut]), "greedy: lowest predicted", False)


@dataclass(slots=True)
class _Bandit:
    a: FloatArray
    b: FloatArray
    seen: int
    residual_var: float


class LinUcbPolicy:
    """Discounted LinUCB over cut contexts (see the module docstring)."""

    def __init__(
        self,
        op_weights: Sequence[float] | None = None,
        *,
        alpha: float = 1.0,
        gamma: float = 0.98,
        ridge: float = 1e-3,
        mu: float = 0.5,
    ) -> None:
        if alpha < 0 or not 0 < gamma <= 1 or ridge <= 0 or not 0 <= mu <= 1:
            raise PlannerError("linucb needs alpha >= 0, 0 < gamma <= 1, ridge > 0, mu in [0, 1]")
        self.op_weights = None if op_weights is None else tuple(float(w) for w in op_weights)
        self.alpha, self.gamma, self.ridge, self.mu = alpha, gamma, ridge, mu

    @property
    def name(self) -> str:
        return "linucb"

    def contexts(self, state: DeviceState) -> FloatArray:
        """One row of features per cut."""
        n = state.space.num_ops
        weights = np.ones(n) if self.op_weights is None else np.asarray(self.op_weights)
        if len(weights) != n or not weights.sum() > 0:
            raise PlannerError(f"linucb op_weights need {n} values with a positive sum")
        share = np.concatenate(([0.0], np.cumsum(weights))) / weights.sum()
        offload = np.ones(n + 1)
        offload[n] = 0.0
        sent_mb = np.asarray(state.request_bytes, dtype=np.float64) / 1e6
        return np.stack((share, 1.0 - share, offload, sent_mb), axis=1)

    def _bandit(self, state: DeviceState, x: FloatArray) -> _Bandit:
        bandit = state.policy_data.get(self.name)
        if not isinstance(bandit, _Bandit):
            d = x.shape[1]
            bandit = _Bandit(a=np.eye(d) * self.ridge, b=np.zeros(d), seen=0, residual_var=1.0)
            state.policy_data[self.name] = bandit
        new = min(state.latency_count - bandit.seen, len(state.latencies))
        if new > 0:
            for cut, seconds, _t in list(state.latencies)[-new:]:
                xi, y = x[cut], seconds * 1e3  # milliseconds keep the numbers near 1
                theta = np.linalg.solve(bandit.a, bandit.b)
                residual = y - float(xi @ theta)
                bandit.residual_var = 0.95 * bandit.residual_var + 0.05 * residual * residual
                eye = np.eye(len(xi)) * self.ridge * (1 - self.gamma)
                bandit.a = self.gamma * bandit.a + np.outer(xi, xi) + eye
                bandit.b = self.gamma * bandit.b + xi * y
        bandit.seen = state.latency_count
        return bandit

    def decide(self, state: DeviceState, now_s: float) -> Decision:
        x = self.contexts(state)
        bandit = self._bandit(state, x)
        theta = np.linalg.solve(bandit.a, bandit.b)
        mean_ms = x @ theta
        explore = self.mu >= 1 or bool(state.rng.random() < self.mu)
        score = mean_ms
        if explore:
            width = np.sqrt(np.einsum("ij,jk,ik->i", x, np.linalg.inv(bandit.a), x))
            score = mean_ms - self.alpha * math.sqrt(bandit.residual_var) * width
        score = np.where(state.allowed, score, np.inf)
        cut = int(np.argmin(score))
        reason = "linucb: optimistic" if explore else "linucb: greedy"
        return _simple(self.name, cut, float(mean_ms[cut]) / 1e3, reason, explore)


__all__ = ["ExploreGreedyPolicy", "LinUcbPolicy", "NeurosurgeonPolicy"]
