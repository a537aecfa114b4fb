"""The SQLite store: outages, coverage spans, maintenance windows and corrections.

Never one row per probe: the file grows with outages and restarts, not with
time x targets. Every state change is committed (WAL, synchronous=FULL) before
the caller reports it, so ``kill -9`` or a power cut loses nothing already
exported. The schema carries ``PRAGMA user_version``; an unreadable or newer
database is a clear error, never a silent reset.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from monitor.store.base import DAEMON_BUSY, StoreError, same_instance
from monitor.store.sql import DECLARED_COVERAGE, FULL_TRAIL, Cursor, Row, SQLStore, known_version

SCHEMA_VERSION = 5

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE outages (
        id INTEGER PRIMARY KEY,
        target TEXT NOT NULL,
        start REAL NOT NULL,
        end REAL,                       -- NULL while open
        cause TEXT NOT NULL,
        source TEXT NOT NULL DEFAULT 'detected',   -- detected | manual
        created_at REAL NOT NULL,
        created_by TEXT NOT NULL DEFAULT 'availmon',
        excluded INTEGER NOT NULL DEFAULT 0,
        excluded_reason TEXT
    );
    CREATE INDEX outages_target_start ON outages(target, start);
    CREATE INDEX outages_open ON outages(target) WHERE end IS NULL;
    CREATE INDEX outages_end ON outages(end);
    CREATE TABLE coverage (
        id INTEGER PRIMARY KEY,
        target TEXT NOT NULL,
        start REAL NOT NULL,
        end REAL NOT NULL,              -- extended by the heartbeat while open
        all_hours INTEGER NOT NULL,     -- probe_outside_hours was true
        open INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX coverage_target_start ON coverage(target, start);
    CREATE INDEX coverage_open ON coverage(open) WHERE open = 1;
    CREATE TABLE maintenance (
        id INTEGER PRIMARY KEY,
        scope TEXT NOT NULL,            -- target | group | all
        name TEXT,                      -- target or group name; NULL for all
        start REAL NOT NULL,
        end REAL NOT NULL,
        reason TEXT NOT NULL,
        created_at REAL NOT NULL,
        created_by TEXT NOT NULL
    );
    CREATE TABLE corrections (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        user TEXT NOT NULL,
        action TEXT NOT NULL,           -- outage-add | exclude | include | maintenance-add | ...
        subject_id INTEGER,
        reason TEXT
    );
    """,
    2: """
    -- Isolation and dependencies: why an outage is what it is, and when the monitor was
    -- cut off.
    ALTER TABLE outages ADD COLUMN state TEXT NOT NULL DEFAULT 'down';  -- down | unreachable
    ALTER TABLE outages ADD COLUMN parent TEXT;       -- unreachable: the failing parent
    ALTER TABLE outages ADD COLUMN end_reason TEXT;   -- isolation | parent-recovered | NULL
    ALTER TABLE outages ADD COLUMN continues INTEGER; -- the outage this one continues
    CREATE TABLE isolations (
        id INTEGER PRIMARY KEY,
        start REAL NOT NULL,
        end REAL,                       -- NULL while the monitor is cut off
        witnesses TEXT NOT NULL,        -- the witness set, comma-separated
        created_at REAL NOT NULL
    );
    CREATE INDEX isolations_end ON isolations(end);
    """,
    3: DECLARED_COVERAGE.format(text="TEXT"),
    4: FULL_TRAIL.format(text="TEXT", time="REAL"),
    5: """
    -- Instances sharing one database: who wrote each row and from where ('' for rows
    -- written by people, and for history from before instances had names).
    ALTER TABLE outages ADD COLUMN instance TEXT NOT NULL DEFAULT '';
    ALTER TABLE outages ADD COLUMN vantage TEXT NOT NULL DEFAULT '';
    ALTER TABLE coverage ADD COLUMN instance TEXT NOT NULL DEFAULT '';
    ALTER TABLE coverage ADD COLUMN vantage TEXT NOT NULL DEFAULT '';
    ALTER TABLE isolations ADD COLUMN instance TEXT NOT NULL DEFAULT '';
    ALTER TABLE isolations ADD COLUMN vantage TEXT NOT NULL DEFAULT '';
    -- Retried writes find the row already there: one detected outage per instance, target
    -- and start; one isolation per instance and start; one open span per instance and target.
    CREATE UNIQUE INDEX outages_detected ON outages(instance, target, start)
        WHERE source = 'detected';
    CREATE UNIQUE INDEX isolations_start ON isolations(instance, start);
    CREATE UNIQUE INDEX coverage_open_own ON coverage(instance, target)
        WHERE open = 1 AND source IS NULL;
    """,
}


class SQLiteStore(SQLStore):
    """One SQLite database file, a ``Store``. Thread-safe: one connection behind a lock."""

    OPEN = "open = 1"
    FALSE = "0"
    GREATEST = "max"
    LOCK_ROW = ""  # BEGIN IMMEDIATE has locked the whole database already
    CHANGE_TOKEN = "SELECT coalesce(max(id), 0) FROM corrections"  # grows with corrections only
    CHANGED = ()

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        create: bool = True,
        busy_timeout: float = 30.0,
        instance: str = "",
        vantage: str = "",
    ) -> None:
        self.path = self.name = str(path)
        self.instance, self.vantage = instance, vantage
        if not create and not Path(self.path).exists():
            raise StoreError(
                f"no database at {os.path.abspath(self.path)} (availmon run creates it on "
                "first start; a command that writes creates it only when given --create)"
            )
        self._lock = threading.RLock()
        self._lockfiles: list[int] = []
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, check_same_thread=False, timeout=busy_timeout, isolation_level=None
            )
            self._use_wal(busy_timeout)
            self._db.execute("PRAGMA synchronous=FULL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot use database: {exc}") from None
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot open database: {exc.strerror}") from None

    # -- lifecycle -------------------------------------------------------

    def _use_wal(self, busy_timeout: float) -> None:
        """WAL, so reports read while the daemon writes.  Switching a new file to it while
        another process does the same fails at once (SQLite's busy handler does not cover
        it), so it is retried until ``busy_timeout``."""
        deadline = time.monotonic() + busy_timeout
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _migrate(self) -> None:
        """Bring the schema up to date, one migration per transaction.  Daemons starting
        together on a new file race for it: the loser finds each step already applied
        (its script fails, the version has moved) and goes on from there."""
        for _ in range(SCHEMA_VERSION + 1):  # each turn applies a step or sees it applied
            version = self._schema_version()
            if version == SCHEMA_VERSION:
                return
            step = version + 1
            try:
                # One script, one transaction: a migration is applied whole or not at all.
                self._db.executescript(
                    f"BEGIN IMMEDIATE; {MIGRATIONS[step]}; PRAGMA user_version = {step}; COMMIT;"
                )
            except sqlite3.OperationalError:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if self._schema_version() < step:
                    raise

    def _schema_version(self) -> int:
        """The schema version, read with the table count in one snapshot: a newer or
        foreign schema is refused."""
        self._db.execute("BEGIN")
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            tables = self._db.execute(
                "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            ).fetchone()[0]
        finally:
            self._db.execute("COMMIT")
        return known_version(
            self.path, int(version), SCHEMA_VERSION, foreign=version == 0 and tables > 0
        )

    def _hold(self, suffix: str, how: int, refusal: str) -> None:
        """Hold an OS lock on the file beside the database named ``suffix`` (released
        when the process ends, however it ends)."""
        fd = os.open(self.path + suffix, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, how | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreError(f"{self.path}: {refusal}") from None
        self._lockfiles.append(fd)

    def claim_instance(self) -> int:
        """Every daemon shares ``DB.lock`` (which ``db copy`` takes alone); each holds the
        lock file of its own name, ``DB.NAME.lock``, alone."""
        self._hold(".lock", fcntl.LOCK_SH, DAEMON_BUSY)
        self._hold(
            f".{quote(self.instance, safe='')}.lock", fcntl.LOCK_EX, same_instance(self.instance)
        )
        return self._adopt_history()

    def lock_exclusive(self) -> None:
        self._hold(".lock", fcntl.LOCK_EX, DAEMON_BUSY)

    def close(self) -> None:
        with self._lock:
            self._db.close()
            for fd in self._lockfiles:
                os.close(fd)
            self._lockfiles.clear()

    @contextmanager
    def _begun(self, begin: str, doing: str) -> Iterator[sqlite3.Cursor]:
        """A transaction begun by ``begin``, committed on leaving and rolled back on any
        error; SQLite's errors become StoreError."""
        try:
            with self._lock:
                self._db.execute(begin)
                try:
                    yield self._db.cursor()
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {doing} failed: {exc}") from None

    def _transaction(self) -> AbstractContextManager[sqlite3.Cursor]:
        return self._begun("BEGIN IMMEDIATE", "write")

    def _snapshot(self) -> AbstractContextManager[sqlite3.Cursor]:
        return self._begun("BEGIN", "read")  # a daemon's write lands wholly or not

    def _ids_given(self, cursor: Cursor, table: str) -> None:
        """Nothing to do: SQLite's next rowid already follows the highest."""

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        try:
            with self._lock:
                return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: read failed: {exc}") from None
