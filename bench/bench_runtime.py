"""Runtime overheads: SegmentExecutor and OpProfiler against a bare LiteRT invoke.

Usage: .venv/bin/python bench/bench_runtime.py [--model fomo96] [--seconds 2]

The baseline is the least any caller can do with LiteRT's Python API on the same model in the
same process: ``set_tensor`` / ``invoke`` / ``get_tensor`` on a prebuilt interpreter with
indices looked up beforehand. The executor adds name checks and a dict; the profiler runs one
single-op model per op. Baseline and candidate calls alternate one by one and medians are
reported, so a noisy shared machine affects both sides alike.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from sciot.model import demo_names, load_model, resolve_model_path
from sciot.runtime import OpProfiler, SegmentExecutor


def paired(
    baseline: Callable[[], object], candidate: Callable[[], object], seconds: float
) -> tuple[float, float]:
    """Median seconds per call of each, timing the two alternately call by call.

    Alternating single calls keeps both sides under the same background load, which matters
    far more on a shared 2-core machine than any per-call timer overhead (~0.1 us).
    """
    for _ in range(20):
        baseline()
        candidate()
    base: list[float] = []
    cand: list[float] = []
    clock = time.perf_counter
    deadline = clock() + seconds
    while clock() < deadline and len(base) < 200_000:
        t0 = clock()
        baseline()
        t1 = clock()
        candidate()
        t2 = clock()
        base.append(t1 - t0)
        cand.append(t2 - t1)
    return statistics.median(base), statistics.median(cand)


def bench_model(name: str, seconds: float) -> list[tuple[str, str, float, float]]:
    graph = load_model(resolve_model_path(name))
    rng = np.random.default_rng(0)
    (info,) = graph.inputs
    if np.dtype(info.dtype).kind == "f":
        x = rng.random(info.shape, dtype=np.float32).astype(info.dtype)
    else:
        x = rng.integers(-128, 128, size=info.shape).astype(info.dtype)

    raw = Interpreter(model_content=graph.model_bytes, num_threads=1)
    raw.allocate_tensors()
    in_index = raw.get_input_details()[0]["index"]
    out_index = raw.get_output_details()[0]["index"]

    def raw_run() -> object:
        raw.set_tensor(in_index, x)
        raw.invoke()
        return raw.get_tensor(out_index)

    executor = SegmentExecutor(graph.model_bytes)
    feeds = {info.name: x}
    profiler = OpProfiler(graph)
    expected = raw_run()
    assert np.array_equal(executor.run(feeds)[graph.outputs[0].name], expected)
    assert np.array_equal(profiler.run(feeds)[0][graph.outputs[0].name], expected)

    base, execu = paired(raw_run, lambda: executor.run(feeds), seconds)
    base2, prof = paired(raw_run, lambda: profiler.run(feeds), seconds)
    op_sum = statistics.median(sum(profiler.run(feeds)[1]) for _ in range(200))
    rows = [
        (name, "SegmentExecutor.run", base, execu),
        (name, "OpProfiler.run (wall)", base2, prof),
        (name, "OpProfiler sum of op times", base2, op_sum),
    ]
    print(
        f"{name}: {graph.num_ops} ops; profiler overhead per op "
        f"{(prof - base2) / graph.num_ops * 1e6:.1f} us (wall) / "
        f"{(op_sum - base2) / graph.num_ops * 1e6:.1f} us (timed invokes)"
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="demo model name or .tflite path")
    parser.add_argument("--seconds", type=float, default=2.0, help="budget per measurement")
    args = parser.parse_args()
    models = args.model or [m for m in ("fomo96", "fomo96_int8") if m in demo_names()]
    if not models:
        raise SystemExit("no model given and no demo model shipped; pass --model PATH")
    rows = []
    for name in models:
        rows += bench_model(name, args.seconds)
    print()
    print(
        f"{'model':<14} {'candidate':<28} {'raw LiteRT ms':>14} {'candidate ms':>13} {'ratio':>7}"
    )
    for name, label, base, cand in rows:
        print(f"{name:<14} {label:<28} {base * 1e3:>14.4f} {cand * 1e3:>13.4f} {cand / base:>7.3f}")


if __name__ == "__main__":
    main()
