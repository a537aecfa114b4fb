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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

from monitor.config import Config, Objective, Target
from monitor.figures import history
from monitor.figures.intervals import Interval, clip, total
from monitor.figures.periods import LIVE_PERIODS, Period, current_period
from monitor.figures.sla import (
    Figures,
    Policy,
    UnreachablePolicy,
    error_budget,
    live_ratio,
    target_figures,
)
from monitor.store import CoverageSpan, Isolation, Outage, Store

Seen = TypeVar("Seen", Outage, CoverageSpan, Isolation)

FOLD_EVERY = 60.0


class Seconds(NamedTuple):
    """The additive part of a target's figures (a tuple: a fold makes 50,000 of them)."""

    scheduled: float = 0.0
    monitored: float = 0.0
    unmonitored: float = 0.0
    down: float = 0.0

    def plus(self, other: Seconds) -> Seconds:
        a, b, c, d = self
        w, x, y, z = other
        # tuple.__new__ skips NamedTuple's Python-level __new__ (a fold makes 50,000).
        return _new(Seconds, (a + w, b + x, c + y, d + z))

    @classmethod
    def of(cls, f: Figures) -> Seconds:
        return cls(
            f.scheduled_seconds, f.monitored_seconds, f.unmonitored_seconds, f.downtime_seconds
        )


_new = tuple.__new__


class PeriodFigures(NamedTuple):
    """One target's or group's live figures for one current period, as exported."""

    scheduled: float
    monitored: float
    unmonitored: float
    down: float
    uptime_ratio: float | None
    error_budget_remaining: float


PeriodRow = tuple[float, float, float, float, float | None, float]
"""One period's figures in ``PeriodFigures``' field order, as a plain tuple: a scrape
makes 50,000 and /metrics unpacks them directly (a NamedTuple each made the
snapshot ~25% slower)."""
LiveFigures = tuple[PeriodRow, ...]
"""One target's or group's live figures: a ``PeriodRow`` per LIVE_PERIODS, in order."""


@dataclass(frozen=True)
class _TargetBase:
    base: tuple[Seconds, ...]  # per LIVE_PERIODS: seconds in [period start, t0)
    period_scheduled: tuple[float, ...]  # per LIVE_PERIODS: W - M over the whole period
    allowed: tuple[float, ...]  # per LIVE_PERIODS: error budget at the target's objective
    maintenance: list[Interval]
    objectives: tuple[float, ...]  # per LIVE_PERIODS: objective at the period's start
    # per LIVE_PERIODS: (*base, allowed), laid out once per fold for the snapshot's inner loop
    flat: tuple[tuple[float, float, float, float, float], ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "flat",
            tuple(
                (*seconds, allowed)
                for seconds, allowed in zip(self.base, self.allowed, strict=True)
            ),
        )


@dataclass(frozen=True)
class _Base:
    t0: float
    periods: dict[str, Period]
    targets: dict[str, _TargetBase]
    group_objectives: dict[str, tuple[float, ...]]  # per group, per LIVE_PERIODS


@dataclass(frozen=True)
class Snapshot:
    """The live figures at one instant, by target and by group."""

    targets: dict[str, LiveFigures]
    groups: dict[str, LiveFigures]
    in_maintenance: dict[str, bool]  # targets with maintenance this year: whether now

    def target(self, name: str, kind: str) -> PeriodFigures:
        return PeriodFigures(*self.targets[name][LIVE_PERIODS.index(kind)])

    def group(self, name: str, kind: str) -> PeriodFigures:
        return PeriodFigures(*self.groups[name][LIVE_PERIODS.index(kind)])


def current_periods(config: Config, now: float) -> dict[str, Period]:
    return {
        kind: current_period(kind, now, config.timezone, config.year_start_month)
        for kind in LIVE_PERIODS
    }


class RunningTotals:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._base: _Base | None = None
        self._change_token: object = None
        self._lock = threading.Lock()
        self._allowed: tuple[_Base, Config, dict[str, tuple[float, ...]]] | None = None

    def _own(self, rows: Iterable[Seen]) -> list[Seen]:
        """This daemon's own view of a shared database: its vantage's rows, and those
        people wrote (manual outages, declared coverage: vantage "")."""
        return [r for r in rows if r.vantage in ("", self.store.vantage)]

    def rebuild(self, config: Config, now: float) -> None:
        """Recompute every base from the database up to ``now``."""
        with self._lock:
            self._change_token = self.store.change_token()
            periods = current_periods(config, now)
            start = min(p.start for p in periods.values())
            end = max(p.end for p in periods.values())
            entries = history.maintenance_entries(config, self.store.maintenance(), start, end)
            isolated = history.isolated_spans(self._own(self.store.isolations(start, now)), now)
            policy = Policy(config.unmonitored)
            unreachable = UnreachablePolicy(config.unreachable)
            targets = {}

            def objectives(objective: Objective) -> tuple[float, ...]:
                # Each current period's figures are judged as a report of that period
                # would be: against the objective in force at its start.  All but a week
                # straddling the year boundary start in the current reporting year, and
                # every period rolls over at the boundary, where this is recomputed.
                return tuple(
                    history.objective_at(config, objective, periods[kind].start)
                    for kind in LIVE_PERIODS
                )

            for target in config.targets:
                own = config.schedule_of(target)
                coverage = history.coverage_for(
                    target, own, self._own(self.store.coverage(target.name, start, now))
                )
                outages = history.outage_spans(
                    self._own(self.store.outages(target=target.name, since=start, until=now))
                )
                maintenance = history.maintenance_for(target, entries)
                target_objectives = objectives(target.objective)
                fs = [
                    target_figures(
                        working=own,
                        coverage=coverage,
                        outages=outages,
                        maintenance=maintenance,
                        start=periods[kind].start,
                        end=periods[kind].end,
                        now=now,
                        policy=policy,
                        objective=objective,
                        isolated=isolated,
                        unreachable=unreachable,
                    )
                    for kind, objective in zip(LIVE_PERIODS, target_objectives, strict=True)
                ]
                targets[target.name] = _TargetBase(
                    tuple(Seconds.of(f) for f in fs),
                    tuple(f.period_scheduled_seconds for f in fs),
                    tuple(f.error_budget_seconds for f in fs),
                    maintenance,
                    target_objectives,
                )
            group_objectives = {
                name: objectives(group.objective) for name, group in config.groups.items()
            }
            self._base = _Base(now, periods, targets, group_objectives)

    def maintain(
        self, config: Config, now: float, before_rebuild: Callable[[], None] | None = None
    ) -> None:
        """Periodic upkeep: rebuild after outside changes or a period boundary, else fold.

        ``before_rebuild`` lets the daemon write a heartbeat first, so that the
        rebuilt base sees its own coverage right up to ``now``.
        """
        base = self._base
        if (
            base is None
            or self.store.change_token() != self._change_token
            or any(now >= p.end for p in base.periods.values())
        ):
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
            self._base = _Base(
                now,
                base.periods,
                {
                    name: _TargetBase(
                        tuple(s.plus(tails[name]) for s in tb.base),
                        tb.period_scheduled,
                        tb.allowed,
                        tb.maintenance,
                        tb.objectives,
                    )
                    for name, tb in base.targets.items()
                    if name in tails
                },
                base.group_objectives,
            )

    def _tails(self, config: Config, base: _Base, now: float) -> dict[str, Seconds]:
        """Seconds in [t0, now) per target: the daemon has been probing throughout, but
        for any time the monitor was isolated.

        Most targets have had no outage and no maintenance since t0, and the monitor was
        not isolated: their tail is just their schedule's working seconds, computed once
        per schedule.
        """
        recent: dict[str, list[Outage]] = {}
        for outage in self._own(self.store.outages_since(base.t0)):
            recent.setdefault(outage.target, []).append(outage)
        isolated = history.isolated_spans(self._own(self.store.isolations(since=base.t0)), now)
        rules = _TailRules(
            Policy(config.unmonitored), UnreachablePolicy(config.unreachable), isolated
        )
        working: dict[str, Seconds] = {}
        tails = {}
        for target in config.targets:
            tb = base.targets.get(target.name)
            if tb is None:
                continue
            outages = recent.get(target.name)
            if outages or isolated or (tb.maintenance and clip(tb.maintenance, base.t0, now)):
                tails[target.name] = _tail(config, target, tb, outages or (), base.t0, now, rules)
                continue
            plain = working.get(target.schedule)
            if plain is None:
                w = (
                    total(config.schedule_of(target).open_intervals(base.t0, now))
                    if now > base.t0
                    else 0.0
                )
                plain = working[target.schedule] = Seconds(w, w, 0.0, 0.0)
            tails[target.name] = plain
        return tails

    def snapshot(self, config: Config, now: float) -> Snapshot | None:
        """The live figures at ``now`` (None before the first rebuild).

        One pass on plain floats (no per-figure objects or method calls): at 10,000
        targets this was half of a /metrics scrape.  Group sums still add the members'
        figures one by one in configuration order: float addition is not associative, so
        precomputed base sums plus summed tails would change the last digits once the
        seconds have fractions (a real clock's); the sums cost a fifth of the snapshot.
        """
        base = self._base
        if base is None:
            return None
        tails = self._tails(config, base, now)
        ratio = live_ratio(Policy(config.unmonitored))
        bases = base.targets
        per_target: dict[str, LiveFigures] = {}
        members: dict[str, list[LiveFigures]] = {}
        in_maintenance = {}
        for target in config.targets:
            name = target.name
            tb = bases.get(name)
            if tb is None:
                continue
            m = tb.maintenance
            if m:  # only targets with windows: one series per target less at 100,000 targets
                in_maintenance[name] = any(s <= now < e for s, e in clip(m, now, now + 1))
            ts, tm, tu, td = tails[name]
            periods: list[PeriodRow] = []
            for bs, bm, bu, bd, allowed in tb.flat:
                s = bs + ts
                mo = bm + tm
                u = bu + tu
                d = bd + td
                periods.append((s, mo, u, d, ratio(s, mo, u, d), allowed - d))
            per_target[name] = own = tuple(periods)
            group = members.get(target.group)
            if group is None:
                group = members[target.group] = []
            group.append(own)
        allowed_of = self._group_allowed(config, base)
        groups: dict[str, LiveFigures] = {}
        for name, group in members.items():
            periods = []
            for k, allowed in enumerate(allowed_of[name]):
                s = mo = u = d = 0.0
                for own in group:
                    ps, pm, pu, pd, _, _ = own[k]
                    s += ps
                    mo += pm
                    u += pu
                    d += pd
                periods.append((s, mo, u, d, ratio(s, mo, u, d), allowed - d))
            groups[name] = tuple(periods)
        return Snapshot(per_target, groups, in_maintenance)

    def _group_allowed(self, config: Config, base: _Base) -> dict[str, tuple[float, ...]]:
        """Each group's error budget per LIVE_PERIODS: its objective x its members' whole-period
        scheduled seconds (summed in configuration order).  Fixed until the next fold or
        reload, so computed once for each (base, config) rather than at every scrape."""
        known = self._allowed
        if known is not None and known[0] is base and known[1] is config:
            return known[2]
        wholes: dict[str, list[float]] = {}
        for target in config.targets:
            tb = base.targets.get(target.name)
            if tb is None:
                continue
            sums = wholes.get(target.group)
            if sums is None:
                sums = wholes[target.group] = [0.0] * len(LIVE_PERIODS)
            for k, w in enumerate(tb.period_scheduled):
                sums[k] += w
        allowed = {
            group: tuple(
                error_budget(objective, whole)
                for objective, whole in zip(
                    self._group_objectives(config, base, group), sums, strict=True
                )
            )
            for group, sums in wholes.items()
        }
        self._allowed = (base, config, allowed)
        return allowed

    @staticmethod
    def _group_objectives(config: Config, base: _Base, group: str) -> tuple[float, ...]:
        known = base.group_objectives.get(group)
        if known is not None:
            return known
        return tuple(
            history.objective_at(config, config.groups[group].objective, p.start)
            for p in base.periods.values()
        )


def _tail(
    config: Config,
    target: Target,
    tb: _TargetBase,
    outages: Sequence[Outage],
    t0: float,
    now: float,
    rules: _TailRules,
) -> Seconds:
    """One target's seconds in [t0, now), probed throughout (inside hours, or always)
    but while isolated."""
    if now <= t0:
        return Seconds()
    own = config.schedule_of(target)
    coverage = [(t0, now)] if target.probe_outside_hours else own.open_intervals(t0, now)
    f = target_figures(
        working=own,
        coverage=coverage,
        outages=history.outage_spans(outages),
        maintenance=clip(tb.maintenance, t0, now),
        start=t0,
        end=now,
        now=now,
        policy=rules.policy,
        objective=tb.objectives[0],
        isolated=clip(rules.isolated, t0, now),
        unreachable=rules.unreachable,
    )
    return Seconds.of(f)


class _TailRules(NamedTuple):
    """What every tail of one snapshot shares: the policies and the isolated spans."""

    policy: Policy
    unreachable: UnreachablePolicy
    isolated: list[Interval]
