"""The fleet's combined figures, live: what ``availmon report`` would say now, in /metrics.

Each daemon's running totals (``totals``) are its own vantage's view.  An instance run
with ``--fleet-figures`` also exports the figures of the whole fleet -- every target in
targets.yaml, every vantage's rows combined by the vantage rule -- computed from the
shared database with the report's own code (``history.load`` and ``history.compute``),
so they are the report's figures for the same period and the same instant, to the last
digit.  Prometheus recording rules could not be: vantages agree on a target's failure
second by second (an intersection of intervals), which samples taken at scrape times
cannot reconstruct.

The whole-history computation is too slow for a scrape, so a thread of its own redoes
it every ``refresh_every`` seconds and a scrape serves the last view, stamped with the
instant it describes.  A database that cannot be read leaves the last view in place.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from monitor.clock import Clock
from monitor.config import Config
from monitor.figures import history
from monitor.figures.periods import Period
from monitor.figures.schedule import Schedule
from monitor.figures.sla import Figures, GroupFigures
from monitor.figures.totals import current_periods
from monitor.figures.vantages import failing_now
from monitor.store import CoverageSpan, Isolation, Outage, Store, StoreError

log = logging.getLogger("availmon")

LIVE_WITHIN = 2  # heartbeats: a vantage whose span reaches this close to now is monitoring


@dataclass(frozen=True)
class FleetView:
    """The fleet's figures as known at ``now``, for ``config``'s targets (the whole file)."""

    config: Config
    now: float
    up: dict[str, bool]  # target -> up (False: confirmed failing); absent: nobody monitoring
    targets: dict[str, dict[str, Figures]]  # target -> period kind -> figures
    groups: dict[str, dict[str, GroupFigures]]  # group -> period kind -> figures


def refresh_every(config: Config) -> float:
    """Two probe intervals of the fleet's most frequently probed target: a failure a
    vantage records shows in the fleet's view at most about that long after."""
    return 2 * min((t.interval for t in config.targets), default=30.0)


def monitoring_now(
    schedule: Schedule,
    spans: Iterable[CoverageSpan],
    outages: Iterable[Outage],
    isolations: Iterable[Isolation],
    now: float,
    heartbeat: float,
) -> list[bool]:
    """Of the vantages monitoring one target now, whether each has an outage of it open.

    A vantage is monitoring when one of its coverage spans reaches within ``LIVE_WITHIN``
    heartbeats of ``now`` (its daemon runs and extends it) at an instant it probes the
    target (inside the schedule, or at all hours) and it is not cut off (an isolation
    open).  Rows of the default vantage ``""`` belong to every vantage's view, as in
    ``history.vantage_views``."""
    live = {
        s.vantage
        for s in spans
        if s.source is None
        and s.end >= now - LIVE_WITHIN * heartbeat
        and (s.all_hours or schedule.is_open(now))
    }
    cut_off = {i.vantage for i in isolations if i.end is None}
    failing = {
        o.vantage for o in outages if o.source == "detected" and not o.excluded and o.end is None
    }
    names = (live - {""}) or (live & {""})
    return [bool(failing & {"", v}) for v in sorted(names) if not cut_off & {"", v}]


def compute_view(config: Config, store: Store, now: float) -> FleetView:
    """The fleet's figures at ``now`` for the periods the series budget exports per
    target (``metrics.target_figures``): one ``history.load`` of the longest, then
    ``history.compute`` for each, exactly as a report of that period run at ``now``."""
    chosen = config.metrics.target_figures
    periods = {k: p for k, p in current_periods(config, now).items() if chosen.get(k)}
    since = min([p.start for p in periods.values()], default=now)
    since = min(since, now - LIVE_WITHIN * config.heartbeat)
    recorded = history.load(store, config.targets, Period("fleet", "fleet", since, now), now)
    targets: dict[str, dict[str, Figures]] = {t.name: {} for t in config.targets}
    groups: dict[str, dict[str, GroupFigures]] = {}
    for kind, period in periods.items():
        figures = history.compute(config, dataclasses.replace(recorded, period=period))
        for result in figures.targets:
            targets[result.target.name][kind] = result.figures
        for group in figures.groups:
            groups.setdefault(group.name, {})[kind] = group.figures
    up = {}
    for t in config.targets:
        state = failing_now(
            monitoring_now(
                config.schedule_of(t),
                recorded.coverage[t.name],
                recorded.outages[t.name],
                recorded.isolations,
                now,
                config.heartbeat,
            ),
            config.vantage_quorum,
        )
        if state is not None:
            up[t.name] = not state
    return FleetView(config, now, up, targets, groups)


class FleetFigures:
    """The last computed ``FleetView``, kept current by a thread of its own."""

    def __init__(self, store: Store, config: Config, clock: Clock) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self._view: FleetView | None = None
        self._failing = False  # the last refresh failed (logged once until one succeeds)
        self._stop = threading.Event()

    def view(self) -> FleetView | None:
        """The last view computed (None before the first): a scrape never computes."""
        return self._view

    def refresh(self) -> None:
        """Recompute the view now; a database that cannot be read keeps the last one."""
        try:
            self._view = compute_view(self.config, self.store, self.clock.time())
        except StoreError as exc:
            if not self._failing:
                log.error("fleet figures not refreshed, /metrics keeps the last ones: %s", exc)
            self._failing = True
        else:
            if self._failing:
                log.info("fleet figures refreshed again")
            self._failing = False

    def start(self) -> None:
        threading.Thread(target=self._run, name="fleet-figures", daemon=True).start()

    def _run(self) -> None:
        while True:
            began = self.clock.time()
            self.refresh()
            spent = self.clock.time() - began
            if self._stop.wait(max(0.0, refresh_every(self.config) - spent)):
                return

    def stop(self) -> None:
        """No more refreshes.  One under way (45 s at 10,000 targets) is not waited
        for: the thread never holds up the daemon's exit."""
        self._stop.set()

    def reload(self, config: Config) -> None:
        """The whole targets file again (after SIGHUP): the next refresh uses it."""
        self.config = config
