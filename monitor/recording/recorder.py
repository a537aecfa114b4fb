"""Applies probe results to each target's outage state and publishes its status.

Each result goes through the pure tracker; a transition is handed to the outage
writer (committed, or queued for retry) *before* the target's new status is
published, so whatever /metrics has shown is on disk or on its way there.
A status is a frozen record replaced whole, so readers never see half an update.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType

from monitor.config import Config, Target
from monitor.probes.base import ProbeResult
from monitor.recording.outages import OutageRecord, OutageWriter
from monitor.recording.tracker import Closed, Opened, TargetState, observe, resumed
from monitor.reload import TargetChanges
from monitor.store import Store

log = logging.getLogger("availmon")


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


class Recorder:
    def __init__(self, store: Store, writer: OutageWriter) -> None:
        self.store = store
        self.writer = writer
        self._status: dict[str, TargetStatus] = {}
        self._outages: dict[str, OutageRecord] = {}  # the open outage of each target with one
        self._lock = threading.Lock()
        self._stopped = False

    @property
    def status(self) -> Mapping[str, TargetStatus]:
        """Each monitored target's published status, by name (read-only)."""
        return MappingProxyType(self._status)

    def outage(self, name: str) -> OutageRecord | None:
        """The target's open outage as held here (its store id once written)."""
        return self._outages.get(name)

    def resume(self, config: Config, now: float) -> None:
        """Load from the store the outages left open by the last run, and the counters."""
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
                target.name, outage.start, outage.cause, now, id=outage.id
            )
            self._status[target.name] = TargetStatus(
                target, resumed(outage.start, last), outage.cause
            )
        for target in config.targets:
            status = self._status.get(target.name) or TargetStatus(target)
            self._status[target.name] = replace(status, outages_total=counts.get(target.name, 0))

    def reload(self, changes: TargetChanges, now: float) -> None:
        """Follow a new config: a removed target's open outage ends ``now``; a changed
        target keeps its state and counters."""
        removed, changed, added = changes
        with self._lock:
            for name in removed:
                del self._status[name]
                outage = self._outages.pop(name, None)
                if outage is not None:
                    outage.end = max(now, outage.start)
                    self.writer.persist(outage)
            for target in changed:
                self._status[target.name] = replace(self._status[target.name], target=target)
            for target in added:
                self._status[target.name] = TargetStatus(target)

    def stop(self) -> None:
        """Ignore results from now on (probes still in flight when the daemon stops)."""
        with self._lock:
            self._stopped = True

    def record(self, name: str, result: ProbeResult, at: float) -> None:
        """Apply a probe result taken at ``at``: persist any transition, then publish."""
        with self._lock:
            status = self._status.get(name)
            if status is None or self._stopped:
                return
            state, transition = observe(
                status.state, result.success, at, result.cause, status.target.failures_before_down
            )
            outage = self._outages.get(name)
            outages_total = status.outages_total
            if isinstance(transition, Opened):
                outage = self._outages[name] = OutageRecord(
                    name, transition.start, transition.cause, at
                )
                outages_total += 1
                log.warning(
                    "outage opened: target=%s start=%s cause=%s",
                    name,
                    _iso(transition.start),
                    _one_line(transition.cause),
                )
                self.writer.persist(outage)
            elif isinstance(transition, Closed) and outage is not None:
                outage.end = transition.end
                log.info(
                    "outage closed: target=%s start=%s end=%s duration=%.0fs",
                    name,
                    _iso(transition.start),
                    _iso(transition.end),
                    transition.end - transition.start,
                )
                self.writer.persist(outage)
                del self._outages[name]
                outage = None
            self._status[name] = TargetStatus(
                status.target,
                state,
                None if outage is None else outage.cause,
                result,
                at,
                status.successes + (1 if result.success else 0),
                status.failures + (0 if result.success else 1),
                outages_total,
            )


def _one_line(text: str) -> str:
    """Causes come from remote servers: keep each log event on one line."""
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
