"""When each target is probed: slots, APScheduler jobs, working-hours gating.

Each target is due every ``interval`` from a stable offset (a hash of its name,
so first runs are spread and restarts don't stampede). Targets whose offsets
fall in the same ``SLOT`` of the same interval share one APScheduler job, which
begins their probes one after the other: per-job scheduling cost is paid once per
slot, not once per probe (BENCHMARKS.md). A target is probed only inside its
working hours unless ``probe_outside_hours``. Probe types with ``start`` (icmp)
return at once and report from their own thread; the others run on a pool. Each
result goes to ``on_result``; what it means is the recorder's business.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor as ProbePool
from datetime import UTC, datetime
from types import MappingProxyType
from typing import NamedTuple

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import (
    BackgroundScheduler,
)
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import Histogram
from prometheus_client.core import Metric

from monitor import probes
from monitor.clock import Clock
from monitor.config import Config, Target
from monitor.probes.base import ProbeResult
from monitor.reload import TargetChanges

log = logging.getLogger("availmon")

# An HTTP or TCP probe holds a pool thread while it waits on the server, so the pool bounds
# those probes in flight, not CPU: 1,000 HTTP targets at 60 s whose servers all hang for a
# 5 s timeout need ~85 threads. ICMP probes hold none. Threads start only as needed.
PROBE_WORKERS = 256
SLOT = 0.25  # seconds: targets due within one slot of an interval are begun by one job
LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

OnResult = Callable[[str, ProbeResult, float], None]  # (target name, result, probed at)
HousekeepingJob = tuple[str, Callable[[], None], float]  # (job id, function, every seconds)


def spread_offset(name: str, interval: float) -> float:
    """A stable offset in [0, interval) so first runs are spread, the same every start."""
    return zlib.crc32(name.encode()) / 2**32 * interval


SlotKey = tuple[float, int]  # (interval, offset // SLOT)


def slot_of(target: Target) -> SlotKey:
    """The slot whose job begins this target's probes."""
    return target.interval, int(spread_offset(target.name, target.interval) // SLOT)


def slot_id(key: SlotKey) -> str:
    interval, index = key
    return f"probe:{interval:g}s/{index}"


class Slot(NamedTuple):
    """The targets one job begins, and when that job first ran (lateness is against it)."""

    first_run: float
    names: tuple[str, ...]


def clock_step(
    offset: float, wall: float, monotonic: float, tolerance: float = 2.0
) -> float | None:
    """How far the wall clock jumped since ``offset`` (= wall - monotonic before), if
    more than ``tolerance`` seconds; None when it only ticked (or drifted, as NTP slews)."""
    step = (wall - monotonic) - offset
    return step if abs(step) > tolerance else None


def in_hours(config: Config, target: Target, at: float) -> bool:
    """Whether the target is probed at ``at``: inside its working hours, or always."""
    return target.probe_outside_hours or config.schedule_of(target).is_open(at)


class ProbeScheduler:
    """Begins each target's probes on time and hands the results to ``on_result``."""

    def __init__(
        self, config: Config, clock: Clock, on_result: OnResult, workers: int = PROBE_WORKERS
    ) -> None:
        self.config = config
        self.clock = clock
        self.on_result = on_result
        self._targets: dict[str, Target] = {}
        self._first_run: dict[str, float] = {}  # the first run of each target's slot job
        self._slots: dict[SlotKey, Slot] = {}
        self._in_flight: set[str] = set()  # probes begun that have not reported yet
        self._housekeeping: Sequence[HousekeepingJob] = ()
        self._lock = threading.RLock()
        self._lateness = Histogram(
            "availmon_probe_lateness_seconds",
            "Actual start of a probe minus its scheduled start.",
            buckets=LATENESS_BUCKETS,
            registry=None,
        )
        self._pool = ProbePool(workers, thread_name_prefix="probe")
        self._scheduler = BackgroundScheduler(
            executors={
                "default": ThreadPoolExecutor(4),  # slot jobs: they only begin probes
                # the daemon's own jobs never wait behind a backlog of probes
                "housekeeping": ThreadPoolExecutor(2),
            },
            timezone=UTC,
        )

    # -- read-only views -------------------------------------------------

    @property
    def slots(self) -> Mapping[SlotKey, Slot]:
        return MappingProxyType(self._slots)

    def job_ids(self) -> list[str]:
        return [job.id for job in self._scheduler.get_jobs()]

    def next_run(self, job_id: str) -> datetime | None:
        job = self._scheduler.get_job(job_id)
        return None if job is None else job.next_run_time

    def in_flight(self, name: str) -> bool:
        """Whether a probe of the target has begun and not reported yet."""
        return name in self._in_flight

    def lateness(self) -> Iterable[Metric]:
        """The probe lateness histogram, for /metrics."""
        return self._lateness.collect()

    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job`` on the probe pool (an on-demand probe: it may wait on a server)."""
        self._pool.submit(job)

    def running(self) -> bool:
        return bool(self._scheduler.running)

    # -- lifecycle -------------------------------------------------------

    def start(self, housekeeping: Sequence[HousekeepingJob]) -> None:
        """Start probing on schedule, and run the daemon's own periodic jobs."""
        self._housekeeping = housekeeping
        self._schedule_all()
        self._scheduler.start()

    def stop(self) -> None:
        """Stop beginning probes; those waiting for a pool thread are dropped."""
        self._scheduler.shutdown(wait=False)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def on_clock_step(self, step: float) -> None:
        """The wall clock jumped (NTP): re-anchor every job at the new now.

        APScheduler keeps its next run times on the wall clock, so after a step back
        every job would wait out the step; after a step forward all would fire at once.
        """
        log.warning("wall clock stepped by %+.1fs; rescheduling all probes", step)
        with self._lock:
            self._schedule_all()

    # -- targets ---------------------------------------------------------

    def add(self, target: Target) -> None:
        with self._lock:
            self._targets[target.name] = target
            self._schedule(target)

    def remove(self, name: str) -> None:
        with self._lock:
            self._unschedule(self._targets.pop(name))

    def reload(self, config: Config, changes: TargetChanges) -> None:
        """Follow a new config: stop probing removed targets, re-slot changed ones (their
        interval or name may move them) and slot added ones."""
        removed, changed, added = changes
        with self._lock:
            self.config = config
            for name in removed:
                self.remove(name)
            for target in changed:
                self.remove(target.name)
                self.add(target)
            for target in added:
                self.add(target)

    def _schedule_all(self) -> None:
        self._scheduler.remove_all_jobs()
        self._slots.clear()
        for target in self._targets.values():
            self._schedule(target)
        for job_id, job, every in self._housekeeping:
            self._scheduler.add_job(
                job,
                IntervalTrigger(seconds=every),
                id=job_id,
                executor="housekeeping",
                max_instances=1,
                coalesce=True,
                replace_existing=True,
            )

    def _schedule(self, target: Target) -> None:
        """Put the target in its slot, starting the slot's job if it is the first."""
        key = slot_of(target)
        slot = self._slots.get(key)
        if slot is None:
            interval, index = key
            slot = Slot(self.clock.time() + index * SLOT, ())
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
        self._slots[key] = Slot(slot.first_run, (*slot.names, target.name))
        self._first_run[target.name] = slot.first_run

    def _unschedule(self, target: Target) -> None:
        key = slot_of(target)
        names = tuple(n for n in self._slots[key].names if n != target.name)
        del self._first_run[target.name]
        if names:
            self._slots[key] = self._slots[key]._replace(names=names)
        else:
            del self._slots[key]
            self._scheduler.remove_job(slot_id(key))

    # -- probing ---------------------------------------------------------

    def slot_job(self, key: SlotKey) -> None:
        """One scheduled run of a slot: each target's turn, on the pool if its probe
        holds a thread while it waits."""
        slot = self._slots.get(key)
        for name in slot.names if slot is not None else ():
            target = self._targets.get(name)
            if target is not None and not probes.probe_type(target.type).event_driven:
                self._pool.submit(self.probe_job, name)
            else:
                self.probe_job(name)

    def probe_job(self, name: str) -> None:
        """One target's turn: gate on working hours, begin the probe, pass on its result."""
        target = self._targets.get(name)
        if target is None:
            return
        now = self.clock.time()
        first_run = self._first_run.get(name, 0.0)
        if now >= first_run:
            self._lateness.observe((now - first_run) % target.interval)
        if not in_hours(self.config, target, now):
            return
        with self._lock:
            if name in self._in_flight:  # never two probes of one target at once
                return
            self._in_flight.add(name)

        def done(result: ProbeResult) -> None:
            self._in_flight.discard(name)
            self.on_result(name, result, now)

        probes.begin(target.type, target.settings, target.timeout, done)
