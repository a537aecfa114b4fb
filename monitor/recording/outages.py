"""Writes outage, isolation and coverage changes to the store, holding them in memory
while it refuses.

A full disk or a lock held elsewhere must not stop probing: a change the store
does not take is queued and retried in order (by each later change and by the
heartbeat), and the store's health is reported on /metrics.  Order matters: an
outage that continues another is written after it, so it can name it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import NamedTuple

from monitor.store import Store, StoreError

log = logging.getLogger("availmon")


@dataclass(eq=False)
class OutageRecord:
    """An outage as the recorder knows it, written to the store as soon as the store allows."""

    target: str
    start: float
    cause: str
    detected_at: float
    id: int | None = None
    end: float | None = None
    end_written: bool = False
    parent: str | None = None  # unreachable behind this failing parent
    continues: OutageRecord | None = None  # the outage it continues (cut by a fault)
    end_reason: str | None = None  # why it ended, when not because the target answered

    def write(self, store: Store) -> None:
        """Write what the store does not have yet (each step at most once)."""
        if self.id is None:
            self.id = store.insert_outage(
                self.target,
                self.start,
                self.cause,
                self.detected_at,
                parent=self.parent,
                continues=None if self.continues is None else self.continues.id,
            )
        if self.end is not None and not self.end_written:
            store.close_outage(self.id, self.end, self.end_reason)
            self.end_written = True


@dataclass(eq=False)
class IsolationRecord:
    """A span in which the monitor is cut off, written like an outage."""

    start: float
    witnesses: tuple[str, ...]
    detected_at: float
    id: int | None = None
    end: float | None = None
    end_written: bool = False

    def write(self, store: Store) -> None:
        if self.id is None:
            self.id = store.insert_isolation(self.start, self.witnesses, self.detected_at)
        if self.end is not None and not self.end_written:
            store.close_isolation(self.id, self.end)
            self.end_written = True


@dataclass(eq=False)
class CoverageChange:
    """A reload's coverage: the spans of targets removed or changed end at ``at``, those of
    targets changed or added begin there. Each step is written at most once; a begin
    retried after its reply was lost finds the spans already open (the store's rule)."""

    at: float
    ended: tuple[str, ...]
    begun: tuple[tuple[str, bool], ...]
    ended_written: bool = False

    def write(self, store: Store) -> None:
        if not self.ended_written:
            store.end_coverage(self.ended, self.at)
            self.ended_written = True
        store.begin_coverage(self.begun, self.at)


Change = OutageRecord | IsolationRecord | CoverageChange


class StoreHealth(NamedTuple):
    healthy: bool  # the last write succeeded
    errors: int  # writes that failed (and were retried), since start


class OutageWriter:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._healthy = True
        self._errors = 0
        self._unwritten: list[Change] = []  # changes the store has not taken yet
        self._lock = threading.RLock()

    def health(self) -> StoreHealth:
        return StoreHealth(self._healthy, self._errors)

    def persist(self, record: Change) -> None:
        """Commit a change now if the store allows, else hold it for a retry (in order
        after those held already)."""
        with self._lock:
            if record not in self._unwritten:
                self._unwritten.append(record)
            self.flush()

    def flush(self) -> bool:
        """Write held-back outage changes in order; True when nothing is left to write."""
        with self._lock:
            wrote = bool(self._unwritten)
            while self._unwritten:
                record = self._unwritten[0]
                try:
                    record.write(self.store)
                except StoreError as exc:
                    self._failed(exc)
                    return False
                self._unwritten.pop(0)
            if wrote:  # nothing to write proves nothing: the heartbeat's write will tell
                self._written()
            return True

    def heartbeat(self, now: float) -> None:
        """Extend coverage to ``now``, once held-back outage changes are written (coverage
        must not claim monitoring past an outage the store does not know yet)."""
        if not self.flush():
            return
        try:
            self.store.extend_coverage(now)
        except StoreError as exc:
            self._failed(exc)
        else:
            self._written()

    def _written(self) -> None:
        if not self._healthy:
            log.info("database writable again; held-back outage changes written")
            self._healthy = True

    def _failed(self, exc: StoreError) -> None:
        self._errors += 1
        if self._healthy:
            log.error(
                "database write failed; probing goes on, outage changes are held in "
                "memory and retried: %s",
                exc,
            )
        self._healthy = False
