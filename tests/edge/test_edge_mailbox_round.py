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
    mailbox = PlannerMailbox([model], "adaptive", seed=0, publish=lambda d, c, t: None)
    mailbox.first_decision("cam-h", model, (1e-4,) * model.num_ops, 0.0)
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
    mailbox = PlannerMailbox([model], "adaptive", seed=0, publish=lambda d, c, t: None)
    mailbox.post("cam-p", model, 0.0, device_op_seconds=[(2e-4,)], head=(model.num_ops, 9.0))
    assert mailbox._pending["cam-p"].as_round().head is None


def test_a_report_of_several_timed_records_feeds_each_ops_median(
    fomo_served: ServedModel,
) -> None:
    # Three device-only records timed op by op, the newest slowed by a straggler in op 0:
    # the round gets each op's median, not the newest record's draw.
    model = fomo_served
    mailbox = PlannerMailbox([model], "adaptive", seed=0, publish=lambda d, c, t: None)
    typical = [1e-4] * model.num_ops
    straggled = [5e-4, *typical[1:]]
    mailbox.post("cam-b", model, 0.0, device_op_seconds=[typical, [1.2e-4, *typical[1:]]])
    mailbox.post("cam-b", model, 0.0, device_op_seconds=[typical, typical, straggled])
    ops = mailbox._pending["cam-b"].as_round().device_ops
    assert ops[0] == pytest.approx(1e-4) and len(ops) == model.num_ops


def test_plan_now_runs_one_devices_round_and_publishes_its_cut(
    fomo_served: ServedModel,
) -> None:
    """A device-only report's ack carries the cut planned with that report: plan_now runs the
    device's pending round at once (the others wait for the planner thread)."""
    model = fomo_served
    published: list[tuple[str, int]] = []
    mailbox = PlannerMailbox(
        [model], "adaptive", seed=0, publish=lambda d, c, t: published.append((d, c))
    )
    for device_id in ("cam-a", "cam-b"):
        mailbox.first_decision(device_id, model, (1e-4,) * model.num_ops, 0.0)
    assert mailbox.plan_now("cam-a") is None, "nothing pending: no round"
    total = 1e-4 * model.num_ops
    for device_id in ("cam-a", "cam-b"):
        mailbox.post(
            device_id,
            model,
            1.0,
            head=(model.num_ops, total),
            latencies=[(model.num_ops, total)] * 8,
            inferences=8,
        )
    cut = mailbox.plan_now("cam-a")
    assert cut is not None and published == [("cam-a", cut)]
    planner = mailbox.planners[model.model_id]
    assert planner.state("cam-a").latency_count == 8
    assert planner.state("cam-b").latency_count == 0, "another device's round waits"
    assert mailbox.plan_pending() == 1
    assert planner.state("cam-b").latency_count == 8
