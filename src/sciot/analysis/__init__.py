"""Tables, plots and reports from recorded runs.

:func:`analyze_run` reads a directory written by ``sciot simulate``, recomputes the summary
from the raw per-inference rows, draws the plots (matplotlib, extra ``analysis``) and writes a
self-contained ``report.html``.
"""

from sciot.analysis._load import RunData, load_run
from sciot.analysis._report import Report, analyze_run, draw_plots, format_table, markdown_table

__all__ = [
    "Report",
    "RunData",
    "analyze_run",
    "draw_plots",
    "format_table",
    "load_run",
    "markdown_table",
]
