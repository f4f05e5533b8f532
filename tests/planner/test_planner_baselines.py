"""The published baselines behave as their papers describe: profile-then-hold, explore-then-
greedy, and a contextual bandit that learns the latency's linear structure."""

from __future__ import annotations

import numpy as np
import pytest

from sciot.errors import PlannerError
from sciot.planner import LinUcbPolicy, Planner, make_policy
from sciot.sim import LinkStep, drive, synthetic_environment


def test_neurosurgeon_profiles_then_holds_its_cut_through_a_change() -> None:
    env = synthetic_environment(noise_cv=0.02, link_steps=(LinkStep(at_s=30.0, bytes_per_s=5e4),))
    planner = Planner(env.space, "neurosurgeon", seed=1)
    steps = drive(env, planner, requests=400, seed=1)
    n = env.space.num_ops
    profile = [s.decision for s in steps if s.decision.probe]
    # Device-only, edge-only, then another transfer size to fit the link's line.
    assert [d.cut for d in profile[:2]] == [n, 0] and 3 <= len(profile) <= 6
    held = {s.decision.cut for s in steps[len(profile) :]}
    assert len(held) == 1, "one offline profile, then one cut for good"
    best_before = min(range(n + 1), key=lambda k: env.expected_latency_s(k, 1.0))
    assert held == {best_before}
    # After the 25x bandwidth drop the held cut is no longer the best: the baseline's flaw.
    after = min(range(n + 1), key=lambda k: env.expected_latency_s(k, 40.0))
    assert after != best_before


def test_explore_greedy_uses_every_cut_once_then_never_probes() -> None:
    env = synthetic_environment(noise_cv=0.05)
    planner = Planner(env.space, "explore-greedy", seed=2)
    steps = drive(env, planner, requests=120, seed=2)
    n = env.space.num_ops
    first = [s.decision.cut for s in steps[: n + 1]]
    assert sorted(first) == list(range(n + 1)) and first[0] == n
    assert not any(s.decision.probe for s in steps[n + 1 :])
    best = min(range(n + 1), key=lambda k: env.expected_latency_s(k, 1.0))
    late = [s.decision.cut for s in steps[-30:]]
    assert abs(np.mean([env.expected_latency_s(c, 1.0) for c in late])) <= 1.1 * (
        env.expected_latency_s(best, 1.0)
    )


def test_linucb_learns_the_latency_from_end_to_end_samples_only() -> None:
    env = synthetic_environment(noise_cv=0.02, bytes_per_s=1e6)
    policy = LinUcbPolicy(env.device.op_s)
    planner = Planner(env.space, policy, seed=3)
    n = env.space.num_ops
    rng = np.random.default_rng(3)
    now_s = 0.0
    cuts = []
    for _ in range(300):
        cut = planner.decide("cam", now_s).cut
        outcome = env.run(cut, now_s, rng)
        # Only the end-to-end latency: no per-op times, no transfers.
        planner.observe_latency("cam", cut, outcome.latency_s, now_s + outcome.latency_s)
        cuts.append(cut)
        now_s += outcome.latency_s + 0.01
    expected = [env.expected_latency_s(k, 1.0) for k in range(n + 1)]
    late = float(np.mean([expected[c] for c in cuts[-100:]]))
    # Latency is linear in the contexts here, so the bandit ends near the best cut...
    assert late <= 1.1 * min(expected)
    # ...which it could not have done by staying where it started.
    assert late < 0.8 * float(np.mean(expected))


def test_linucb_contexts_follow_the_op_profile() -> None:
    env = synthetic_environment(num_ops=4)
    policy = LinUcbPolicy((1.0, 1.0, 2.0, 0.0))
    state = Planner(env.space, policy).state("d")
    x = policy.contexts(state)
    assert x.shape == (5, 4)
    np.testing.assert_allclose(x[:, 0], [0.0, 0.25, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(x[:, 2], [1, 1, 1, 1, 0])
    assert x[4, 3] == 0.0 and x[0, 3] > x[3, 3]
    with pytest.raises(PlannerError, match="op_weights"):
        LinUcbPolicy((1.0,)).contexts(state)


def test_baselines_by_name_and_bad_options() -> None:
    for name in ("neurosurgeon", "explore-greedy", "linucb"):
        assert make_policy(name).name == name
    with pytest.raises(PlannerError, match="linucb"):
        make_policy("linucb", nonsense=1)
    with pytest.raises(PlannerError, match="takes no options"):
        make_policy("neurosurgeon", alpha=1)
    with pytest.raises(PlannerError, match="linucb needs"):
        LinUcbPolicy(gamma=0.0)
