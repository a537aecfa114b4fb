"""Runs the probes on schedule and turns their results into durable outages.

Each target is due every ``interval`` from a stable offset (a hash of its name,
so first runs are spread and restarts don't stampede). Targets whose offsets
fall in the same ``SLOT`` of the same interval share one APScheduler job, which
begins their probes one after the other: per-job scheduling cost is paid once per
slot, not once per probe (BENCHMARKS.md). A target is probed only inside its
working hours unless ``probe_outside_hours``. Event-driven probe types (icmp)
return at once and report from their own thread; the others run on a pool.
Each result goes through the pure tracker, and a transition is committed to
the store *before* live state changes, so whatever /metrics has shown is on
disk. Time comes from an injected clock.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor as ProbePool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import Histogram

from monitor import probes
from monitor.config import Config, Target
from monitor.figures.totals import RunningTotals
from monitor.probes.base import ProbeResult
from monitor.store import Store, StoreError
from monitor.tracker import Closed, Opened, TargetState, observe, resumed

log = logging.getLogger("availmon")

# An HTTP or TCP probe holds a pool thread while it waits on the server, so the pool bounds
# those probes in flight, not CPU: 1,000 HTTP targets at 60 s whose servers all hang for a
# 5 s timeout need ~85 threads. ICMP probes hold none. Threads start only as needed.
PROBE_WORKERS = 256
SLOT = 0.25  # seconds: targets due within one slot of an interval are begun by one job
TOTALS_EVERY = 5.0  # seconds between checks for corrections, period ends and folding
LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Clock(Protocol):
    def time(self) -> float: ...


class SystemClock:
    def time(self) -> float:
        return time.time()


@dataclass(eq=False)
class OutageRecord:
    """An outage as the runner knows it, written to the store as soon as the store allows."""

    target: str
    start: float
    cause: str
    detected_at: float
    id: int | None = None
    end: float | None = None
    end_written: bool = False


@dataclass
class LiveTarget:
    """What the daemon knows about one target right now."""

    target: Target
    state: TargetState = field(default_factory=TargetState)
    outage: OutageRecord | None = None
    last: ProbeResult | None = None
    last_at: float | None = None
    successes: int = 0
    failures: int = 0
    outages_total: int = 0
    first_run: float = 0.0
    in_flight: bool = False  # a probe has begun and not reported yet
    lock: threading.Lock = field(default_factory=threading.Lock)


def spread_offset(name: str, interval: float) -> float:
    """A stable offset in [0, interval) so first runs are spread, the same every start."""
    return zlib.crc32(name.encode()) / 2**32 * interval


SlotKey = tuple[float, int]  # (interval, offset // SLOT)


def slot_of(target: Target) -> SlotKey:
    """The slot whose job begins this target's probes."""
    return target.interval, int(spread_offset(target.name, target.interval) // SLOT)


@dataclass
class Slot:
    """The targets one job begins, and when that job first ran (lateness is against it)."""

    first_run: float
    names: list[str]


class Runner:
    def __init__(
        self,
        config: Config,
        store: Store,
        clock: Clock | None = None,
        workers: int = PROBE_WORKERS,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock or SystemClock()
        self.live: dict[str, LiveTarget] = {}
        self.lateness = Histogram(
            "availmon_probe_lateness_seconds",
            "Actual start of a probe minus its scheduled start.",
            buckets=LATENESS_BUCKETS,
            registry=None,
        )
        self.store_healthy = True
        self.store_errors = 0
        self._unwritten: list[OutageRecord] = []  # outage changes the store has not taken yet
        self.totals = RunningTotals(store)
        self._lock = threading.RLock()
        self._stopped = False
        self._slots: dict[SlotKey, Slot] = {}
        self._pool = ProbePool(workers, thread_name_prefix="probe")
        self._scheduler = BackgroundScheduler(
            executors={
                "default": ThreadPoolExecutor(4),  # slot jobs: they only begin probes
                # the daemon's own jobs never wait behind a backlog of probes
                "housekeeping": ThreadPoolExecutor(2),
            },
            timezone=UTC,
        )

    # -- lifecycle -------------------------------------------------------

    def resume(self) -> None:
        """Load state from the store: carried-over outages, counters, fresh coverage."""
        now = self.clock.time()
        self.store.close_stale_coverage()
        counts = self.store.outage_counts()
        configured = {t.name for t in self.config.targets}
        for outage in self.store.open_outages():
            last = self.store.last_coverage_end(outage.target)
            if outage.target not in configured:
                # No longer monitored: it ends where monitoring of it ended.
                self.store.close_outage(outage.id, max(outage.start, last or outage.start))
                continue
            live = self._add_live(self.config.target(outage.target))  # type: ignore[arg-type]
            live.state = resumed(outage.start, last)
            live.outage = OutageRecord(outage.target, outage.start, outage.cause, now, id=outage.id)
        for target in self.config.targets:
            live = self.live.get(target.name) or self._add_live(target)
            live.outages_total = counts.get(target.name, 0)
        self.store.begin_coverage(
            ((t.name, t.probe_outside_hours) for t in self.config.targets), now
        )
        self.totals.rebuild(self.config, now)

    def start(self) -> None:
        """Resume from the store and start probing on schedule."""
        self.resume()
        self._schedule_all()
        self._scheduler.start()

    def _schedule_all(self) -> None:
        self._scheduler.remove_all_jobs()
        self._slots.clear()
        for live in self.live.values():
            self._schedule(live)
        for job_id, job, every in (
            ("heartbeat", self.heartbeat, self.config.heartbeat),
            ("totals", self.maintain_totals, TOTALS_EVERY),
        ):
            self._scheduler.add_job(
                job,
                IntervalTrigger(seconds=every),
                id=job_id,
                executor="housekeeping",
                max_instances=1,
                coalesce=True,
                replace_existing=True,
            )

    def on_clock_step(self, step: float) -> None:
        """The wall clock jumped (NTP): re-anchor every job at the new now.

        APScheduler keeps its next run times on the wall clock, so after a step back
        every job would wait out the step; after a step forward all would fire at once.
        """
        log.warning("wall clock stepped by %+.1fs; rescheduling all probes", step)
        with self._lock:
            self._schedule_all()

    def stop(self) -> None:
        """Stop probing and close coverage; results still in flight are dropped."""
        with self._lock:
            self._stopped = True
        self._scheduler.shutdown(wait=False)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.store.end_coverage(None, self.clock.time())

    def healthy(self) -> bool:
        return self._scheduler.running and not self._stopped

    def heartbeat(self) -> None:
        """Extend coverage to now, and retry any outage changes held back by store errors."""
        if not self.flush():
            return
        try:
            self.store.extend_coverage(self.clock.time())
        except StoreError as exc:
            self._store_failed(exc)

    def _store_failed(self, exc: StoreError) -> None:
        self.store_errors += 1
        if self.store_healthy:
            log.error(
                "database write failed; probing goes on, outage changes are held in "
                "memory and retried: %s",
                exc,
            )
        self.store_healthy = False

    def flush(self) -> bool:
        """Write held-back outage changes in order; True when nothing is left to write."""
        with self._lock:
            while self._unwritten:
                record = self._unwritten[0]
                try:
                    if record.id is None:
                        record.id = self.store.insert_outage(
                            record.target, record.start, record.cause, record.detected_at
                        )
                    if record.end is not None and not record.end_written:
                        self.store.close_outage(record.id, record.end)
                        record.end_written = True
                except StoreError as exc:
                    self._store_failed(exc)
                    return False
                self._unwritten.pop(0)
            if not self.store_healthy:
                log.info("database writable again; held-back outage changes written")
                self.store_healthy = True
            return True

    def _persist(self, record: OutageRecord) -> None:
        """Commit an outage change now if the store allows, else hold it for a retry."""
        with self._lock:
            if record not in self._unwritten:
                self._unwritten.append(record)
            self.flush()

    def maintain_totals(self) -> None:
        """Keep the live figures' running totals current (corrections apply within seconds)."""
        try:
            self.totals.maintain(self.config, self.clock.time(), before_rebuild=self.heartbeat)
        except StoreError as exc:
            log.error("live figures not refreshed: %s", exc)

    def reload(self, config: Config) -> None:
        """Swap in a new config: added, removed and changed targets start/stop cleanly."""
        now = self.clock.time()
        self.heartbeat()
        with self._lock:
            old = {t.name: t for t in self.config.targets}
            new = {t.name: t for t in config.targets}
            self.config = config
            removed = [name for name in old if name not in new]
            for name in removed:
                live = self.live.pop(name)
                self._unschedule(live)
                with live.lock:
                    if live.outage is not None:
                        live.outage.end = max(now, live.outage.start)
                        self._persist(live.outage)
            self.store.end_coverage(removed, now)
            changed = [t for t in new.values() if t.name in old and old[t.name] != t]
            self.store.end_coverage([t.name for t in changed], now)
            for target in changed:
                live = self.live[target.name]
                self._unschedule(live)
                live.target = target
                self._schedule(live)
            added = [t for t in new.values() if t.name not in old]
            for target in added:
                self._schedule(self._add_live(target))
            self.store.begin_coverage(
                [(t.name, t.probe_outside_hours) for t in (*changed, *added)], now
            )
            self.totals.rebuild(config, now)
        log.info(
            "config reloaded: %d targets (%d added, %d removed, %d changed)",
            len(new),
            len(added),
            len(removed),
            len(changed),
        )

    def _add_live(self, target: Target) -> LiveTarget:
        live = self.live[target.name] = LiveTarget(target)
        return live

    def _schedule(self, live: LiveTarget) -> None:
        """Put the target in its slot, starting the slot's job if it is the first."""
        key = slot_of(live.target)
        slot = self._slots.get(key)
        if slot is None:
            interval, index = key
            slot = self._slots[key] = Slot(self.clock.time() + index * SLOT, [])
            trigger = IntervalTrigger(
                seconds=interval, start_date=datetime.fromtimestamp(slot.first_run, UTC)
            )
            self._scheduler.add_job(
                self.slot_job,
                trigger,
                args=[key],
                id=slot_id(key),
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(interval)),
                replace_existing=True,
            )
        slot.names.append(live.target.name)
        live.first_run = slot.first_run

    def _unschedule(self, live: LiveTarget) -> None:
        key = slot_of(live.target)
        slot = self._slots[key]
        slot.names.remove(live.target.name)
        if not slot.names:
            del self._slots[key]
            self._scheduler.remove_job(slot_id(key))

    # -- probing ---------------------------------------------------------

    def slot_job(self, key: SlotKey) -> None:
        """One scheduled run of a slot: each target's turn, on the pool if its probe
        holds a thread while it waits."""
        slot = self._slots.get(key)
        for name in list(slot.names) if slot is not None else ():
            live = self.live.get(name)
            if live is not None and not probes.probe_type(live.target.type).event_driven:
                self._pool.submit(self.probe_job, name)
            else:
                self.probe_job(name)

    def probe_job(self, name: str) -> None:
        """One target's turn: gate on working hours, begin the probe, record its result."""
        live = self.live.get(name)
        if live is None:
            return
        target = live.target
        now = self.clock.time()
        if now >= live.first_run:
            late = (now - live.first_run) % target.interval
            self.lateness.observe(late)
        if not self.in_hours(target, now):
            return
        with live.lock:
            if live.in_flight:  # never two probes of one target at once (after a reschedule)
                return
            live.in_flight = True

        def done(result: ProbeResult) -> None:
            live.in_flight = False
            self.record(name, result, now)

        probes.begin(target.type, target.settings, target.timeout, done)

    def in_hours(self, target: Target, at: float) -> bool:
        return target.probe_outside_hours or self.config.schedule_of(target).is_open(at)

    def record(self, name: str, result: ProbeResult, at: float) -> None:
        """Apply a probe result taken at ``at``: persist any transition, then go live."""
        live = self.live.get(name)
        if live is None:
            return
        with live.lock, self._lock:
            if self._stopped:
                return
            if result.success:
                live.successes += 1
            else:
                live.failures += 1
            live.last, live.last_at = result, at
            state, transition = observe(
                live.state, result.success, at, result.cause, live.target.failures_before_down
            )
            if isinstance(transition, Opened):
                live.outage = OutageRecord(name, transition.start, transition.cause, at)
                live.outages_total += 1
                log.warning(
                    "outage opened: target=%s start=%s cause=%s",
                    name,
                    _iso(transition.start),
                    _one_line(transition.cause),
                )
                self._persist(live.outage)
            elif isinstance(transition, Closed) and live.outage is not None:
                live.outage.end = transition.end
                log.info(
                    "outage closed: target=%s start=%s end=%s duration=%.0fs",
                    name,
                    _iso(transition.start),
                    _iso(transition.end),
                    transition.end - transition.start,
                )
                self._persist(live.outage)
                live.outage = None
            live.state = state


def _one_line(text: str) -> str:
    """Causes come from remote servers: keep each log event on one line."""
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


def slot_id(key: SlotKey) -> str:
    interval, index = key
    return f"probe:{interval:g}s/{index}"


def clock_step(
    offset: float, wall: float, monotonic: float, tolerance: float = 2.0
) -> float | None:
    """How far the wall clock jumped since ``offset`` (= wall - monotonic before), if
    more than ``tolerance`` seconds; None when it only ticked (or drifted, as NTP slews)."""
    step = (wall - monotonic) - offset
    return step if abs(step) > tolerance else None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
