"""Time to analyse and split models at every cut: the third-party set, then MobileNetV2.

Usage: .venv/bin/python bench/bench_split.py [--no-verify] [--rebuild] [--set-only]

The third-party set is the test suite's (``tests/model/keras_app_models.py``: Keras
applications converted float32, int8, float16 weights and dynamic-range, plus pruned sparse
models), read from the pytest cache where the tests leave it (built on first use). For each
model: ops (and folded constant-derived ops), cuts, ``load_model``, ``split_all`` and cuts per
second, and, unless ``--no-verify``, the sandboxed check of every cut (``check_cuts``: head and
tail built and run on three inputs, compared with the full model). Baseline per model: one
parse + serialise round trip of it with LiteRT's object API.

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
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from ai_edge_litert.tools import flatbuffer_utils

from sciot.model import load_model, split_all
from sciot.runtime import SegmentExecutor, check_cuts

CACHE = Path(tempfile.gettempdir()) / "sciot-bench" / "mobilenetv2_224_f32.tflite"
ROOT = Path(__file__).resolve().parents[1]
SET_CACHE = ROOT / ".pytest_cache" / "d" / "sciot-keras-apps"


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


def round_trip_s(data: bytes) -> float:
    def once() -> bytes:
        model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
        return bytes(flatbuffer_utils.convert_object_to_bytearray(model))

    return timed(once, 1)


def third_party_set(verify: bool) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "model"))
    from keras_app_models import KerasAppCache, model_names

    cache = KerasAppCache(SET_CACHE)
    header = (
        f"{'model':<26} {'MB':>5} {'ops':>4} {'fold':>4} {'load s':>7} {'split s':>8} "
        f"{'cuts/s':>7} {'vs rt':>6}" + (f" {'check s':>8} {'exact':>9}" if verify else "")
    )
    print(header)
    largest: tuple[int, str, float] = (0, "", 0.0)
    total_cuts = 0
    total_split = 0.0
    for name in model_names():
        data = cache.path(name).read_bytes()
        load_s = timed(lambda data=data: load_model(data), 1)
        graph = load_model(data)
        cuts = graph.num_ops + 1
        t0 = time.perf_counter()
        made = sum(1 for _ in split_all(graph))
        split_s = time.perf_counter() - t0
        total_cuts += made
        total_split += split_s
        line = (
            f"{name:<26} {len(data) / 1e6:>5.1f} {graph.num_ops:>4} {len(graph.folded_ops):>4} "
            f"{load_s:>7.3f} {split_s:>8.2f} {made / split_s:>7.1f} "
            f"{split_s / round_trip_s(data):>6.1f}"
        )
        if verify:
            t0 = time.perf_counter()
            results = check_cuts(graph)
            exact = sum(1 for reason in results.values() if reason is None)
            line += f" {time.perf_counter() - t0:>8.1f} {exact:>4}/{cuts:<4}"
        print(line, flush=True)
        if len(data) > largest[0]:
            largest = (len(data), name, split_s)
    print(
        f"\nset: {total_cuts} cuts split in {total_split:.1f} s ({total_cuts / total_split:.1f} "
        f"cuts/s); largest model {largest[1]} ({largest[0] / 1e6:.1f} MB): split_all "
        f"{largest[2]:.2f} s\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-verify", action="store_true", help="skip the bit-exact check")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached model")
    parser.add_argument("--set-only", action="store_true", help="skip MobileNetV2 224")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    third_party_set(not args.no_verify)
    if args.set_only:
        return
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
