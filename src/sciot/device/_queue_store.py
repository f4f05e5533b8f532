"""The offline queue kept in SQLite, so a device restart (or kill -9) loses no record.

:class:`PersistentOfflineQueue` behaves as :class:`~sciot.device.OfflineQueue` (FIFO, bounded,
the oldest dropped and counted when full, failed uploads put back in order) and mirrors every
record into a SQLite file (WAL) as it is pushed. A record leaves the file only when the edge
acknowledged its report (:meth:`PersistentOfflineQueue.confirm`): records taken for an upload
stay on disk until then, so a device killed mid-upload sends them again after its restart
(the edge may then see one report twice; it never misses one). The drop count is stored too,
so losses stay counted across restarts. Records travel in the file as one-record
``OfflineReport`` frames: the wire format already encodes them exactly.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Iterable
from pathlib import Path

from sciot.errors import ConfigError, WireError
from sciot.wire import OfflineRecord, OfflineReport, TensorEncoding, decode, encode

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (id INTEGER PRIMARY KEY, frame BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class PersistentOfflineQueue:
    """An :class:`~sciot.device.OfflineQueue` of :class:`~sciot.wire.OfflineRecord` backed by
    the SQLite file ``path``; records found there at start are queued first."""

    def __init__(self, path: Path, capacity: int, *, device_id: str, model_id: str) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.path = path
        self.pushed = 0
        self._device_id = device_id
        self._model_id = model_id
        self._items: deque[tuple[int, OfflineRecord]] = deque()
        self._in_flight: list[tuple[int, OfflineRecord]] = []
        self._conn = self._open(path)
        self.dropped = self._counter("dropped")
        self.restored = 0
        """Records found in the file at start (the backlog of an earlier run)."""
        self._next_id = 1
        self._load()

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                f"offline queue {path} cannot be opened: {exc}; set offline_queue_path to a "
                "writable file"
            ) from exc
        return conn

    def _counter(self, name: str) -> int:
        row = self._conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return 0 if row is None else int(row[0])

    def _load(self) -> None:
        unreadable = 0
        for record_id, frame in self._conn.execute("SELECT id, frame FROM records ORDER BY id"):
            self._next_id = record_id + 1
            try:
                report = decode(bytes(frame))
            except WireError:
                unreadable += 1
                continue
            if isinstance(report, OfflineReport) and len(report.records) == 1:
                self._items.append((record_id, report.records[0]))
            else:
                unreadable += 1
        self.restored = len(self._items)
        if unreadable:
            self._count_dropped(unreadable)
        self._trim_front()

    def __len__(self) -> int:
        return len(self._items)

    def push(self, record: OfflineRecord) -> bool:
        """Append ``record`` (on disk before this returns); False when the oldest had to go."""
        self.pushed += 1
        frame = encode(
            OfflineReport(device_id=self._device_id, model_id=self._model_id, records=(record,)),
            encoding=TensorEncoding.RAW_ZLIB,
        )
        record_id = self._next_id
        self._next_id += 1
        self._conn.execute("INSERT INTO records (id, frame) VALUES (?, ?)", (record_id, frame))
        self._items.append((record_id, record))
        return self._trim_front() == 0

    def take(self, limit: int) -> list[OfflineRecord]:
        """The oldest records, up to ``limit``; they stay on disk until :meth:`confirm`."""
        batch: list[OfflineRecord] = []
        while self._items and len(batch) < limit:
            entry = self._items.popleft()
            self._in_flight.append(entry)
            batch.append(entry[1])
        return batch

    def put_back(self, records: Iterable[OfflineRecord]) -> int:
        """Return the newest taken records (whose upload failed) to the front, in order."""
        count = len(list(records))
        if count:
            returned, self._in_flight = self._in_flight[-count:], self._in_flight[:-count]
            self._items.extendleft(reversed(returned))
        return self._trim_front()

    def confirm(self) -> int:
        """The edge acknowledged every record taken and not put back: delete them from disk."""
        ids = [(record_id,) for record_id, _ in self._in_flight]
        self._in_flight = []
        if ids:
            self._conn.executemany("DELETE FROM records WHERE id = ?", ids)
        return len(ids)

    def close(self) -> None:
        self._conn.close()

    def _trim_front(self) -> int:
        dropped: list[tuple[int]] = []
        while len(self._items) > self.capacity:
            dropped.append((self._items.popleft()[0],))
        if dropped:
            self._conn.execute("BEGIN")
            self._conn.executemany("DELETE FROM records WHERE id = ?", dropped)
            self._count_dropped(len(dropped))
            self._conn.execute("COMMIT")
        return len(dropped)

    def _count_dropped(self, count: int) -> None:
        self.dropped += count
        self._conn.execute(
            "INSERT INTO counters (name, value) VALUES ('dropped', ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (self.dropped,),
        )


__all__ = ["PersistentOfflineQueue"]
