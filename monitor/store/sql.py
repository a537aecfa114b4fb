"""The SQL both stores speak, written once: every ``Store`` call as its statements and
the Python around them (rows to records, the audit trail, ``dump`` and ``load``).

A backend subclasses ``SQLStore`` and keeps what is its own: connecting, beginning a
write transaction or a snapshot, turning its driver's errors into StoreErrors, its
locks (``claim_instance``, ``lock_exclusive``, ``close``), its schema and migrations;
and it spells the few words the two dialects say differently (``OPEN`` and the rest
below). Statements take ``?`` placeholders (sqlite3's; the PostgreSQL store sends them
as psycopg's ``%s``), so no statement may hold a literal ``?``. ``end`` and ``user``
are keywords in PostgreSQL: always quoted.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar, Protocol

from monitor.store.base import (
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
    outage_from_row,
)

Row = tuple[Any, ...]

OUTAGE_COLUMNS = (
    'id, target, start, "end", cause, source, excluded, excluded_reason, '
    "state, parent, end_reason, continues, instance, vantage"
)
COVERAGE_COLUMNS = 'target, start, "end", all_hours, source, id, instance, vantage'
ISOLATION_COLUMNS = 'id, start, "end", witnesses, instance, vantage'

# Two schema steps both backends took, in each one's words for a text and a time column
# (SQLite's TEXT and REAL, PostgreSQL's text and double precision).
DECLARED_COVERAGE = """
    -- History before availmon: spans another source watched, declared by a person
    -- (who and when are in corrections, action coverage-add).
    ALTER TABLE coverage ADD COLUMN source {text};  -- NULL: this daemon; else e.g. 'Nagios'
    """
FULL_TRAIL = """
    -- Corrections with a full trail: weekly windows by command, removal that keeps the
    -- window, and what an outage edit or delete changed from.
    ALTER TABLE maintenance ADD COLUMN weekly {text};       -- "tue 07:00-08:00"; NULL: one-off
    ALTER TABLE maintenance ADD COLUMN removed_at {time};   -- NULL while in force
    ALTER TABLE maintenance ADD COLUMN removed_by {text};
    ALTER TABLE corrections ADD COLUMN detail {text};       -- the outage as it was (JSON)
    """

BOOLEANS = frozenset({"excluded", "all_hours", "open"})  # SQLite keeps them as 0 and 1

# The rows a daemon writes, by table: what the first named instance adopts from the
# history written before instances had names (``claim_instance``).
DAEMON_ROWS = {
    "outages": "source = 'detected'",
    "coverage": "source IS NULL",
    "isolations": "1 = 1",
}


def column_list(table: str) -> str:
    """``table``'s columns, quoted (``end`` and ``user`` are keywords), for SELECT and INSERT."""
    return ", ".join(f'"{column}"' for column in TABLES[table])


# How many rows the database holds, all tables together.
COUNT_ROWS = "SELECT " + " + ".join(f"(SELECT count(*) FROM {table})" for table in TABLES)


def refuse_rows(name: str, rows: int) -> None:
    """``load`` without ``replace``: a database that holds history is never merged into."""
    if rows:
        raise StoreError(
            f"{name}: already holds {rows} rows of history; copy only into an empty "
            "database (or give --force to replace them)"
        )


def known_version(name: str, version: int, supported: int, *, foreign: bool) -> int:
    """``version`` if this availmon can use it: a foreign or newer schema is refused."""
    if foreign:
        raise StoreError(f"{name}: not an availmon database (it has other tables)")
    if version > supported:
        raise StoreError(
            f"{name}: database schema version {version} is newer than this availmon "
            f"understands ({supported}); upgrade availmon"
        )
    return version


def _plain(table: str, rows: list[Row]) -> list[Row]:
    """Rows as ``dump`` gives them: booleans as bool (SQLite's 0 and 1 included)."""
    flags = [column in BOOLEANS for column in TABLES[table]]
    return [
        tuple(bool(v) if flag else v for flag, v in zip(flags, row, strict=True)) for row in rows
    ]


class Cursor(Protocol):
    """What the shared SQL needs of a driver's cursor, ``?`` placeholders taken."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, args: Sequence[Any] = (), /) -> Cursor: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> object: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class SQLStore(ABC):
    """A ``Store`` in SQL; a backend supplies the connection and its dialect."""

    instance: str
    vantage: str
    name: str  # the database as messages name it (never with a password)

    # -- the dialect -----------------------------------------------------

    OPEN: ClassVar[str]  # the predicate "the span is open", as the partial indexes say it
    FALSE: ClassVar[str]  # a boolean column's false
    GREATEST: ClassVar[str]  # the function giving the larger of two values
    LOCK_ROW: ClassVar[str]  # after a SELECT of a row about to be corrected
    CHANGE_TOKEN: ClassVar[str]  # reads change_token()
    CHANGED: ClassVar[tuple[str, ...]]  # run after each correction and load

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Cursor]:
        """One write transaction, committed on leaving and rolled back on any error; the
        driver's errors become StoreErrors."""

    @abstractmethod
    def _snapshot(self) -> AbstractContextManager[Cursor]:
        """One consistent read of every table, whatever daemons commit meanwhile."""

    @abstractmethod
    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        """One query's rows, outside any transaction."""

    @abstractmethod
    def _ids_given(self, cursor: Cursor, table: str) -> None:
        """After ``load`` wrote ``table``'s rows with their ids: the next id generated
        must follow the highest."""

    def _insert(self, sql: str, args: Sequence[Any]) -> int:
        """An INSERT ... RETURNING id, its own transaction: the new row's id (on a retry
        that finds the row already there, that row's)."""
        with self._transaction() as cursor:
            return _id(cursor.execute(sql, args))

    def _write(self, sql: str, args: Sequence[Any]) -> None:
        """One statement, its own transaction."""
        with self._transaction() as cursor:
            cursor.execute(sql, args)

    # -- lifecycle -------------------------------------------------------

    def _adopt_history(self) -> int:
        """The rows daemons wrote before instances had names become this instance's."""
        with self._transaction() as cursor:
            return sum(
                cursor.execute(
                    f"UPDATE {table} SET instance = ?, vantage = ? WHERE instance = '' AND {rows}",
                    self._who(),
                ).rowcount
                for table, rows in DAEMON_ROWS.items()
            )

    def _who(self) -> tuple[str, str]:
        """What the daemon's rows carry: its instance and vantage."""
        return self.instance, self.vantage

    # -- coverage --------------------------------------------------------

    def close_stale_coverage(self) -> None:
        """Spans this instance left open when it died end at their last heartbeat."""
        self._write(
            f"UPDATE coverage SET open = {self.FALSE} WHERE {self.OPEN} AND instance = ?",
            (self.instance,),
        )

    def begin_coverage(self, targets: Iterable[tuple[str, bool]], at: float) -> None:
        rows = [(name, at, at, all_hours, *self._who()) for name, all_hours in targets]
        with self._transaction() as cursor:
            cursor.executemany(
                'INSERT INTO coverage (target, start, "end", all_hours, instance, vantage) '
                "VALUES (?, ?, ?, ?, ?, ?) "
                f"ON CONFLICT (instance, target) WHERE {self.OPEN} AND source IS NULL DO NOTHING",
                rows,
            )

    def extend_coverage(self, at: float) -> None:
        """Heartbeat: every span this instance has open now reaches ``at``."""
        self._write(self._ending(), (at, self.instance))

    def end_coverage(self, targets: Iterable[str] | None, at: float) -> None:
        """Close this instance's open spans of ``targets`` (all when None) at ``at``."""
        close = self._ending(f", open = {self.FALSE}")
        with self._transaction() as cursor:
            if targets is None:
                cursor.execute(close, (at, self.instance))
            else:
                cursor.executemany(
                    close + " AND target = ?", [(at, self.instance, name) for name in targets]
                )

    def _ending(self, also: str = "") -> str:
        """The UPDATE that moves this instance's open spans' ends up to a time (``at``,
        ``instance``), setting ``also`` too."""
        return (
            f'UPDATE coverage SET "end" = {self.GREATEST}("end", ?){also} '
            f"WHERE {self.OPEN} AND instance = ?"
        )

    def last_coverage_end(self, target: str) -> float | None:
        [(end,)] = self._read(
            'SELECT max("end") FROM coverage WHERE target = ? AND source IS NULL AND instance = ?',
            (target, self.instance),
        )
        return float(end) if end is not None else None

    def coverage(self, target: str, start: float, end: float) -> list[CoverageSpan]:
        rows = self._read(
            f"SELECT {COVERAGE_COLUMNS} FROM coverage "
            'WHERE target = ? AND "end" > ? AND start < ? ORDER BY start, id',
            (target, start, end),
        )
        return [CoverageSpan.from_row(r) for r in rows]

    def add_coverage(
        self, targets: Iterable[str], start: float, end: float, source: str, user: str, at: float
    ) -> list[int]:
        return self._added(
            'INSERT INTO coverage (target, start, "end", all_hours, open, source) '
            f"VALUES (?, ?, ?, {self.FALSE}, {self.FALSE}, ?) RETURNING id",
            [(target, start, end, source) for target in targets],
            "coverage-add",
            at,
            user,
            source,
        )

    def remove_coverage(self, span_id: int, user: str, at: float) -> None:
        with self._transaction() as cursor:
            if not cursor.execute(
                "DELETE FROM coverage WHERE id = ? AND source IS NOT NULL", (span_id,)
            ).rowcount:
                raise StoreError(f"no declared coverage span with id {span_id}")
            self._audit(cursor, at, user, "coverage-remove", span_id, None)

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
        state = "down" if parent is None else "unreachable"
        return self._insert(
            "INSERT INTO outages (target, start, cause, created_at, state, parent, "
            "continues, instance, vantage) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (instance, target, start) WHERE source = 'detected' "
            "DO UPDATE SET target = excluded.target RETURNING id",
            (target, start, cause, at, state, parent, continues, *self._who()),
        )

    def close_outage(self, outage_id: int, end: float, reason: str | None = None) -> None:
        self._write(
            'UPDATE outages SET "end" = ?, end_reason = ? WHERE id = ? AND "end" IS NULL',
            (end, reason, outage_id),
        )

    def open_outages(self) -> list[Outage]:
        return [
            outage_from_row(r)
            for r in self._read(
                f"SELECT {OUTAGE_COLUMNS} FROM outages "
                """WHERE "end" IS NULL AND source = 'detected' AND instance = ? """
                "ORDER BY start, id",
                (self.instance,),
            )
        ]

    def outages(
        self, target: str | None = None, since: float | None = None, until: float | None = None
    ) -> list[Outage]:
        """Outages overlapping [since, until), oldest first."""
        rows = self._overlapping("outages", OUTAGE_COLUMNS, since, until, target)
        return [outage_from_row(r) for r in rows]

    def _overlapping(
        self,
        table: str,
        columns: str,
        since: float | None,
        until: float | None,
        target: str | None = None,
    ) -> list[Row]:
        """``table``'s rows (of ``target`` if given) overlapping [since, until), either
        bound open when None, oldest first."""
        where: list[str] = []
        args: list[str | float] = []
        if target is not None:
            where.append("target = ?")
            args.append(target)
        if since is not None:
            where.append('("end" IS NULL OR "end" > ?)')
            args.append(since)
        if until is not None:
            where.append("start < ?")
            args.append(until)
        condition = f"WHERE {' AND '.join(where)} " if where else ""
        return self._read(f"SELECT {columns} FROM {table} {condition}ORDER BY start, id", args)

    def outage_counts(self) -> dict[str, int]:
        """Detected outages per target, all time (seeds ``availmon_outages_total``)."""
        rows = self._read(
            "SELECT target, count(*) FROM outages WHERE source = 'detected' GROUP BY target"
        )
        return {target: int(count) for target, count in rows}

    def outages_since(self, since: float) -> list[Outage]:
        """Outages still open or ended after ``since``, all targets: the live tail's input."""
        return self.outages(since=since)

    def add_manual_outage(
        self, target: str, start: float, end: float, cause: str, user: str, at: float
    ) -> int:
        """An outage known from elsewhere; counts over its whole span."""
        [outage_id] = self._added(
            'INSERT INTO outages (target, start, "end", cause, source, created_at, created_by) '
            "VALUES (?, ?, ?, ?, 'manual', ?, ?) RETURNING id",
            [(target, start, end, cause, at, user)],
            "outage-add",
            at,
            user,
            cause,
        )
        return outage_id

    @staticmethod
    def _outage(cursor: Cursor, outage_id: int, lock: str = "") -> Outage:
        """The outage as it is now in this transaction (read, not taken from an UPDATE's
        RETURNING: SQLite returns a whole REAL as an integer there)."""
        row = cursor.execute(
            f"SELECT {OUTAGE_COLUMNS} FROM outages WHERE id = ?{lock}", (outage_id,)
        ).fetchone()
        if row is None:
            raise StoreError(f"no outage with id {outage_id}")
        return outage_from_row(row)

    def _manual_outage(self, cursor: Cursor, outage_id: int) -> Outage:
        """The manual outage to correct, locked for this transaction; detected ones are
        refused."""
        outage = self._outage(cursor, outage_id, self.LOCK_ROW)
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
        with self._transaction() as cursor:
            was = self._manual_outage(cursor, outage_id)
            cursor.execute(
                'UPDATE outages SET start = ?, "end" = ?, cause = ? WHERE id = ?',
                (start, end, cause, outage_id),
            )
            self._audit(cursor, at, user, "outage-edit", outage_id, reason, as_was(was))
            return self._outage(cursor, outage_id)

    def delete_manual_outage(self, outage_id: int, reason: str, user: str, at: float) -> Outage:
        with self._transaction() as cursor:
            was = self._manual_outage(cursor, outage_id)
            cursor.execute("DELETE FROM outages WHERE id = ?", (outage_id,))
            self._audit(cursor, at, user, "outage-delete", outage_id, reason, as_was(was))
            return was

    def set_excluded(
        self, outage_id: int, excluded: bool, reason: str | None, user: str, at: float
    ) -> Outage:
        """Mark an outage as a false positive (or undo it), keeping the reason for audit."""
        with self._transaction() as cursor:
            if not cursor.execute(
                "UPDATE outages SET excluded = ?, excluded_reason = ? WHERE id = ?",
                (excluded, reason if excluded else None, outage_id),
            ).rowcount:
                raise StoreError(f"no outage with id {outage_id}")
            self._audit(cursor, at, user, "exclude" if excluded else "include", outage_id, reason)
            return self._outage(cursor, outage_id)

    # -- isolation -------------------------------------------------------

    def insert_isolation(self, start: float, witnesses: Iterable[str], at: float) -> int:
        return self._insert(
            "INSERT INTO isolations (start, witnesses, created_at, instance, vantage) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (instance, start) "
            "DO UPDATE SET start = excluded.start RETURNING id",
            (start, Isolation.witnesses_text(witnesses), at, *self._who()),
        )

    def close_isolation(self, isolation_id: int, end: float) -> None:
        self._write(
            'UPDATE isolations SET "end" = ? WHERE id = ? AND "end" IS NULL',
            (end, isolation_id),
        )

    def isolations(self, since: float | None = None, until: float | None = None) -> list[Isolation]:
        rows = self._overlapping("isolations", ISOLATION_COLUMNS, since, until)
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
        [window_id] = self._added(
            'INSERT INTO maintenance (scope, name, start, "end", reason, created_at, '
            "created_by, weekly) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [(scope, name, start, end, reason, at, user, weekly)],
            "maintenance-add",
            at,
            user,
            reason,
        )
        return window_id

    def remove_maintenance(
        self, window_id: int, user: str, at: float, reason: str | None = None
    ) -> None:
        with self._transaction() as cursor:
            if not cursor.execute(
                "UPDATE maintenance SET removed_at = ?, removed_by = ? "
                "WHERE id = ? AND removed_at IS NULL",
                (at, user, window_id),
            ).rowcount:
                raise StoreError(f"no maintenance window with id {window_id}")
            self._audit(cursor, at, user, "maintenance-remove", window_id, reason)

    def maintenance(self, include_removed: bool = False) -> list[Maintenance]:
        return [
            Maintenance(*r)
            for r in self._read(
                'SELECT id, scope, name, start, "end", reason, weekly, removed_at, removed_by '
                "FROM maintenance WHERE ? OR removed_at IS NULL ORDER BY start, id",
                (include_removed,),
            )
        ]

    # -- corrections -----------------------------------------------------

    def _added(
        self,
        insert: str,
        rows: Iterable[Sequence[Any]],
        action: str,
        at: float,
        user: str,
        reason: str | None,
    ) -> list[int]:
        """Rows a person adds (``insert``, an INSERT ... RETURNING id), each with its entry
        in the trail, in one transaction: their ids."""
        ids = []
        with self._transaction() as cursor:
            for row in rows:
                ids.append(_id(cursor.execute(insert, row)))
                self._audit(cursor, at, user, action, ids[-1], reason)
        return ids

    def _audit(
        self,
        cursor: Cursor,
        at: float,
        user: str,
        action: str,
        subject_id: int | None,
        reason: str | None,
        detail: str | None = None,
    ) -> None:
        cursor.execute(
            'INSERT INTO corrections (at, "user", action, subject_id, reason, detail) '
            "VALUES (?, ?, ?, ?, ?, ?)",
            (at, user, action, subject_id, reason, detail),
        )
        self._changed(cursor)

    def _changed(self, cursor: Cursor) -> None:
        """Move change_token() on: someone corrected the history (or loaded another)."""
        for statement in self.CHANGED:
            cursor.execute(statement)

    def corrections(self) -> list[Correction]:
        return [
            Correction(*r)
            for r in self._read(
                'SELECT id, at, "user", action, subject_id, reason, detail FROM corrections '
                "ORDER BY id"
            )
        ]

    def change_token(self) -> int:
        [(token,)] = self._read(self.CHANGE_TOKEN)
        return int(token)

    # -- moving the whole history ----------------------------------------

    def dump(self) -> Dump:
        with self._snapshot() as cursor:
            return {
                table: _plain(table, cursor.execute(_all_rows(table)).fetchall())
                for table in TABLES
            }

    def load(self, dump: Dump, *, replace: bool = False) -> None:
        with self._transaction() as cursor:
            if not replace:
                [(rows,)] = cursor.execute(COUNT_ROWS).fetchall()
                refuse_rows(self.name, rows)
            for table, columns in TABLES.items():
                cursor.execute(f"DELETE FROM {table}")
                cursor.executemany(
                    f"INSERT INTO {table} ({column_list(table)}) "
                    f"VALUES ({', '.join('?' * len(columns))})",
                    dump[table],
                )
                self._ids_given(cursor, table)
            self._changed(cursor)


def _all_rows(table: str) -> str:
    return f"SELECT {column_list(table)} FROM {table} ORDER BY id"


def _id(cursor: Cursor) -> int:
    """The id an ``INSERT ... RETURNING id`` gave (on a retry, the row already there)."""
    row = cursor.fetchone()
    assert row is not None, "INSERT ... RETURNING id returned no row"
    return int(row[0])
