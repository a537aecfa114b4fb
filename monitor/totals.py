"""Running totals behind the live figures in /metrics.

A scrape must not rescan history (ten thousand targets). At start-up, on
reload, after a correction and at period boundaries, each target's seconds for
the current day, week, month, quarter and year are computed from the database
up to an instant ``t0`` (the base). A scrape adds only the tail ``[t0, now)``,
computed from the few outages open or closed since ``t0``; every minute the
tail is folded into the base. Seconds are additive over adjacent windows, so
base + tail equals a full recomputation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from monitor import figures as figs
from monitor.config import Config, Objective, Target
from monitor.intervals import Interval, clip, total
from monitor.periods import Period, current_period
from monitor.sla import Figures, Policy, error_budget, live_ratio, target_figures
from monitor.store import Outage, Store

KINDS = ("day", "week", "month", "quarter", "year")
FOLD_EVERY = 60.0


class Seconds(NamedTuple):
    """The additive part of a target's figures (a tuple: a scrape makes 50,000 of them)."""

    scheduled: float = 0.0
    monitored: float = 0.0
    unmonitored: float = 0.0
    down: float = 0.0

    def plus(self, other: Seconds) -> Seconds:
        return Seconds(self[0] + other[0], self[1] + other[1], self[2] + other[2],
                       self[3] + other[3])

    @classmethod
    def of(cls, f: Figures) -> Seconds:
        return cls(f.scheduled_seconds, f.monitored_seconds, f.unmonitored_seconds,
                   f.downtime_seconds)


class Live(NamedTuple):
    """One target's or group's figures for one current period, as exported."""

    seconds: Seconds
    uptime_ratio: float | None
    error_budget_remaining: float


@dataclass(frozen=True)
class _TargetBase:
    base: tuple[Seconds, ...]              # per KINDS: seconds in [period start, t0)
    period_scheduled: tuple[float, ...]    # per KINDS: W - M over the whole period
    allowed: tuple[float, ...]             # per KINDS: error budget at the target's objective
    maintenance: list[Interval]
    objectives: tuple[float, ...]          # per KINDS: objective at the period's start


@dataclass(frozen=True)
class _Base:
    t0: float
    periods: dict[str, Period]
    targets: dict[str, _TargetBase]
    group_objectives: dict[str, tuple[float, ...]]  # per group, per KINDS


@dataclass(frozen=True)
class Snapshot:
    targets: dict[str, tuple[Live, ...]]   # target -> one Live per KINDS, in order
    groups: dict[str, tuple[Live, ...]]    # group -> one Live per KINDS, in order
    in_maintenance: dict[str, bool]

    def target(self, name: str, kind: str) -> Live:
        return self.targets[name][KINDS.index(kind)]

    def group(self, name: str, kind: str) -> Live:
        return self.groups[name][KINDS.index(kind)]


def current_periods(config: Config, now: float) -> dict[str, Period]:
    return {kind: current_period(kind, now, config.timezone, config.year_start_month)
            for kind in KINDS}


class RunningTotals:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._base: _Base | None = None
        self._data_version = -1
        self._lock = threading.Lock()

    def rebuild(self, config: Config, now: float) -> None:
        """Recompute every base from the database up to ``now``."""
        with self._lock:
            self._data_version = self.store.data_version()
            periods = current_periods(config, now)
            start = min(p.start for p in periods.values())
            end = max(p.end for p in periods.values())
            entries = figs.maintenance_entries(config, self.store.maintenance(), start, end)
            policy = Policy(config.unmonitored)
            targets = {}

            def objectives(objective: Objective) -> tuple[float, ...]:
                # Each current period's figures are judged as a report of that period
                # would be: against the objective in force at its start.  All but a week
                # straddling the year boundary start in the current reporting year, and
                # every period rolls over at the boundary, where this is recomputed.
                return tuple(figs.objective_at(config, objective, periods[kind].start)
                             for kind in KINDS)

            for target in config.targets:
                own = config.schedule_of(target)
                coverage = figs.coverage_for(target, own,
                                             self.store.coverage(target.name, start, now))
                outages = figs.outage_spans(
                    self.store.outages(target=target.name, since=start, until=now))
                maintenance = figs.maintenance_for(target, entries)
                target_objectives = objectives(target.objective)
                fs = [target_figures(working=own, coverage=coverage, outages=outages,
                                     maintenance=maintenance, start=periods[kind].start,
                                     end=periods[kind].end, now=now, policy=policy,
                                     objective=objective)
                      for kind, objective in zip(KINDS, target_objectives, strict=True)]
                targets[target.name] = _TargetBase(
                    tuple(Seconds.of(f) for f in fs),
                    tuple(f.period_scheduled_seconds for f in fs),
                    tuple(f.error_budget_seconds for f in fs), maintenance,
                    target_objectives)
            group_objectives = {name: objectives(group.objective)
                                for name, group in config.groups.items()}
            self._base = _Base(now, periods, targets, group_objectives)

    def maintain(self, config: Config, now: float,
                 before_rebuild: Callable[[], None] | None = None) -> None:
        """Periodic upkeep: rebuild after outside changes or a period boundary, else fold.

        ``before_rebuild`` lets the daemon write a heartbeat first, so that the
        rebuilt base sees its own coverage right up to ``now``.
        """
        base = self._base
        if base is None or self.store.data_version() != self._data_version or any(
                now >= p.end for p in base.periods.values()):
            if before_rebuild is not None:
                before_rebuild()
            self.rebuild(config, now)
        elif now - base.t0 >= FOLD_EVERY:
            self._fold(config, now)

    def _fold(self, config: Config, now: float) -> None:
        with self._lock:
            base = self._base
            assert base is not None
            tails = self._tails(config, base, now)
            self._base = _Base(now, base.periods, {
                name: _TargetBase(tuple(s.plus(tails[name]) for s in tb.base),
                                  tb.period_scheduled, tb.allowed, tb.maintenance,
                                  tb.objectives)
                for name, tb in base.targets.items() if name in tails}, base.group_objectives)

    def _tails(self, config: Config, base: _Base, now: float) -> dict[str, Seconds]:
        """Seconds in [t0, now) per target: the daemon has been probing throughout.

        Most targets have had no outage and no maintenance since t0: their tail is just
        their schedule's working seconds, computed once per schedule.
        """
        recent: dict[str, list[Outage]] = {}
        for outage in self.store.outages_since(base.t0):
            recent.setdefault(outage.target, []).append(outage)
        policy = Policy(config.unmonitored)
        working: dict[str, Seconds] = {}
        tails = {}
        for target in config.targets:
            tb = base.targets.get(target.name)
            if tb is None:
                continue
            outages = recent.get(target.name)
            if outages or clip(tb.maintenance, base.t0, now):
                tails[target.name] = _tail(config, target, tb, outages or (), base.t0, now,
                                           policy)
                continue
            plain = working.get(target.schedule)
            if plain is None:
                w = total(config.schedule_of(target).open_intervals(base.t0, now)) \
                    if now > base.t0 else 0.0
                plain = working[target.schedule] = Seconds(w, w, 0.0, 0.0)
            tails[target.name] = plain
        return tails

    def snapshot(self, config: Config, now: float) -> Snapshot | None:
        """The live figures at ``now`` (None before the first rebuild)."""
        base = self._base
        if base is None:
            return None
        tails = self._tails(config, base, now)
        ratio = live_ratio(Policy(config.unmonitored))
        per_target: dict[str, tuple[Live, ...]] = {}
        group_sums: dict[str, list[tuple[Seconds, float]]] = {}
        in_maintenance = {}
        empty = [(Seconds(), 0.0)] * len(KINDS)
        for target in config.targets:
            tb = base.targets.get(target.name)
            if tb is None:
                continue
            m = tb.maintenance
            in_maintenance[target.name] = any(s <= now < e for s, e in clip(m, now, now + 1))
            tail = tails[target.name]
            seconds = [b.plus(tail) for b in tb.base]
            per_target[target.name] = tuple(
                Live(s, ratio(*s), allowed - s[3])
                for s, allowed in zip(seconds, tb.allowed, strict=True))
            sums = group_sums.get(target.group, empty)
            group_sums[target.group] = [
                (summed.plus(s), whole + w)
                for (summed, whole), s, w in zip(sums, seconds, tb.period_scheduled, strict=True)]
        groups = {
            group: tuple(Live(s, ratio(*s), error_budget(objective, whole) - s.down)
                         for (s, whole), objective in zip(
                             sums, self._group_objectives(config, base, group), strict=True))
            for group, sums in group_sums.items()
        }
        return Snapshot(per_target, groups, in_maintenance)

    @staticmethod
    def _group_objectives(config: Config, base: _Base, group: str) -> tuple[float, ...]:
        known = base.group_objectives.get(group)
        if known is not None:
            return known
        return tuple(figs.objective_at(config, config.groups[group].objective, p.start)
                     for p in base.periods.values())


def _tail(config: Config, target: Target, tb: _TargetBase, outages: Sequence[Outage],
          t0: float, now: float, policy: Policy) -> Seconds:
    """One target's seconds in [t0, now), probed throughout (inside hours, or always)."""
    if now <= t0:
        return Seconds()
    own = config.schedule_of(target)
    coverage = [(t0, now)] if target.probe_outside_hours else own.open_intervals(t0, now)
    f = target_figures(working=own, coverage=coverage, outages=figs.outage_spans(outages),
                       maintenance=clip(tb.maintenance, t0, now), start=t0, end=now, now=now,
                       policy=policy, objective=tb.objectives[0])
    return Seconds.of(f)
