"""The telemetry rows not yet committed, appended to a file as they are made: kill -9 loses none.

The telemetry writer commits rows in batches (a commit per row would cost the request path
about 100 us); between two flushes the rows live only in the edge's memory, and a kill -9
lost them (293 and 621 rows in one probe) although their inferences were answered. Every row
is therefore also appended to a journal file with one ``write(2)`` (a JSON line, a few
microseconds) before the reply leaves: a killed process's writes are in the kernel's page
cache, so they survive it. Each flush starts a new journal *generation* and commits its batch
together with the generation number (table ``journal_state``); at the next start, the journal
files of generations not committed are replayed into the database, and committed ones are
deleted. A line cut short by the kill belongs to a reply that never left, and is skipped.

Scope: a process killed or crashed, not the machine losing power (the WAL with
``synchronous=NORMAL`` makes the same promise for committed rows).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

STATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal_state (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    committed_generation INTEGER NOT NULL
);
"""
SET_COMMITTED = (
    "INSERT INTO journal_state (id, committed_generation) VALUES (0, ?) "
    "ON CONFLICT (id) DO UPDATE SET committed_generation = excluded.committed_generation"
)
GET_COMMITTED = "SELECT committed_generation FROM journal_state WHERE id = 0"


class RowJournal:
    """Append-only journal files ``<database>.pending.<generation>`` beside the database."""

    def __init__(self, database: Path) -> None:
        self._dir = database.parent
        self._prefix = database.name + ".pending."
        self.generation = 0
        self._fd: int | None = None

    def files(self) -> list[tuple[int, Path]]:
        """Every journal file present, oldest generation first."""
        found: list[tuple[int, Path]] = []
        for path in self._dir.glob(self._prefix + "*"):
            suffix = path.name.removeprefix(self._prefix)
            if suffix.isdigit():
                found.append((int(suffix), path))
        return sorted(found)

    def recover(self, committed: int, width: int) -> list[tuple[int, list[tuple[object, ...]]]]:
        """The rows of every generation after ``committed`` (files of committed generations
        are deleted); each row a tuple of ``width`` values."""
        recovered: list[tuple[int, list[tuple[object, ...]]]] = []
        for generation, path in self.files():
            if generation <= committed:
                path.unlink(missing_ok=True)
                continue
            rows: list[tuple[object, ...]] = []
            for line in path.read_bytes().splitlines():
                try:
                    values = json.loads(line)
                except ValueError:
                    continue  # cut short by the kill: its reply never left
                if isinstance(values, list) and len(values) == width:
                    rows.append(tuple(values))
            recovered.append((generation, rows))
        return recovered

    def discard_through(self, generation: int) -> None:
        """Delete the files of generations up to ``generation`` (their rows are committed)."""
        for found, path in self.files():
            if found <= generation and found != self.generation:
                path.unlink(missing_ok=True)

    def start(self, generation: int) -> None:
        self.generation = generation
        path = self._dir / f"{self._prefix}{generation}"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def write(self, row: tuple[object, ...]) -> None:
        """Append one row (one ``write(2)``); a failing disk stops journalling, loudly."""
        if self._fd is None:
            return
        try:
            os.write(self._fd, json.dumps(row).encode() + b"\n")
        except OSError as exc:
            log.error("telemetry journal stopped (%s): rows wait in memory only", exc)
            self.close()

    def rotate(self) -> int:
        """Start the next generation; returns the one just ended (its rows are the batch the
        caller is about to commit)."""
        ended = self.generation
        self.close()
        self.start(ended + 1)
        return ended

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def close_empty(self) -> None:
        """Close, and delete the current file if nothing was written to it since the last
        flush (rows written after it stay, for the next start to replay)."""
        self.close()
        path = self._dir / f"{self._prefix}{self.generation}"
        if path.exists() and path.stat().st_size == 0:
            path.unlink()


__all__ = ["GET_COMMITTED", "SET_COMMITTED", "STATE_SCHEMA", "RowJournal"]
