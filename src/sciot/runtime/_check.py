"""Checking that every cut of a model really runs and chains bit-exactly, before it is used.

Static analysis finds where a model can be cut; only LiteRT can say whether each head and tail
then runs with its default delegates and whether head-then-tail reproduces the full model. The
check runs in the sandbox worker (a crash there costs one cut, not the process) on a few seeded
random inputs, compares outputs by tensor name, and turns every failing cut into an excluded
cut whose reason ``sciot model inspect`` lists and that ``split`` never writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from sciot.model import ModelGraph
from sciot.runtime._sandbox import check_cuts_in_worker

DEFAULT_SEEDS = (0, 1, 2)


def check_cuts(
    graph: ModelGraph,
    cuts: Iterable[int] | None = None,
    *,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    progress: Callable[[int, int], None] | None = None,
) -> dict[int, str | None]:
    """Per splittable cut (all when ``cuts`` is None): None if it runs and is exact, else why.

    Cuts already blocked by the analysis are left out. Raises ModelError naming the problem
    when LiteRT cannot run the full model (an op it has no kernel for, a crash).
    """
    wanted = [c.index for c in graph.cuts if c.splittable] if cuts is None else list(cuts)
    wanted = [k for k in dict.fromkeys(wanted) if graph.cut(k).splittable]
    if not wanted:
        return {}
    results = check_cuts_in_worker(graph.model_bytes, wanted, seeds, progress)
    return {k: results[k] for k in wanted}


def verify_cuts(
    graph: ModelGraph,
    cuts: Iterable[int] | None = None,
    *,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    progress: Callable[[int, int], None] | None = None,
) -> ModelGraph:
    """``graph`` with every cut that failed :func:`check_cuts` excluded, with its reason."""
    results = check_cuts(graph, cuts, seeds=seeds, progress=progress)
    failed = {k: f"the run check failed: {reason}" for k, reason in results.items() if reason}
    return graph.with_excluded(failed) if failed else graph
