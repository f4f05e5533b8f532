"""The edge's planner chooses only cuts both sides can run: a blocked cut gets no tail, is not
among the planner's candidates, and a fixed policy naming it is refused at startup."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from edge_testkit import Fomo, edge_config

from sciot.edge import build_edge
from sciot.edge._mailbox import PlannerMailbox, check_fixed_cut
from sciot.edge._models import ServedModel
from sciot.errors import ConfigError
from sciot.wire import (
    DeviceProfile,
    ErrorCode,
    ErrorFrame,
    InferRequest,
    Register,
    TransferSample,
    decode,
    encode,
)

BLOCKED = 5


@pytest.fixture(scope="module")
def blocked_model(fomo: Fomo) -> ServedModel:
    graph = fomo.graph.with_excluded({BLOCKED: "the run check failed: blocked for this test"})
    return ServedModel(graph, label="fomo96", workers=1)


def test_a_blocked_cut_has_no_tail_and_is_not_a_candidate(blocked_model: ServedModel) -> None:
    assert blocked_model.tails[BLOCKED] is None
    # Ops 4 and 5 can no longer be timed apart: their span's time is shared between them.
    profile = blocked_model.edge_op_s
    assert (profile > 0).all() and profile[BLOCKED - 1] == profile[BLOCKED]
    mailbox = PlannerMailbox([blocked_model], "adaptive", seed=0, publish=lambda d, c, t: None)
    space = mailbox.planners[blocked_model.model_id].space
    assert space.allowed is not None
    assert [k for k, ok in enumerate(space.allowed) if not ok] == [BLOCKED]


def test_the_edge_never_publishes_a_blocked_cut(blocked_model: ServedModel) -> None:
    """explore-then-greedy visits every candidate once: the blocked cut is not among them."""
    model = blocked_model
    published: list[int] = []
    mailbox = PlannerMailbox(
        [model], "explore-greedy", seed=0, publish=lambda _d, cut, _t: published.append(cut)
    )
    cut, _probe = mailbox.first_decision("cam-b", model, (1e-3,) * model.num_ops, 0.0)
    published.append(cut)
    for i in range(2 * model.num_ops + 4):
        head = tuple(1e-3 for _ in range(published[-1]))
        up = model.crossing_bytes[published[-1]] or 64
        sample = TransferSample(uplink_bytes=up, downlink_bytes=40, seconds=1e-3 + up / 5e6)
        mailbox.post(
            "cam-b",
            model,
            0.1 * (i + 1),
            device_op_seconds=[head],
            edge_ops=model.edge_op_seconds(published[-1], 1e-3),
            transfer=sample,
        )
        assert mailbox.plan_pending() == 1
    assert BLOCKED not in published
    assert set(published) == set(range(model.num_ops + 1)) - {BLOCKED}


def test_a_fixed_policy_naming_a_blocked_cut_is_refused(blocked_model: ServedModel) -> None:
    with pytest.raises(ConfigError, match=f"names cut {BLOCKED}, which model fomo96 cannot"):
        check_fixed_cut(f"fixed:{BLOCKED}", [blocked_model])
    check_fixed_cut(f"fixed:{BLOCKED + 1}", [blocked_model])


@pytest.fixture(scope="module")
def stateful_model(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A model with a resource variable (VAR_HANDLE ... ASSIGN_VARIABLE): the cuts inside
    that span are blocked by the analysis (built with TensorFlow once, then cached)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from sciot_test_models import ModelCache

    cache = getattr(request.config, "cache", None)
    root = cache.mkdir("sciot-test-models") if cache is not None else tmp_path_factory.mktemp("m")
    return ModelCache(root).path("stateful_f32")


@pytest.mark.tensorflow
def test_an_edge_serves_a_model_with_a_resource_variable(
    tmp_path: Path, stateful_model: Path
) -> None:
    app = build_edge(edge_config(tmp_path, models=[{"path": str(stateful_model)}]))
    try:
        model = next(iter(app.core.models.values()))
        splittable = [c.splittable for c in model.graph.cuts]
        blocked = [k for k, ok in enumerate(splittable) if not ok]
        assert blocked, "the resource variable's span must block some cuts"
        space = app.core.planners[model.model_id].space
        assert space.allowed == (*splittable[:-1], True)
        assert (model.edge_op_s > 0).all()  # profiled although not every op can be timed alone
        register = Register(device_id="cam-s", model_id=model.model_id, profile=DeviceProfile())
        assert app.core.handle_frame(encode(register), 1.0, transport="http").status == 200
        request = InferRequest(
            device_id="cam-s", model_id=model.model_id, seq=1, cut=blocked[0], tensors=()
        )
        reply = decode(app.core.handle_frame(encode(request), 2.0, transport="http").frame)
        assert isinstance(reply, ErrorFrame) and reply.code == ErrorCode.BAD_CUT
        assert f"cannot be split at cut {blocked[0]}: " in reply.reason
        assert "resource" in reply.reason
    finally:
        app.stop()
