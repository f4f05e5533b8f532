"""Helpers shared by the edge tests (imported by name: tests/edge is on sys.path)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sciot.edge import EdgeConfig
from sciot.model import ModelGraph, load_model, split_model
from sciot.model.zoo import demo_model_path, load_demo_input
from sciot.runtime import SegmentExecutor
from sciot.wire import InferRequest, Tensor


@dataclass(frozen=True)
class Fomo:
    """The demo model, one input, the full model's output and each cut's crossing tensors."""

    graph: ModelGraph
    expected: np.ndarray
    crossing: dict[int, tuple[Tensor, ...]]

    def request(self, cut: int, *, device_id: str = "cam-1", seq: int = 1) -> InferRequest:
        return InferRequest(
            device_id=device_id,
            model_id=self.graph.model_id,
            seq=seq,
            cut=cut,
            tensors=self.crossing[cut],
            device_seconds=0.001,
        )


def load_fomo() -> Fomo:
    graph = load_model(demo_model_path("fomo96"))
    x = load_demo_input("fomo96", 3)
    in_name = graph.inputs[0].name
    expected = SegmentExecutor(graph.model_bytes).run({in_name: x})[graph.outputs[0].name]
    crossing: dict[int, tuple[Tensor, ...]] = {}
    for k in range(graph.num_ops + 1):
        head = split_model(graph, k).head
        values = {in_name: x} if head is None else SegmentExecutor(head).run({in_name: x})
        crossing[k] = tuple(Tensor(name=n, array=values[n]) for n in graph.cut(k).tensor_names)
    return Fomo(graph=graph, expected=expected, crossing=crossing)


def edge_config(tmp_path: Path, **changes: object) -> EdgeConfig:
    data: dict[str, object] = {
        "port": 0,
        "max_frame_bytes": 1 << 20,
        "telemetry": {"path": str(tmp_path / "telemetry.sqlite"), "flush_interval_s": 0.05},
    }
    data.update(changes)
    return EdgeConfig.from_mapping(data)
