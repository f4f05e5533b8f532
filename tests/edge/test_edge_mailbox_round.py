"""The mailbox feeds the planner through feed_round: a head's total time teaches it too."""

from __future__ import annotations

import pytest

from sciot.edge._config import ModelConfig
from sciot.edge._mailbox import PlannerMailbox
from sciot.edge._models import ServedModel, load_served_model


@pytest.fixture(scope="module")
def fomo_served() -> ServedModel:
    return load_served_model(ModelConfig(demo="fomo96"), workers=1)


def test_a_head_total_without_per_op_times_moves_the_device_estimates(
    fomo_served: ServedModel,
) -> None:
    model = fomo_served
    mailbox = PlannerMailbox([model], "adaptive", seed=0, publish=lambda d, c: None)
    mailbox.first_cut("cam-h", model, (1e-4,) * model.num_ops, 0.0)
    planner = mailbox.planners[model.model_id]
    before = list(planner.state("cam-h").device.mean_s)
    # The device slowed down as a whole: only the total of its whole-model run is reported.
    slow_total = 10 * 1e-4 * model.num_ops
    mailbox.post(
        "cam-h",
        model,
        1.0,
        head=(model.num_ops, slow_total),
        latencies=[(model.num_ops, slow_total)],
        inferences=3,
    )
    assert mailbox.plan_pending() == 1
    after = list(planner.state("cam-h").device.mean_s)
    assert all(a > b for a, b in zip(after, before, strict=True))


def test_per_op_times_win_over_a_head_total(fomo_served: ServedModel) -> None:
    model = fomo_served
    mailbox = PlannerMailbox([model], "adaptive", seed=0, publish=lambda d, c: None)
    mailbox.post("cam-p", model, 0.0, device_op_seconds=[(2e-4,)], head=(model.num_ops, 9.0))
    assert mailbox._pending["cam-p"].as_round().head is None
