"""The telemetry journal: rows of a writer killed with -9 are replayed at the next start,
exactly once, and a live writer sharing the database keeps its own."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from sciot.edge import read_telemetry
from sciot.edge._telemetry import TelemetryRow, TelemetryWriter

_KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from sciot.edge._telemetry import TelemetryRow, TelemetryWriter
w = TelemetryWriter(Path(sys.argv[1]), flush_interval_s=60.0, max_pending_rows=10_000)
def row(seq):
    return TelemetryRow(1.0, "killed", "m", seq, 3, 3, 0.001, 1, 1, None, 0.0, 0.001, "p", "split")
for seq in range(1, 101):
    w.append(row(seq))
w.flush()  # 1..100 committed
for seq in range(101, 151):
    w.append(row(seq))  # 101..150 only in memory and the journal
os.kill(os.getpid(), signal.SIGKILL)
"""


def _row(device_id: str, seq: int) -> TelemetryRow:
    return TelemetryRow(1.0, device_id, "m", seq, 3, 3, 0.001, 1, 1, None, 0.0, 0.001, "p", "split")


def _writer(path: Path) -> TelemetryWriter:
    return TelemetryWriter(path, flush_interval_s=60.0, max_pending_rows=10_000)


def test_rows_of_a_killed_writer_are_replayed_once(tmp_path: Path) -> None:
    db = tmp_path / "t.sqlite"
    live = _writer(db)  # shares the database, alive throughout
    for seq in range(1, 21):
        live.append(_row("live", seq))
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_KILLED_WRITER), str(db)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == -9, child.stderr[-2000:]
    restarted = _writer(db)
    assert restarted.recovered_rows == 50
    again = _writer(db)  # a second start finds nothing left to replay
    assert again.recovered_rows == 0
    live.flush()
    for w in (again, restarted, live):
        w.close()
    rows = read_telemetry(db)
    killed = sorted(int(r["seq"]) for r in rows if r["device_id"] == "killed")  # type: ignore[call-overload]
    assert killed == list(range(1, 151))
    assert sum(r["device_id"] == "live" for r in rows) == 20
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT COUNT(*) FROM journal_owners").fetchone() == (0,)
    finally:
        conn.close()
    assert [p.name for p in tmp_path.iterdir() if ".pending." in p.name] == []
