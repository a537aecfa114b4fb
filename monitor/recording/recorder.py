"""Applies probe results to each target's outage state and publishes its status.

Each result goes through the pure tracker; a transition is handed to the outage
writer (committed, or queued for retry) *before* the target's new status is
published, so whatever /metrics has shown is on disk or on its way there.
A status is a frozen record replaced whole, so readers never see half an update.

Two faults of the monitor's own are decided here (docs/design.md, "When the
monitor is cut off"): the witnesses' outages feed the pure isolation rules, and
while the monitor is isolated no other target's result decides anything; and a
target whose outage opens while a parent it depends on is failing is
unreachable, not down.  Parents not heard from since the child began failing
are probed at once first (``check_parents``), so the answer does not depend on
the order in which probes happen to run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType

from monitor.config import Config, Target
from monitor.probes.base import ProbeResult
from monitor.recording.isolation import (
    Began,
    Ended,
    Isolation,
    reconfigured,
    witness_failed,
    witness_recovered,
)
from monitor.recording.isolation import resumed as resumed_isolation
from monitor.recording.outages import IsolationRecord, OutageRecord, OutageWriter
from monitor.recording.tracker import (
    Closed,
    Opened,
    TargetState,
    carried,
    observe,
    resumed,
)
from monitor.reload import TargetChanges
from monitor.store import ISOLATION, PARENT_RECOVERED, Store

log = logging.getLogger("availmon")

# Probes the given parents now and records their results, then calls the function
# given (the daemon runs it on its probe pool: the caller must not wait for it).
CheckParents = Callable[[Sequence[Target], Callable[[], None]], None]


@dataclass(frozen=True, slots=True)
class TargetStatus:
    """What is known about one target right now, as /metrics shows it."""

    target: Target
    state: TargetState = field(default_factory=TargetState)
    outage_cause: str | None = None  # while an outage is open
    last: ProbeResult | None = None
    last_at: float | None = None
    successes: int = 0
    failures: int = 0
    outages_total: int = 0
    outage_parent: str | None = None  # while an unreachable outage is open: its parent


@dataclass(frozen=True)
class IsolationStatus:
    """The monitor's isolation as /metrics shows it: whether it is cut off now, since
    when, and the spans of the isolations known (the last one open while it lasts)."""

    since: float | None
    spans: tuple[tuple[float, float | None], ...]


class Recorder:
    def __init__(
        self, store: Store, writer: OutageWriter, check_parents: CheckParents | None = None
    ) -> None:
        self.store = store
        self.writer = writer
        self.check_parents = check_parents
        self._config: Config | None = None
        self._status: dict[str, TargetStatus] = {}
        self._outages: dict[str, OutageRecord] = {}  # the open outage of each target with one
        self._isolation = Isolation()
        self._isolation_record: IsolationRecord | None = None
        self._isolation_spans: list[IsolationRecord] = []
        self._cut: dict[str, OutageRecord] = {}  # outages cut by the current isolation
        self._carried: dict[str, OutageRecord] = {}  # the cut outage a carried state continues
        self._deciding: set[str] = set()  # targets waiting for their parents to be checked
        self._lock = threading.RLock()
        self._stopped = False

    @property
    def status(self) -> Mapping[str, TargetStatus]:
        """Each monitored target's published status, by name (read-only)."""
        return MappingProxyType(self._status)

    def isolation(self) -> IsolationStatus:
        with self._lock:
            return IsolationStatus(
                self._isolation.since, tuple((r.start, r.end) for r in self._isolation_spans)
            )

    def outage(self, name: str) -> OutageRecord | None:
        """The target's open outage as held here (its store id once written)."""
        return self._outages.get(name)

    # -- lifecycle -------------------------------------------------------

    def resume(self, config: Config, now: float, history_since: float) -> None:
        """Load from the store the outages and isolation left open by the last run, the
        counters, and the isolations since ``history_since`` (for /metrics)."""
        self._config = config
        counts = self.store.outage_counts()
        configured = {t.name: t for t in config.targets}
        for outage in self.store.open_outages():
            last = self.store.last_coverage_end(outage.target)
            target = configured.get(outage.target)
            if target is None:
                # No longer monitored: it ends where monitoring of it ended.
                self.store.close_outage(outage.id, max(outage.start, last or outage.start))
                continue
            self._outages[target.name] = OutageRecord(
                target.name, outage.start, outage.cause, now, id=outage.id, parent=outage.parent
            )
            self._status[target.name] = TargetStatus(
                target,
                resumed(outage.start, last),
                outage.cause,
                outage_parent=outage.parent,
            )
        for target in config.targets:
            status = self._status.get(target.name) or TargetStatus(target)
            self._status[target.name] = replace(status, outages_total=counts.get(target.name, 0))
        own = (
            r
            for r in self.store.isolations(since=history_since)
            if r.instance == self.store.instance
        )
        for row in own:
            record = IsolationRecord(row.start, row.witnesses, row.start, id=row.id, end=row.end)
            record.end_written = row.end is not None
            self._isolation_spans.append(record)
        self._isolation = Isolation(frozenset(config.witnesses), config.isolated_when)
        still = self._isolation_spans[-1] if self._isolation_spans else None
        if still is not None and still.end is None:
            failing = {w: o.start for w, o in self._outages.items() if w in config.witnesses}
            state = resumed_isolation(
                frozenset(config.witnesses), config.isolated_when, failing, still.start
            )
            if state.reached() is not None:
                # It goes on until the witnesses' carried-over outages end.
                self._isolation, self._isolation_record = state, still
            else:  # the witnesses it rested on are gone: it ended when monitoring did
                ends = [self.store.last_coverage_end(w) for w in still.witnesses]
                still.end = max([still.start, *(e for e in ends if e is not None)])
                self.writer.persist(still)

    def reload(self, config: Config, changes: TargetChanges, now: float) -> None:
        """Follow a new config: a removed target's open outage ends ``now``; a changed
        target keeps its state and counters; a new witness set or quorum applies from
        ``now`` on (never rewriting history)."""
        removed, changed, added = changes
        with self._lock:
            self._config = config
            for name in removed:
                del self._status[name]
                self._cut.pop(name, None)
                self._carried.pop(name, None)
                outage = self._outages.pop(name, None)
                if outage is not None:
                    outage.end = max(now, outage.start)
                    self.writer.persist(outage)
            for target in changed:
                self._status[target.name] = replace(self._status[target.name], target=target)
            for target in added:
                self._status[target.name] = TargetStatus(target)
            witnesses = frozenset(config.witnesses)
            failing = {w: o.start for w, o in self._outages.items() if w in witnesses}
            self._isolation, change = reconfigured(
                self._isolation, witnesses, config.isolated_when, failing, now
            )
            self._apply_isolation(change, now)

    def stop(self) -> None:
        """Ignore results from now on (probes still in flight when the daemon stops)."""
        with self._lock:
            self._stopped = True

    # -- results ---------------------------------------------------------

    def record(self, name: str, result: ProbeResult, at: float) -> None:
        """Apply a probe result taken at ``at``: persist any transition, then publish."""
        with self._lock:
            status = self._status.get(name)
            if status is None or self._stopped:
                return
            counted = replace(
                status,
                last=result,
                last_at=at,
                successes=status.successes + (1 if result.success else 0),
                failures=status.failures + (0 if result.success else 1),
            )
            if name in self._deciding or (
                self._isolation.isolated and name not in self._isolation.witnesses
            ):
                # Cut off (or waiting on its parents): seen, but it decides nothing.
                self._status[name] = counted
                return
            state, transition = observe(
                status.state, result.success, at, result.cause, status.target.failures_before_down
            )
            unheard = (
                self._unheard_parents(status.target, transition.start)
                if isinstance(transition, Opened) and self.check_parents is not None
                else []
            )
            if not unheard:
                self._apply(name, counted, state, transition, at)
                return
            self._deciding.add(name)
            self._status[name] = counted
        assert self.check_parents is not None and isinstance(transition, Opened)
        opened = transition
        self.check_parents(unheard, lambda: self._decided(name, state, opened, at))

    def _decided(self, name: str, state: TargetState, opened: Opened, at: float) -> None:
        """The parents have been checked: open the child's outage, down or unreachable."""
        with self._lock:
            self._deciding.discard(name)
            status = self._status.get(name)
            if status is None or self._stopped:
                return
            if self._isolation.isolated and name not in self._isolation.witnesses:
                return  # the monitor was cut off meanwhile: nothing opens
            self._apply(name, status, state, opened, at)

    def _unheard_parents(self, target: Target, since: float) -> list[Target]:
        """Parents neither failing nor heard from since ``since`` (the child's first
        failure): what they would say now is unknown, so they are probed first."""
        unheard = []
        for parent in target.depends_on:
            status = self._status.get(parent)
            if status is None or self._failing(status):
                continue
            if status.last_at is None or status.last_at < since:
                unheard.append(status.target)
        return unheard

    @staticmethod
    def _failing(status: TargetStatus) -> bool:
        """An open outage, or a last probe that failed."""
        return status.state.down or (status.last is not None and not status.last.success)

    def _failing_parent(self, target: Target) -> str | None:
        return next(
            (
                p
                for p in target.depends_on
                if (s := self._status.get(p)) is not None and self._failing(s)
            ),
            None,
        )

    def _apply(
        self,
        name: str,
        status: TargetStatus,
        state: TargetState,
        transition: Opened | Closed | None,
        at: float,
    ) -> None:
        """Persist ``transition`` of target ``name`` and publish its new state."""
        if transition is None and state is status.state and state.carry_from is None:
            self._status[name] = status  # most results: up before, up now (tracker.UP)
            self._carried.pop(name, None)
            return
        outage = self._outages.get(name)
        outages_total = status.outages_total
        if isinstance(transition, Opened):
            parent = self._failing_parent(status.target)
            outage = self._outages[name] = OutageRecord(
                name,
                transition.start,
                transition.cause,
                at,
                parent=parent,
                continues=self._carried.pop(name, None),
            )
            outages_total += 1
            log.warning(
                "outage opened: target=%s start=%s cause=%s%s",
                name,
                _iso(transition.start),
                _one_line(transition.cause),
                "" if parent is None else f" unreachable: {parent} is failing",
            )
            self.writer.persist(outage)
        elif isinstance(transition, Closed) and outage is not None:
            self._close(name, outage, transition.end, None)
            outage = None
        if state.carry_from is None:
            self._carried.pop(name, None)  # answered, or continued: nothing left to carry
        self._status[name] = replace(
            status,
            state=state,
            outage_cause=None if outage is None else outage.cause,
            outages_total=outages_total,
            outage_parent=None if outage is None else outage.parent,
        )
        if name in self._isolation.witnesses:
            self._witness_changed(name, transition, at)
        if isinstance(transition, Closed):
            self._parent_recovered(name, transition.end)

    def _close(self, name: str, outage: OutageRecord, end: float, reason: str | None) -> None:
        outage.end, outage.end_reason = end, reason
        log.info(
            "outage closed: target=%s start=%s end=%s duration=%.0fs%s",
            name,
            _iso(outage.start),
            _iso(end),
            end - outage.start,
            "" if reason is None else f" ({reason})",
        )
        self.writer.persist(outage)
        del self._outages[name]

    def _parent_recovered(self, parent: str, end: float) -> None:
        """``parent``'s outage ended at ``end``: its unreachable children that no other
        parent keeps unreachable end there too, carried: if still failing, they are down
        from ``end`` on."""
        for name, outage in list(self._outages.items()):
            if outage.parent != parent:
                continue
            status = self._status[name]
            if self._failing_parent(status.target) is not None:
                continue
            self._close(name, outage, max(end, outage.start), PARENT_RECOVERED)
            self._carried[name] = outage
            self._status[name] = replace(
                status, state=carried(end), outage_cause=None, outage_parent=None
            )

    # -- isolation -------------------------------------------------------

    def _witness_changed(self, name: str, transition: Opened | Closed | None, at: float) -> None:
        change: Began | Ended | None = None
        if isinstance(transition, Opened):
            self._isolation, change = witness_failed(self._isolation, name, transition.start)
        elif isinstance(transition, Closed):
            self._isolation, change = witness_recovered(self._isolation, name, transition.end)
        self._apply_isolation(change, at)

    def _apply_isolation(self, change: Began | Ended | None, at: float) -> None:
        if isinstance(change, Began):
            self._begin_isolation(change.start, at)
        elif isinstance(change, Ended):
            self._end_isolation(change.end)

    def _begin_isolation(self, start: float, at: float) -> None:
        """Cut off since ``start``: record it, end every other target's open outage there
        (their probes failed first), and drop every other failure streak."""
        record = IsolationRecord(start, tuple(sorted(self._isolation.witnesses)), at)
        self._isolation_record = record
        self._isolation_spans.append(record)
        log.warning(
            "monitor isolated: its witnesses (%s) failed; from %s nothing is monitored",
            ", ".join(record.witnesses),
            _iso(start),
        )
        self.writer.persist(record)
        for name, status in list(self._status.items()):
            if name in self._isolation.witnesses:
                continue
            outage = self._outages.get(name)
            if outage is not None:
                self._close(name, outage, max(start, outage.start), ISOLATION)
                self._cut[name] = outage
            self._carried.pop(name, None)
            self._status[name] = replace(
                status, state=TargetState(), outage_cause=None, outage_parent=None
            )

    def _end_isolation(self, end: float) -> None:
        """The witnesses answer again at ``end``: outages cut by the isolation carry on
        from there if their targets still fail."""
        record = self._isolation_record
        self._isolation_record = None
        if record is not None:
            record.end = end
            self.writer.persist(record)
        log.warning("monitor no longer isolated: its witnesses answer again at %s", _iso(end))
        for name, outage in self._cut.items():
            status = self._status.get(name)
            if status is not None:
                self._carried[name] = outage
                self._status[name] = replace(status, state=carried(end))
        self._cut.clear()


def _one_line(text: str) -> str:
    """Causes come from remote servers: keep each log event on one line."""
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
