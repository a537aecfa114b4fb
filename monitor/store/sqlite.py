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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from monitor.store.base import (
    BOOLEANS,
    COUNT_ROWS,
    DAEMON_BUSY,
    DAEMON_ROWS,
    DETECTED_IS_EVIDENCE,
    TABLES,
    Correction,
    CoverageSpan,
    Dump,
    Isolation,
    Maintenance,
    Outage,
    StoreError,
    as_was,
    column_list,
    outage_from_row,
    refuse_rows,
    same_instance,
)

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
    3: """
    -- History before availmon: spans another source watched, declared by a person
    -- (who and when are in corrections, action coverage-add).
    ALTER TABLE coverage ADD COLUMN source TEXT;  -- NULL: this daemon; else e.g. 'Nagios'
    """,
    4: """
    -- Corrections with a full trail: weekly windows by command, removal that keeps the
    -- window, and what an outage edit or delete changed from.
    ALTER TABLE maintenance ADD COLUMN weekly TEXT;       -- "tue 07:00-08:00"; NULL: one-off
    ALTER TABLE maintenance ADD COLUMN removed_at REAL;   -- NULL while in force
    ALTER TABLE maintenance ADD COLUMN removed_by TEXT;
    ALTER TABLE corrections ADD COLUMN detail TEXT;       -- the outage as it was (JSON)
    """,
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


OUTAGE_COLUMNS = (
    "id, target, start, end, cause, source, excluded, excluded_reason, "
    "state, parent, end_reason, continues, instance, vantage"
)


COVERAGE_COLUMNS = "target, start, end, all_hours, source, id, instance, vantage"

ISOLATION_COLUMNS = "id, start, end, witnesses, instance, vantage"

Row = tuple[Any, ...]


def _plain(table: str, rows: list[Row]) -> list[Row]:
    """Rows as ``dump`` gives them: SQLite's 0 and 1 as the booleans they mean."""
    flags = [column in BOOLEANS for column in TABLES[table]]
    return [
        tuple(bool(v) if flag else v for flag, v in zip(flags, row, strict=True)) for row in rows
    ]


class SQLiteStore:
    """One SQLite database file, a ``Store``. Thread-safe: one connection behind a lock."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        create: bool = True,
        busy_timeout: float = 30.0,
        instance: str = "",
        vantage: str = "",
    ) -> None:
        self.path = str(path)
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
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: database schema version {version} is newer than this availmon "
                f"understands ({SCHEMA_VERSION}); upgrade availmon"
            )
        if version == 0 and tables:
            raise StoreError(f"{self.path}: not an availmon database (it has other tables)")
        return int(version)

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
        with self._transaction() as db:
            return sum(
                db.execute(
                    f"UPDATE {table} SET instance = ?, vantage = ? WHERE instance = '' AND {rows}",
                    (self.instance, self.vantage),
                ).rowcount
                for table, rows in DAEMON_ROWS.items()
            )

    def lock_exclusive(self) -> None:
        self._hold(".lock", fcntl.LOCK_EX, DAEMON_BUSY)

    def close(self) -> None:
        with self._lock:
            self._db.close()
            for fd in self._lockfiles:
                os.close(fd)
            self._lockfiles.clear()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, rolled back on any error; SQLite's errors become StoreError."""
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: write failed: {exc}") from None

    def _write(self, sql: str, args: tuple[object, ...] = ()) -> None:
        with self._transaction() as db:
            db.execute(sql, args)

    def _insert(self, sql: str, args: tuple[object, ...]) -> int:
        """Run an INSERT ... RETURNING id; the new (or, on a retry, existing) row's id."""
        with self._transaction() as db:
            return int(db.execute(sql, args).fetchone()[0])

    def _read(self, sql: str, args: tuple[object, ...] = ()) -> list[Row]:
        try:
            with self._lock:
                return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: read failed: {exc}") from None

    # -- coverage --------------------------------------------------------

    def close_stale_coverage(self) -> None:
        """Spans this instance left open when it died end at their last heartbeat."""
        self._write(
            "UPDATE coverage SET open = 0 WHERE open = 1 AND instance = ?", (self.instance,)
        )

    def begin_coverage(self, targets: Iterable[tuple[str, bool]], at: float) -> None:
        rows = [
            (name, at, at, int(all_hours), self.instance, self.vantage)
            for name, all_hours in targets
        ]
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO coverage (target, start, end, all_hours, instance, vantage) "
                "VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (instance, target) WHERE open = 1 AND source IS NULL DO NOTHING",
                rows,
            )

    def extend_coverage(self, at: float) -> None:
        """Heartbeat: every span this instance has open now reaches ``at``."""
        self._write(
            "UPDATE coverage SET end = max(end, ?) WHERE open = 1 AND instance = ?",
            (at, self.instance),
        )

    def end_coverage(self, targets: Iterable[str] | None, at: float) -> None:
        """Close this instance's open spans of ``targets`` (all when None) at ``at``."""
        names = None if targets is None else list(targets)
        close = "UPDATE coverage SET end = max(end, ?), open = 0 WHERE open = 1 AND instance = ?"
        with self._transaction() as db:
            if names is None:
                db.execute(close, (at, self.instance))
            else:
                db.executemany(close + " AND target = ?", [(at, self.instance, n) for n in names])

    def last_coverage_end(self, target: str) -> float | None:
        [(end,)] = self._read(
            "SELECT max(end) FROM coverage WHERE target = ? AND source IS NULL AND instance = ?",
            (target, self.instance),
        )
        return float(end) if end is not None else None

    def coverage(self, target: str, start: float, end: float) -> list[CoverageSpan]:
        rows = self._read(
            f"SELECT {COVERAGE_COLUMNS} FROM coverage "
            "WHERE target = ? AND end > ? AND start < ? ORDER BY start, id",
            (target, start, end),
        )
        return [CoverageSpan.from_row(r) for r in rows]

    def add_coverage(
        self, targets: Iterable[str], start: float, end: float, source: str, user: str, at: float
    ) -> list[int]:
        ids = []
        with self._transaction() as db:
            for target in targets:
                span_id = db.execute(
                    "INSERT INTO coverage (target, start, end, all_hours, open, source) "
                    "VALUES (?, ?, ?, 0, 0, ?)",
                    (target, start, end, source),
                ).lastrowid
                assert span_id is not None
                self._audit(db, at, user, "coverage-add", span_id, source)
                ids.append(span_id)
        return ids

    def remove_coverage(self, span_id: int, user: str, at: float) -> None:
        with self._transaction() as db:
            if not db.execute(
                "DELETE FROM coverage WHERE id = ? AND source IS NOT NULL", (span_id,)
            ).rowcount:
                raise StoreError(f"no declared coverage span with id {span_id}")
            self._audit(db, at, user, "coverage-remove", span_id, None)

    def added_coverage(self) -> list[CoverageSpan]:
        return [
            CoverageSpan.from_row(r)
            for r in self._read(
                f"SELECT {COVERAGE_COLUMNS} FROM coverage WHERE source IS NOT NULL "
                "ORDER BY start, id"
            )
        ]

    # -- outages ---------------------------------------------------------

    def insert_outage(
        self,
        target: str,
        start: float,
        cause: str,
        at: float,
        *,
        parent: str | None = None,
        continues: int | None = None,
    ) -> int:
        return self._insert(
            "INSERT INTO outages (target, start, cause, created_at, state, parent, continues, "
            "instance, vantage) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (instance, target, start) WHERE source = 'detected' "
            "DO UPDATE SET target = excluded.target RETURNING id",
            (
                target,
                start,
                cause,
                at,
                "down" if parent is None else "unreachable",
                parent,
                continues,
                self.instance,
                self.vantage,
            ),
        )

    def close_outage(self, outage_id: int, end: float, reason: str | None = None) -> None:
        self._write(
            "UPDATE outages SET end = ?, end_reason = ? WHERE id = ? AND end IS NULL",
            (end, reason, outage_id),
        )

    def open_outages(self) -> list[Outage]:
        return [
            outage_from_row(r)
            for r in self._read(
                f"SELECT {OUTAGE_COLUMNS} FROM outages WHERE end IS NULL AND source = 'detected' "
                "AND instance = ? ORDER BY start, id",
                (self.instance,),
            )
        ]

    def outages(
        self, target: str | None = None, since: float | None = None, until: float | None = None
    ) -> list[Outage]:
        """Outages overlapping [since, until), oldest first."""
        where = ["1"]
        args: list[str | float] = []
        if target is not None:
            where.append("target = ?")
            args.append(target)
        if since is not None:
            where.append("(end IS NULL OR end > ?)")
            args.append(since)
        if until is not None:
            where.append("start < ?")
            args.append(until)
        return [
            outage_from_row(r)
            for r in self._read(
                f"SELECT {OUTAGE_COLUMNS} FROM outages WHERE {' AND '.join(where)} "
                "ORDER BY start, id",
                tuple(args),
            )
        ]

    def outage_counts(self) -> dict[str, int]:
        """Detected outages per target, all time (seeds ``availmon_outages_total``)."""
        return dict(
            self._read(
                "SELECT target, count(*) FROM outages WHERE source = 'detected' GROUP BY target"
            )
        )

    def outages_since(self, since: float) -> list[Outage]:
        """Outages still open or ended after ``since``, all targets: the live tail's input."""
        return [
            outage_from_row(r)
            for r in self._read(
                f"SELECT {OUTAGE_COLUMNS} FROM outages WHERE end IS NULL OR end > ? "
                "ORDER BY start, id",
                (since,),
            )
        ]

    def add_manual_outage(
        self, target: str, start: float, end: float, cause: str, user: str, at: float
    ) -> int:
        """An outage known from elsewhere; counts over its whole span."""
        with self._transaction() as db:
            outage_id = db.execute(
                "INSERT INTO outages (target, start, end, cause, source, created_at, "
                "created_by) VALUES (?, ?, ?, ?, 'manual', ?, ?)",
                (target, start, end, cause, at, user),
            ).lastrowid
            self._audit(db, at, user, "outage-add", outage_id, cause)
            return outage_id or 0

    @staticmethod
    def _outage_row(db: sqlite3.Connection, outage_id: int) -> Outage:
        row = db.execute(
            f"SELECT {OUTAGE_COLUMNS} FROM outages WHERE id = ?", (outage_id,)
        ).fetchone()
        if row is None:
            raise StoreError(f"no outage with id {outage_id}")
        return outage_from_row(row)

    def _manual_outage(self, db: sqlite3.Connection, outage_id: int) -> Outage:
        outage = self._outage_row(db, outage_id)
        if outage.source != "manual":
            raise StoreError(DETECTED_IS_EVIDENCE)
        return outage

    def edit_manual_outage(
        self,
        outage_id: int,
        start: float,
        end: float,
        cause: str,
        reason: str,
        user: str,
        at: float,
    ) -> Outage:
        with self._transaction() as db:
            was = self._manual_outage(db, outage_id)
            db.execute(
                "UPDATE outages SET start = ?, end = ?, cause = ? WHERE id = ?",
                (start, end, cause, outage_id),
            )
            self._audit(db, at, user, "outage-edit", outage_id, reason, as_was(was))
            return self._outage_row(db, outage_id)

    def delete_manual_outage(self, outage_id: int, reason: str, user: str, at: float) -> Outage:
        with self._transaction() as db:
            was = self._manual_outage(db, outage_id)
            db.execute("DELETE FROM outages WHERE id = ?", (outage_id,))
            self._audit(db, at, user, "outage-delete", outage_id, reason, as_was(was))
            return was

    def set_excluded(
        self, outage_id: int, excluded: bool, reason: str | None, user: str, at: float
    ) -> Outage:
        """Mark an outage as a false positive (or undo it), keeping the reason for audit."""
        with self._transaction() as db:
            self._outage_row(db, outage_id)
            db.execute(
                "UPDATE outages SET excluded = ?, excluded_reason = ? WHERE id = ?",
                (int(excluded), reason if excluded else None, outage_id),
            )
            self._audit(db, at, user, "exclude" if excluded else "include", outage_id, reason)
            return self._outage_row(db, outage_id)

    # -- isolation -------------------------------------------------------

    def insert_isolation(self, start: float, witnesses: Iterable[str], at: float) -> int:
        return self._insert(
            "INSERT INTO isolations (start, witnesses, created_at, instance, vantage) "
            "VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (instance, start) DO UPDATE SET start = excluded.start RETURNING id",
            (start, Isolation.witnesses_text(witnesses), at, self.instance, self.vantage),
        )

    def close_isolation(self, isolation_id: int, end: float) -> None:
        self._write(
            "UPDATE isolations SET end = ? WHERE id = ? AND end IS NULL", (end, isolation_id)
        )

    def isolations(self, since: float | None = None, until: float | None = None) -> list[Isolation]:
        rows = self._read(
            f"SELECT {ISOLATION_COLUMNS} FROM isolations "
            "WHERE (? IS NULL OR end IS NULL OR end > ?) AND (? IS NULL OR start < ?) "
            "ORDER BY start, id",
            (since, since, until, until),
        )
        return [Isolation.from_row(r) for r in rows]

    # -- maintenance -----------------------------------------------------

    def add_maintenance(
        self,
        scope: str,
        name: str | None,
        start: float,
        end: float,
        reason: str,
        user: str,
        at: float,
        weekly: str | None = None,
    ) -> int:
        with self._transaction() as db:
            window_id = db.execute(
                "INSERT INTO maintenance (scope, name, start, end, reason, created_at, "
                "created_by, weekly) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (scope, name, start, end, reason, at, user, weekly),
            ).lastrowid
            self._audit(db, at, user, "maintenance-add", window_id, reason)
            return window_id or 0

    def remove_maintenance(
        self, window_id: int, user: str, at: float, reason: str | None = None
    ) -> None:
        with self._transaction() as db:
            if not db.execute(
                "UPDATE maintenance SET removed_at = ?, removed_by = ? "
                "WHERE id = ? AND removed_at IS NULL",
                (at, user, window_id),
            ).rowcount:
                raise StoreError(f"no maintenance window with id {window_id}")
            self._audit(db, at, user, "maintenance-remove", window_id, reason)

    def maintenance(self, include_removed: bool = False) -> list[Maintenance]:
        return [
            Maintenance(*r)
            for r in self._read(
                "SELECT id, scope, name, start, end, reason, weekly, removed_at, removed_by "
                "FROM maintenance WHERE ? OR removed_at IS NULL ORDER BY start, id",
                (include_removed,),
            )
        ]

    # -- corrections -----------------------------------------------------

    @staticmethod
    def _audit(
        db: sqlite3.Connection,
        at: float,
        user: str,
        action: str,
        subject_id: int | None,
        reason: str | None,
        detail: str | None = None,
    ) -> None:
        db.execute(
            "INSERT INTO corrections (at, user, action, subject_id, reason, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (at, user, action, subject_id, reason, detail),
        )

    def corrections(self) -> list[Correction]:
        return [
            Correction(*r)
            for r in self._read(
                "SELECT id, at, user, action, subject_id, reason, detail FROM corrections "
                "ORDER BY id"
            )
        ]

    def change_token(self) -> int:
        """The trail's last id: it grows with every correction, and with nothing else."""
        [(last,)] = self._read("SELECT coalesce(max(id), 0) FROM corrections")
        return int(last)

    # -- moving the whole history ----------------------------------------

    def dump(self) -> Dump:
        try:
            with self._lock:
                self._db.execute("BEGIN")  # one snapshot: a daemon's write lands wholly or not
                try:
                    return {
                        table: _plain(
                            table,
                            self._db.execute(
                                f"SELECT {column_list(table)} FROM {table} ORDER BY id"
                            ).fetchall(),
                        )
                        for table in TABLES
                    }
                finally:
                    self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: read failed: {exc}") from None

    def load(self, dump: Dump, *, replace: bool = False) -> None:
        with self._transaction() as db:
            if not replace:
                [(rows,)] = db.execute(COUNT_ROWS).fetchall()
                refuse_rows(self.path, rows)
            for table, columns in TABLES.items():
                db.execute(f"DELETE FROM {table}")
                db.executemany(
                    f"INSERT INTO {table} ({column_list(table)}) "
                    f"VALUES ({', '.join('?' * len(columns))})",
                    dump[table],
                )
