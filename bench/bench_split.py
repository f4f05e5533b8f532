"""Time to analyse and split MobileNetV2 (224x224, alpha 1.0, float32) at every cut.

Usage: .venv/bin/python bench/bench_split.py [--no-verify] [--rebuild]

The model is built with ``tf.keras.applications.MobileNetV2(weights=None)`` (seeded) and
converted once; the ``.tflite`` is cached in the system temp directory. Baseline, measured in
the same run: one flatbuffer round trip of the full model (parse with LiteRT's object API and
serialise again), the least work any tool that rewrites the model must do, and one LiteRT
interpreter build of the full model. With verification on (the default) every head is chained
into its tail and compared with the full model bit for bit.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from ai_edge_litert.tools import flatbuffer_utils

from sciot.model import load_model, split_all
from sciot.runtime import SegmentExecutor

CACHE = Path(tempfile.gettempdir()) / "sciot-bench" / "mobilenetv2_224_f32.tflite"


def build_model(rebuild: bool) -> bytes:
    if CACHE.exists() and not rebuild:
        return CACHE.read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import tensorflow as tf

        tf.keras.utils.set_random_seed(0)
        model = tf.keras.applications.MobileNetV2(
            input_shape=(224, 224, 3), alpha=1.0, weights=None
        )
        data = bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    CACHE.write_bytes(data)
    return data


def timed(fn: object, repeat: int) -> float:
    """Median wall seconds of ``repeat`` calls."""
    assert callable(fn)
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def verify(data: bytes) -> tuple[int, int]:
    graph = load_model(data)
    x = {graph.inputs[0].name: np.random.default_rng(0).random((1, 224, 224, 3), np.float32)}
    full = SegmentExecutor(data).run(x)
    exact = total = 0
    for split in split_all(graph):
        mid = SegmentExecutor(split.head).run(x) if split.head else x
        out = SegmentExecutor(split.tail).run(mid) if split.tail else mid
        total += 1
        exact += all(np.array_equal(out[k], v) for k, v in full.items())
    return exact, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-verify", action="store_true", help="skip the bit-exact check")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached model")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = build_model(args.rebuild)

    def round_trip() -> bytes:
        return bytes(
            flatbuffer_utils.convert_object_to_bytearray(
                flatbuffer_utils.read_model_from_bytearray(bytearray(data))
            )
        )

    def interpreter() -> None:
        Interpreter(model_content=data, num_threads=1).allocate_tensors()

    graph = load_model(data)
    cuts = graph.num_ops + 1
    base_rt = timed(round_trip, args.repeat)
    base_interp = timed(interpreter, args.repeat)
    load_s = timed(lambda: load_model(data), args.repeat)
    split_s = timed(lambda: sum(1 for _ in split_all(graph)), args.repeat)
    print(
        f"MobileNetV2 224 a1.0 float32: {len(data):,} bytes, {graph.num_ops} ops, {cuts} cuts, "
        f"max crossing {max(c.crossing_bytes for c in graph.cuts):,} B"
    )
    print()
    print(f"{'step':<44} {'seconds':>9} {'vs round trip':>14}")
    rows = [
        ("baseline: parse + serialise full model", base_rt),
        ("baseline: build + allocate LiteRT interp.", base_interp),
        ("load_model (parse + analyse every cut)", load_s),
        (f"split_all ({cuts} cuts, head + tail each)", split_s),
        ("split_all, per cut", split_s / cuts),
    ]
    for label, seconds in rows:
        print(f"{label:<44} {seconds:>9.4f} {seconds / base_rt:>14.3f}")
    if not args.no_verify:
        t0 = time.perf_counter()
        exact, total = verify(data)
        print(f"\nbit-exact head->tail chains: {exact}/{total} ({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
