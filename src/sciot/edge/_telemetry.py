"""Telemetry persisted to SQLite, one row per inference, written off the hot path.

The request path only appends a :class:`TelemetryRow` to a bounded in-memory buffer (a deque
append, which is thread-safe and allocation-light); a background thread writes what accumulated
every ``flush_interval_s`` in one transaction. If the writer falls behind by more than
``max_pending_rows`` the newest rows are dropped *and counted* (``dropped_rows``, exported in
``/metrics``), so memory stays bounded and no loss is silent.

Fair share: one device may hold at most ``device_share`` of the pending rows, so a device
flooding the writer fills its own share and not the buffer honest devices need.

Durability: :meth:`TelemetryWriter.flush` pops and writes under one lock, so when it returns
every row appended before the call is committed (by this call or by an earlier one holding the
lock). The frame router calls it before acknowledging a report: an acknowledged report
survives kill -9 of the edge (SQLite WAL; a committed transaction is in the WAL file). Every
other row is appended to a journal file as it is made (:mod:`sciot.edge._row_journal`) and
replayed at the next start if the process died before committing it.
"""

from __future__ import annotations

import collections
import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from sciot.edge._row_journal import SET_COMMITTED, STATE_SCHEMA, RowJournal
from sciot.errors import ConfigError

SCHEMA = """
CREATE TABLE IF NOT EXISTS inferences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_s REAL NOT NULL,
    device_id TEXT NOT NULL,
    model_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    cut INTEGER NOT NULL,
    next_cut INTEGER,
    device_s REAL,
    uplink_bytes INTEGER,
    downlink_bytes INTEGER,
    transfer_s REAL,
    edge_s REAL,
    end_to_end_s REAL,
    policy TEXT NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS inferences_device ON inferences (device_id, at_s);
"""


class TelemetryRow(NamedTuple):
    """One inference as the ``inferences`` table stores it (fields in column order).

    A typed named tuple rather than a dataclass: SQLite binds it as it is, so the writer
    thread inserts a batch without converting each row, and the request path builds it in
    one allocation. ``None`` means "not known to the edge" (an offline inference's bytes).
    """

    at_s: float
    device_id: str
    model_id: str
    seq: int
    cut: int
    next_cut: int | None
    device_s: float | None
    uplink_bytes: int | None
    downlink_bytes: int | None
    transfer_s: float | None
    edge_s: float | None
    end_to_end_s: float | None
    policy: str
    outcome: str


COLUMNS: tuple[str, ...] = TelemetryRow._fields
# What binding or inserting one row can raise when a value does not fit a column (an integer
# beyond 64 bits, a wrong type); the database failing as a whole is a plain sqlite3.Error.
_BAD_ROW_ERRORS = (
    OverflowError,
    TypeError,
    ValueError,
    sqlite3.InterfaceError,
    sqlite3.IntegrityError,
    sqlite3.ProgrammingError,
)
_ROW_ERRORS = (*_BAD_ROW_ERRORS, sqlite3.Error)
log = logging.getLogger(__name__)
_INSERT = f"INSERT INTO inferences ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


@dataclass(frozen=True, slots=True, kw_only=True)
class TelemetryCounts:
    written_rows: int
    pending_rows: int
    dropped_rows: int


class TelemetryWriter:
    """Buffers rows and writes them to ``path`` in batches from its own thread."""

    def __init__(
        self,
        path: Path,
        *,
        flush_interval_s: float,
        max_pending_rows: int,
        device_share: float = 1.0,
    ) -> None:
        self.path = path
        self._flush_interval_s = flush_interval_s
        self._max_pending = max_pending_rows
        self._device_max = max(1, int(max_pending_rows * device_share))
        self._pending: collections.deque[TelemetryRow] = collections.deque()
        self._per_device: dict[str, int] = {}
        self._count_lock = threading.Lock()
        self._written = 0
        self._dropped = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn = self._open(path)
        self._conn_lock = threading.Lock()
        self.recovered_rows = 0
        """Rows of an earlier run that died before committing them, replayed at start."""
        self._journal = RowJournal(path)
        self._owner = self._journal.owner
        self._recover()
        self._journal.start(1)

    def _recover(self) -> None:
        """Replay the uncommitted journal generations of every writer that died."""
        journal = self._journal
        for owner, lock_fd in journal.dead_owners():
            for generation, rows in journal.recover(self._conn, owner, len(COLUMNS)):
                batch = [TelemetryRow(*r) for r in rows]  # type: ignore[arg-type]
                try:
                    self._write(batch, generation, owner)
                except _ROW_ERRORS:
                    self._write_each(batch, generation, owner)
                self.recovered_rows += len(batch)
            journal.forget_owner(self._conn, owner, lock_fd)
        if self.recovered_rows:
            log.warning(
                "telemetry: %d rows of a run that stopped before committing them were "
                "recovered from the journal",
                self.recovered_rows,
            )

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        try:
            if path.parent != Path():
                path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(SCHEMA)
            conn.executescript(STATE_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"telemetry database {path} cannot be opened: {exc}") from exc
        return conn

    def append(self, row: TelemetryRow) -> bool:
        """Queue a row for the next flush; False (and counted as dropped) when the buffer or
        the device's share of it is full."""
        with self._count_lock:
            held = self._per_device.get(row.device_id, 0)
            if len(self._pending) >= self._max_pending or held >= self._device_max:
                self._dropped += 1
                return False
            self._per_device[row.device_id] = held + 1
            self._pending.append(row)
            self._journal.write(row)
        return True

    def room_for(self, device_id: str, rows: int) -> bool:
        """Whether ``rows`` more rows of ``device_id`` fit now (a report is taken whole or
        refused whole, so the device can send it again later)."""
        with self._count_lock:
            held = self._per_device.get(device_id, 0)
            return (
                len(self._pending) + rows <= self._max_pending and held + rows <= self._device_max
            )

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sciot-telemetry", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._flush_interval_s):
            try:
                self.flush()
            except Exception:  # a bug; the thread must keep writing the next batches
                log.exception("telemetry flush failed")

    def flush(self) -> int:
        """Write everything pending now; returns the number of rows written."""
        with self._conn_lock:
            with self._count_lock:
                batch = list(self._pending)
                self._pending.clear()
                self._per_device.clear()
                if not batch:
                    return 0
                generation = self._journal.rotate()
            try:
                self._write(batch, generation)
                written = len(batch)
            except _ROW_ERRORS:
                written = self._write_each(batch, generation)
            self._written += written
            self._journal.discard_through(generation)
        return written

    def _write(self, batch: list[TelemetryRow], generation: int, owner: str = "") -> None:
        conn = self._conn
        try:
            conn.execute("BEGIN")
            conn.executemany(_INSERT, batch)
            conn.execute(SET_COMMITTED, (owner or self._owner, generation))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _write_each(self, batch: list[TelemetryRow], generation: int, owner: str = "") -> int:
        """The batch failed: write its rows one by one, so one bad row (a value SQLite cannot
        bind) costs only itself; each refused row is counted as dropped."""
        written, refused, first = 0, 0, ""
        try:
            self._conn.execute("BEGIN")
            for row in batch:
                try:
                    self._conn.execute(_INSERT, row)
                    written += 1
                except _BAD_ROW_ERRORS as exc:
                    refused += 1
                    first = first or f"{type(exc).__name__}: {exc} (device {row.device_id!r})"
            self._conn.execute(SET_COMMITTED, (owner or self._owner, generation))
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:  # the database itself fails (disk full, I/O): all lost
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            self._dropped += len(batch)
            log.error("telemetry: %d rows dropped, the database failed: %s", len(batch), exc)
            return 0
        if refused:
            self._dropped += refused
            log.warning(
                "telemetry: %d row(s) the database refused were dropped; %s", refused, first
            )
        return written

    def counts(self) -> TelemetryCounts:
        return TelemetryCounts(
            written_rows=self._written, pending_rows=len(self._pending), dropped_rows=self._dropped
        )

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10.0)
            self._thread = None
        self.flush()
        with self._conn_lock:
            self._journal.close_all(self._conn)
            self._conn.close()


def read_rows(path: Path) -> list[dict[str, object]]:
    """All telemetry rows of a database, oldest first (for tests, analysis and the demo)."""
    try:
        conn = sqlite3.connect(path)
    except sqlite3.Error as exc:
        raise ConfigError(f"telemetry database {path} cannot be opened: {exc}") from exc
    try:
        cursor = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM inferences ORDER BY id")
        return [dict(zip(COLUMNS, row, strict=True)) for row in cursor]
    except sqlite3.Error as exc:
        raise ConfigError(f"telemetry database {path} is not a sciot database: {exc}") from exc
    finally:
        conn.close()
