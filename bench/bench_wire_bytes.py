"""Bytes on the wire per cut: float32 vs int8 activations vs zlib, and what int8 costs in accuracy.

For every interior cut of a float32 demo model, the head's outputs are framed as an
``InferRequest`` with each tensor encoding, decoded as the edge would decode them, and fed to
the tail. Baseline (same run): the raw float32 frame. Agreement is measured against the full
model's output: the fraction of output cells whose top class is unchanged (FOMO's 12x12 map), or
of samples whose top class is unchanged (sensor1d). Target (SPEC): int8 4x smaller than float32
with >= 99% output agreement.

    .venv/bin/python bench/bench_wire_bytes.py [--model fomo96] [--samples 32]
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

from sciot.model import demo_model_path, load_demo_input, load_model, split_model
from sciot.runtime import SegmentExecutor
from sciot.wire import InferRequest, Tensor, TensorEncoding, decode, encode

ENCODINGS = (
    TensorEncoding.RAW,
    TensorEncoding.RAW_ZLIB,
    TensorEncoding.INT8,
    TensorEncoding.INT8_ZLIB,
)


def _frame(cut: int, tensors: dict[str, np.ndarray], encoding: TensorEncoding) -> bytes:
    request = InferRequest(
        device_id="bench",
        model_id="0" * 16,
        seq=1,
        cut=cut,
        tensors=tuple(Tensor(name=n, array=a) for n, a in tensors.items()),
        device_seconds=0.0,
    )
    return encode(request, encoding=encoding)


def _top_class(outputs: dict[str, np.ndarray]) -> np.ndarray:
    (array,) = outputs.values()
    return np.asarray(array).argmax(axis=-1).ravel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default="fomo96", help="a float32 shipped demo model")
    parser.add_argument("--samples", type=int, default=32, help="inputs per cut")
    args = parser.parse_args()

    graph = load_model(demo_model_path(args.model))
    full = SegmentExecutor(graph.model_bytes)
    inputs = [load_demo_input(args.model, seed) for seed in range(args.samples)]
    (input_name,) = graph.input_names
    references = [_top_class(full.run({input_name: x})) for x in inputs]

    header = f"{'cut':>4} {'float32 B':>10} " + " ".join(
        f"{e.name + ' x':>12}" for e in ENCODINGS[1:]
    )
    print(f"{args.model}: {graph.num_ops} ops, {args.samples} inputs per cut")
    print(header + f" {'int8 agree':>11} {'int8+zlib agree':>16}")
    int8_ratios: list[float] = []
    worst_agreement = 1.0
    for k in range(1, graph.num_ops):
        parts = split_model(graph, k)
        if parts.head is None or parts.tail is None:
            continue
        head, tail = SegmentExecutor(parts.head), SegmentExecutor(parts.tail)
        sizes = {e: 0 for e in ENCODINGS}
        agree = {TensorEncoding.INT8: 0, TensorEncoding.INT8_ZLIB: 0}
        cells = 0
        for x, reference in zip(inputs, references, strict=True):
            crossing = head.run({input_name: x})
            for encoding in ENCODINGS:
                frame = _frame(k, crossing, encoding)
                sizes[encoding] += len(frame)
                if encoding in agree:
                    received = decode(frame, max_frame_bytes=64 << 20)
                    assert isinstance(received, InferRequest)
                    feed = {t.name: t.array for t in received.tensors}
                    agree[encoding] += int((_top_class(tail.run(feed)) == reference).sum())
            cells += reference.size
        raw = sizes[TensorEncoding.RAW]
        ratios = [raw / sizes[e] for e in ENCODINGS[1:]]
        int8_ratios.append(raw / sizes[TensorEncoding.INT8])
        agreements = [agree[e] / cells for e in (TensorEncoding.INT8, TensorEncoding.INT8_ZLIB)]
        worst_agreement = min(worst_agreement, *agreements)
        print(
            f"{k:>4} {raw // len(inputs):>10} "
            + " ".join(f"{r:>11.2f}x" for r in ratios)
            + f" {agreements[0]:>10.2%} {agreements[1]:>15.2%}"
        )
    print(
        f"int8 vs float32 frame: median {statistics.median(int8_ratios):.2f}x smaller "
        f"(min {min(int8_ratios):.2f}x); worst top-class agreement {worst_agreement:.2%}"
    )


if __name__ == "__main__":
    main()
