"""Pure, deterministic split decision logic (the ``planner`` layer).

Feed a :class:`Planner` what devices and the edge measured (per-op times, transfers) and the
current time; ask it where to cut the next request. No I/O, no clock, no global randomness:
the same observations and seed give the same decisions on a device, on the edge or in ``sim``.
"""

from sciot.planner._baselines import ExploreGreedyPolicy, LinUcbPolicy, NeurosurgeonPolicy
from sciot.planner._decision import CutCost, Decision, Explanation
from sciot.planner._estimators import (
    CV_THRESHOLD,
    CV_WINDOW,
    Ewma,
    EwmaEstimate,
    OpTimes,
    OpTimesEstimate,
    PageHinkley,
)
from sciot.planner._link import LinkEstimate, LinkEstimator
from sciot.planner._observe import (
    PROFILE_FRACTION,
    REPORT_EVERY,
    REPORT_INTERVAL_S,
    ObservationChannel,
    Round,
    Transfer,
    batch_op_seconds,
    feed_round,
    ran_probe,
    round_trip_moved,
    runs_alongside,
    spread_head_s,
    spread_tail_s,
    went_local,
)
from sciot.planner._planner import Planner
from sciot.planner._policies import (
    POLICY_NAMES,
    AdaptiveOptions,
    AdaptivePolicy,
    ExpectedLatency,
    FixedPolicy,
    OraclePolicy,
    Policy,
    SciotPolicy,
    best_fixed_cut,
    make_policy,
)
from sciot.planner._space import Constraints, EnergyProfile, Objective, SplitSpace, energy_j
from sciot.planner._state import DeviceState, Prediction, predict

__all__ = [
    "CV_THRESHOLD",
    "CV_WINDOW",
    "POLICY_NAMES",
    "PROFILE_FRACTION",
    "REPORT_EVERY",
    "REPORT_INTERVAL_S",
    "AdaptiveOptions",
    "AdaptivePolicy",
    "Constraints",
    "CutCost",
    "Decision",
    "DeviceState",
    "EnergyProfile",
    "Ewma",
    "EwmaEstimate",
    "ExpectedLatency",
    "Explanation",
    "ExploreGreedyPolicy",
    "FixedPolicy",
    "LinUcbPolicy",
    "LinkEstimate",
    "LinkEstimator",
    "NeurosurgeonPolicy",
    "Objective",
    "ObservationChannel",
    "OpTimes",
    "OpTimesEstimate",
    "OraclePolicy",
    "PageHinkley",
    "Planner",
    "Policy",
    "Prediction",
    "Round",
    "SciotPolicy",
    "SplitSpace",
    "Transfer",
    "batch_op_seconds",
    "best_fixed_cut",
    "energy_j",
    "feed_round",
    "make_policy",
    "predict",
    "ran_probe",
    "round_trip_moved",
    "runs_alongside",
    "spread_head_s",
    "spread_tail_s",
    "went_local",
]
