"""The store contract: what the daemon, CLI, totals and reports ask of a database.

Both backends (SQLite, PostgreSQL) implement ``Store`` with the SQL in sql.py;
tests/test_store_contract.py runs one suite against each. Records are plain
frozen dataclasses so callers never see a backend's rows.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class StoreError(Exception):
    """The database cannot be used; the message is one line for the user."""


@dataclass(frozen=True)
class Outage:
    id: int
    target: str
    start: float
    end: float | None
    cause: str
    source: str
    excluded: bool
    excluded_reason: str | None
    state: str = "down"  # down | unreachable (failed while ``parent`` was failing)
    parent: str | None = None
    end_reason: str | None = None  # why it ended other than the target answering
    continues: int | None = None  # id of the outage this one continues (split around a cut)
    instance: str = ""  # the daemon that recorded it; "" for manual ones and older history
    vantage: str = ""  # where it was seen from (the daemon's --vantage, default its name)

    @property
    def unreachable(self) -> bool:
        return self.state == "unreachable"


def shared_strings(row: Sequence[Any]) -> list[Any]:
    """A row with its text values interned: a year's report holds hundreds of thousands
    of records whose target, instance, vantage, source and cause repeat, and the drivers
    make a new string for each value read (at 10,000 targets, ~90 MB for instance and
    vantage alone; BENCHMARKS.md, issue 15)."""
    return [sys.intern(value) if type(value) is str else value for value in row]


def outage_from_row(row: Sequence[Any]) -> Outage:
    """An outage from a row of its columns in declaration order (any backend: SQLite's 0/1
    for ``excluded`` included)."""
    id_, target, start, end, cause, source, excluded, *rest = shared_strings(row)
    return Outage(id_, target, start, end, cause, source, bool(excluded), *rest)


# Outage.end_reason values: ended by the daemon, not by the target answering.
ISOLATION = "isolation"  # the monitor was cut off: trimmed where the isolation began
PARENT_RECOVERED = "parent-recovered"  # unreachable until its parent answered again


@dataclass(frozen=True)
class Isolation:
    """A span in which the monitor was cut off (its witnesses failed by the quorum)."""

    id: int
    start: float
    end: float | None  # None while it lasts
    witnesses: tuple[str, ...]
    instance: str = ""  # the daemon that was cut off
    vantage: str = ""  # whose view it took out

    @staticmethod
    def witnesses_text(witnesses: Iterable[str]) -> str:
        """How a witness set is stored: one column, comma-separated."""
        return ",".join(witnesses)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Isolation:
        """From (id, start, end, witnesses as stored, instance, vantage)."""
        return cls(row[0], row[1], row[2], tuple(filter(None, row[3].split(","))), *row[4:6])


@dataclass(frozen=True)
class CoverageSpan:
    target: str
    start: float
    end: float
    all_hours: bool
    source: str | None = None  # None: this daemon; else who watched (declared by a person)
    id: int | None = None
    instance: str = ""  # the daemon that probed ("" for a declared span)
    vantage: str = ""  # where it probed from

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> CoverageSpan:
        """From (target, start, end, all_hours, source, id, instance, vantage), any backend
        (SQLite's 0/1 for ``all_hours`` included)."""
        target, start, end, all_hours, source, id_, instance, vantage = shared_strings(row)
        return cls(target, start, end, bool(all_hours), source, id_, instance, vantage)


@dataclass(frozen=True)
class Maintenance:
    id: int
    scope: str
    name: str | None
    start: float
    end: float
    reason: str
    weekly: str | None = None  # "tue 07:00-08:00": recurs within [start, end)
    removed_at: float | None = None  # removed windows stay, so the trail shows what went
    removed_by: str | None = None


# What a correction may not do: a detected outage is evidence, kept as recorded.
DETECTED_IS_EVIDENCE = "detected outages can be excluded, not edited"


@dataclass(frozen=True)
class Correction:
    id: int
    at: float
    user: str
    action: str
    subject_id: int | None
    reason: str | None
    detail: str | None = None  # an edited or deleted outage as it was: ``as_was`` JSON


def as_was(outage: Outage) -> str:
    """An outage's correctable fields as a correction's ``detail``: what an edit or delete
    changed from, so the trail can show (and a person can undo) it."""
    return json.dumps(
        {"target": outage.target, "start": outage.start, "end": outage.end, "cause": outage.cause}
    )


# Every table's columns, the same in both backends: what ``dump`` and ``load`` carry, so
# that ``availmon db copy`` moves all of it (who and when included), not only what the
# records above show.
TABLES: dict[str, tuple[str, ...]] = {
    "outages": (
        "id", "target", "start", "end", "cause", "source", "created_at", "created_by",
        "excluded", "excluded_reason", "state", "parent", "end_reason", "continues",
        "instance", "vantage",
    ),
    "coverage": (
        "id", "target", "start", "end", "all_hours", "open", "source", "instance", "vantage",
    ),
    "maintenance": (
        "id", "scope", "name", "start", "end", "reason", "created_at", "created_by",
        "weekly", "removed_at", "removed_by",
    ),
    "corrections": ("id", "at", "user", "action", "subject_id", "reason", "detail"),
    "isolations": ("id", "start", "end", "witnesses", "created_at", "instance", "vantage"),
}  # fmt: skip
DAEMON_BUSY = "another availmon daemon is already using this database"


def same_instance(instance: str) -> str:
    """Why a daemon may not start: one of the same name already runs on the database."""
    return f"{DAEMON_BUSY} as instance {instance!r} (give each daemon its own --instance NAME)"


# Every table's rows in id order, each a tuple in ``TABLES`` order, booleans as bool.
Dump = dict[str, list[tuple[Any, ...]]]


class Store(Protocol):
    """Outages, coverage spans, maintenance windows and corrections, durably.

    Every write is committed before it returns, so whatever the caller reports
    afterwards survives a crash. Any failure is a ``StoreError``.

    Several daemons (shards, an HA pair, vantages) may share one database. A store is
    opened for one ``instance`` (the daemon's name; "" for the CLI) seen from one
    ``vantage``: the daemon's writes carry both, and the calls that resume or extend
    the daemon's own state (coverage upkeep, ``last_coverage_end``, ``open_outages``)
    see only this instance's rows. Every other read is fleet-wide, each record
    carrying its instance and vantage.
    """

    instance: str
    vantage: str

    # -- lifecycle (daemon, CLI) -----------------------------------------

    def claim_instance(self) -> int:
        """Claim this instance's name on the database: a second daemon with the same name
        gets a StoreError, daemons with other names run beside it. The first named
        instance adopts the history written before instances had names (see
        docs/design.md); returns how many rows it adopted."""

    def lock_exclusive(self) -> None:
        """Claim the whole database (``db copy``): refused while any daemon holds it, and
        no daemon starts until it is released."""

    def close(self) -> None:
        """Release the connection (and the daemon's claim); closing twice is harmless."""

    # -- coverage: when the daemon was probing (runner, figures) ----------

    def close_stale_coverage(self) -> None:
        """Spans this instance left open when it died end at their last heartbeat."""

    def begin_coverage(self, targets: Iterable[tuple[str, bool]], at: float) -> None:
        """Open a span at ``at`` for each (target, probes outside working hours), unless
        this instance has one open for it already (so a retried call adds none)."""

    def extend_coverage(self, at: float) -> None:
        """Heartbeat: every span this instance has open now reaches ``at``."""

    def end_coverage(self, targets: Iterable[str] | None, at: float) -> None:
        """Close this instance's open spans of ``targets`` (all when None) at ``at``."""

    def last_coverage_end(self, target: str) -> float | None:
        """The end of this instance's last span (declared spans never count here)."""

    def coverage(self, target: str, start: float, end: float) -> list[CoverageSpan]:
        """The target's spans overlapping [start, end), oldest first: every instance's and
        those declared by a person."""

    # -- outages (runner, figures, CLI) -----------------------------------

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
        """Record a detected outage, still open; returns its id (the same id when retried
        for the same target and start).  With ``parent`` it is unreachable (the target
        failed while that parent was failing)."""

    def close_outage(self, outage_id: int, end: float, reason: str | None = None) -> None:
        """End an open outage; an outage already closed keeps its first end."""

    def open_outages(self) -> list[Outage]:
        """This instance's detected outages not yet closed, oldest first."""

    def outages(
        self, target: str | None = None, since: float | None = None, until: float | None = None
    ) -> list[Outage]:
        """Outages overlapping [since, until), oldest first."""

    def outage_counts(self) -> dict[str, int]:
        """Detected outages per target, all time (seeds ``availmon_outages_total``)."""

    def outages_since(self, since: float) -> list[Outage]:
        """Outages still open or ended after ``since``, all targets: the live tail's input."""

    # -- the monitor's isolation (runner, figures, reports) ----------------

    def insert_isolation(self, start: float, witnesses: Iterable[str], at: float) -> int:
        """Record that this instance is cut off since ``start``; returns its id (the same
        id when retried)."""

    def close_isolation(self, isolation_id: int, end: float) -> None:
        """End an isolation; one already ended keeps its first end."""

    def isolations(self, since: float | None = None, until: float | None = None) -> list[Isolation]:
        """Isolations overlapping [since, until) (open ones included), oldest first."""

    # -- corrections by people (CLI), each audited ------------------------

    def add_manual_outage(
        self, target: str, start: float, end: float, cause: str, user: str, at: float
    ) -> int:
        """An outage known from elsewhere; counts over its whole span."""

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
        """Correct a manual outage; the trail keeps what it was.  Detected outages are
        refused with ``DETECTED_IS_EVIDENCE``."""

    def delete_manual_outage(self, outage_id: int, reason: str, user: str, at: float) -> Outage:
        """Delete a manual outage (returned as it was, and kept in the trail's detail).
        Detected outages are refused with ``DETECTED_IS_EVIDENCE``."""

    def set_excluded(
        self, outage_id: int, excluded: bool, reason: str | None, user: str, at: float
    ) -> Outage:
        """Mark an outage as a false positive (or undo it), keeping the reason for audit."""

    def add_coverage(
        self, targets: Iterable[str], start: float, end: float, source: str, user: str, at: float
    ) -> list[int]:
        """Declare [start, end) watched by ``source`` (another monitor, a helpdesk log) for
        each target, during its working hours; one span and one audit entry per target."""

    def remove_coverage(self, span_id: int, user: str, at: float) -> None:
        """Withdraw a declared span (never the daemon's own), audited."""

    def added_coverage(self) -> list[CoverageSpan]:
        """Every span declared by a person, by start."""

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
        """A one-off window [start, end), or with ``weekly`` one recurring within it."""

    def remove_maintenance(
        self, window_id: int, user: str, at: float, reason: str | None = None
    ) -> None:
        """Take a window out of the figures; its row stays, marked removed, for the trail."""

    def maintenance(self, include_removed: bool = False) -> list[Maintenance]:
        """The maintenance windows in force (and removed ones if asked), by start."""

    def corrections(self) -> list[Correction]:
        """The audit trail, oldest first."""

    # -- change detection (totals) ----------------------------------------

    def change_token(self) -> object:
        """An opaque value that changes when someone corrects the history (every correction
        leaves a row in the trail).

        Daemons' routine writes (heartbeats, coverage, their own outages) leave it alone,
        so a daemon rebuilds its running totals only after a correction, never because
        another daemon on the same database wrote a heartbeat.
        """

    # -- moving the whole history (db copy) --------------------------------

    def dump(self) -> Dump:
        """Every row of every table, read in one consistent snapshot."""

    def load(self, dump: Dump, *, replace: bool = False) -> None:
        """Write ``dump`` with its ids, in one transaction.  A database that holds any row
        is refused unless ``replace``, which deletes every row first: never a merge."""
