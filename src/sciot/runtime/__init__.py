"""Run contiguous model segments with reusable LiteRT interpreters (the ``runtime`` layer).

:class:`SegmentExecutor` runs a head, a tail or any segment with one interpreter built once;
:class:`InterpreterPool` lends executors to concurrent callers; :class:`OpProfiler` times a
model op by op; :func:`check_cuts` / :func:`verify_cuts` run every cut of a model in a
sandboxed LiteRT and exclude the ones that do not run or do not chain bit-exactly.
"""

from sciot.runtime._check import check_cuts, verify_cuts
from sciot.runtime._executor import SegmentExecutor
from sciot.runtime._pool import InterpreterPool
from sciot.runtime._profiler import OpProfiler

__all__ = ["InterpreterPool", "OpProfiler", "SegmentExecutor", "check_cuts", "verify_cuts"]
