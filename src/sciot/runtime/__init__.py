"""Run contiguous model segments with reusable LiteRT interpreters (the ``runtime`` layer).

:class:`SegmentExecutor` runs a head, a tail or any segment with one interpreter built once;
:class:`InterpreterPool` lends executors to concurrent callers; :class:`OpProfiler` times a
model op by op.
"""

from sciot.runtime._executor import SegmentExecutor
from sciot.runtime._pool import InterpreterPool
from sciot.runtime._profiler import OpProfiler

__all__ = ["InterpreterPool", "OpProfiler", "SegmentExecutor"]
