"""SplitSpace, Objective and Constraints: validation and per-cut costs."""

from __future__ import annotations

import numpy as np
import pytest

from sciot.errors import PlannerError
from sciot.planner import Constraints, EnergyProfile, Objective, SplitSpace


def test_space_counts_cuts_and_bytes() -> None:
    space = SplitSpace(num_ops=3, crossing_bytes=(100, 50, 10, 0), result_bytes=4)
    assert space.num_cuts == 4
    assert space.edge_only_cut == 0
    assert space.device_only_cut == 3
    assert space.request_bytes().tolist() == [104, 54, 14, 0]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"num_ops": 0, "crossing_bytes": (0,)}, "at least one op"),
        ({"num_ops": 2, "crossing_bytes": (10, 0)}, "one entry per cut"),
        ({"num_ops": 2, "crossing_bytes": (10, -1, 0)}, r"crossing_bytes\[1\]"),
        ({"num_ops": 2, "crossing_bytes": (10, 5, 3)}, "device-only"),
        ({"num_ops": 2, "crossing_bytes": (10, 5, 0), "result_bytes": -1}, "result_bytes"),
        ({"num_ops": 2, "crossing_bytes": (10, 2.5, 0)}, r"crossing_bytes\[1\]"),
    ],
)
def test_space_rejects_bad_input(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(PlannerError, match=fragment):
        SplitSpace(**kwargs)  # type: ignore[arg-type]


def test_check_cut() -> None:
    space = SplitSpace(num_ops=2, crossing_bytes=(10, 5, 0))
    assert space.check_cut(2) == 2
    with pytest.raises(PlannerError, match="out of range"):
        space.check_cut(3)


def _costs(objective: Objective) -> np.ndarray:
    return objective.cost(
        device_s=np.array([0.0, 0.01, 0.02]),
        edge_s=np.array([0.002, 0.001, 0.0]),
        network_s=np.array([0.02, 0.01, 0.0]),
        request_bytes=np.array([1000.0, 100.0, 0.0]),
    )


def test_objectives_rank_cuts_differently() -> None:
    assert _costs(Objective.latency()).tolist() == pytest.approx([0.022, 0.021, 0.02])
    assert int(np.argmin(_costs(Objective.bytes()))) == 2
    radio_heavy = EnergyProfile(compute_w=0.1, idle_w=0.01, radio_j_per_byte=1e-3)
    assert int(np.argmin(_costs(Objective.energy(radio_heavy)))) == 2
    compute_heavy = EnergyProfile(compute_w=10.0, idle_w=0.0, radio_j_per_byte=0.0)
    assert int(np.argmin(_costs(Objective.energy(compute_heavy)))) == 0
    weighted = Objective.weighted(latency=1.0, bytes_sent=1e-3)
    assert _costs(weighted)[0] == pytest.approx(0.022 + 1.0)
    assert weighted.name == "weighted(latency+bytes)"


def test_objective_validation() -> None:
    with pytest.raises(PlannerError, match="not all zero"):
        Objective(latency_weight=0.0)
    with pytest.raises(PlannerError, match="EnergyProfile"):
        Objective(latency_weight=0.0, energy_weight=1.0)
    with pytest.raises(PlannerError, match="compute_w"):
        EnergyProfile(compute_w=-1.0, idle_w=0.0, radio_j_per_byte=0.0)


def test_constraints_mask_cuts() -> None:
    constraints = Constraints(max_bytes=500, deadline_s=0.021)
    mask = constraints.feasible(
        request_bytes=np.array([1000.0, 100.0, 0.0]), latency_s=np.array([0.01, 0.03, 0.02])
    )
    assert mask.tolist() == [False, False, True]
    with pytest.raises(PlannerError, match="deadline_s"):
        Constraints(deadline_s=0.0)
    with pytest.raises(PlannerError, match="max_bytes"):
        Constraints(max_bytes=-5)
