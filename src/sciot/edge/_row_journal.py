"""The telemetry rows not yet committed, appended to a file as they are made: kill -9 loses none.

The telemetry writer commits rows in batches (a commit per row would cost the request path
about 100 us); between two flushes the rows live only in the edge's memory, and a kill -9
lost them (293 and 621 rows in one probe) although their inferences were answered. Every row
is therefore also appended to a journal file with one ``write(2)`` (a JSON line, a few
microseconds) before the reply leaves: a killed process's writes are in the kernel's page
cache, so they survive it. Each flush starts a new journal *generation* and commits its batch
together with the generation number (table ``journal_owners``); at the next start, the journal
files of generations not committed are replayed into the database, and committed ones are
deleted. A line cut short by the kill belongs to a reply that never left, and is skipped.

Scope: a process killed or crashed, not the machine losing power (the WAL with
``synchronous=NORMAL`` makes the same promise for committed rows).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import time
from pathlib import Path

log = logging.getLogger(__name__)

STATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal_owners (
    owner TEXT PRIMARY KEY,
    committed_generation INTEGER NOT NULL
);
"""
SET_COMMITTED = (
    "INSERT INTO journal_owners (owner, committed_generation) VALUES (?, ?) "
    "ON CONFLICT (owner) DO UPDATE SET committed_generation = excluded.committed_generation"
)
_GET_COMMITTED = "SELECT committed_generation FROM journal_owners WHERE owner = ?"
_FORGET_OWNER = "DELETE FROM journal_owners WHERE owner = ?"

Recovered = list[tuple[int, list[tuple[object, ...]]]]
"""An owner's uncommitted generations, oldest first: (generation, rows)."""


class RowJournal:
    """Append-only journal files ``<database>.pending.<owner>.<generation>`` beside the
    database, one *owner* per process (several edge workers may share one database).

    A live owner holds an exclusive ``flock`` on ``<database>.pending.<owner>.lock``; an owner
    whose lock can be taken is dead, and its files are recovered by the next writer to start.
    """

    def __init__(self, database: Path) -> None:
        self._dir = database.parent
        self._base = database.name + ".pending."
        self.owner = f"{os.getpid()}-{time.time_ns()}"
        self.generation = 0
        self._fd: int | None = None
        self._lock_fd = self._hold(self._lock_path(self.owner))

    def _lock_path(self, owner: str) -> Path:
        return self._dir / f"{self._base}{owner}.lock"

    def _file(self, owner: str, generation: int) -> Path:
        return self._dir / f"{self._base}{owner}.{generation}"

    @staticmethod
    def _hold(path: Path) -> int:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def dead_owners(self) -> list[tuple[str, int]]:
        """Owners whose process is gone, each with its lock held by us (release with
        :meth:`forget_owner`)."""
        dead: list[tuple[str, int]] = []
        for path in self._dir.glob(self._base + "*.lock"):
            owner = path.name.removeprefix(self._base).removesuffix(".lock")
            if owner == self.owner:
                continue
            fd = os.open(path, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)  # alive: its rows are its own to commit
                continue
            dead.append((owner, fd))
        return dead

    def files(self, owner: str) -> list[tuple[int, Path]]:
        """An owner's journal files, oldest generation first."""
        found: list[tuple[int, Path]] = []
        prefix = f"{self._base}{owner}."
        for path in self._dir.glob(prefix + "*"):
            suffix = path.name.removeprefix(prefix)
            if suffix.isdigit():
                found.append((int(suffix), path))
        return sorted(found)

    def recover(self, conn: sqlite3.Connection, owner: str, width: int) -> Recovered:
        """A dead owner's generations its database rows do not hold yet; each row a tuple of
        ``width`` values."""
        row = conn.execute(_GET_COMMITTED, (owner,)).fetchone()
        committed = 0 if row is None else int(row[0])
        recovered: Recovered = []
        for generation, path in self.files(owner):
            if generation <= committed:
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

    def forget_owner(self, conn: sqlite3.Connection, owner: str, lock_fd: int) -> None:
        """A dead owner's rows are all committed: delete its files, state row and lock."""
        for _, path in self.files(owner):
            path.unlink(missing_ok=True)
        conn.execute(_FORGET_OWNER, (owner,))
        self._lock_path(owner).unlink(missing_ok=True)
        os.close(lock_fd)

    def discard_through(self, generation: int) -> None:
        """Delete our files of generations up to ``generation`` (their rows are committed)."""
        for found, path in self.files(self.owner):
            if found <= generation and found != self.generation:
                path.unlink(missing_ok=True)

    def start(self, generation: int) -> None:
        self.generation = generation
        path = self._file(self.owner, generation)
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

    def close_all(self, conn: sqlite3.Connection) -> None:
        """A clean stop after the last flush: rows written since stay for the next start;
        with none, our files, state row and lock go."""
        self.close()
        current = self._file(self.owner, self.generation)
        if current.exists() and current.stat().st_size > 0:
            os.close(self._lock_fd)  # a later start recovers them
            return
        self.forget_owner(conn, self.owner, self._lock_fd)


__all__ = ["SET_COMMITTED", "STATE_SCHEMA", "Recovered", "RowJournal"]
