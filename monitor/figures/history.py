"""Figures from recorded history: a period's stored inputs, then ``sla``'s figures of them.

The chain an auditor follows: :func:`load` reads what the store holds for a period
(outages, coverage spans, maintenance added by command) into a plain :class:`History`;
:func:`compute` turns it, with the configuration, into each target's and group's
figures through ``sla.target_figures`` / ``sla.group_figures``; ``monitor.report``
writes those as documents.  Only :func:`load` touches the store.  Reports and the live
running totals both build their inputs with the helpers here, so a figure means the
same wherever it is shown.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.config import Config, Objective, Target
from monitor.figures.intervals import Interval, clip, intersect, normalize, total, union
from monitor.figures.periods import Period, current_period
from monitor.figures.schedule import Schedule, WeeklyRange, parse_weekly
from monitor.figures.sla import (
    Figures,
    GroupFigures,
    OutageSpan,
    Policy,
    UnreachablePolicy,
    group_figures,
    target_figures,
)
from monitor.figures.vantages import View, combine
from monitor.store import Correction, CoverageSpan, Isolation, Maintenance, Outage, Store


@dataclass(frozen=True)
class MaintenanceEntry:
    """One maintenance window occurrence, from targets.yaml or the database."""

    id: int | None  # database id; None for a window from targets.yaml
    targets: tuple[str, ...]
    groups: tuple[str, ...]
    all: bool
    start: float
    end: float
    reason: str

    def applies_to(self, target: Target) -> bool:
        return self.all or target.name in self.targets or target.group in self.groups

    @property
    def scope(self) -> str:
        return describe_scope(self.all, self.targets, self.groups)


def describe_scope(covers_all: bool, targets: Sequence[str], groups: Sequence[str]) -> str:
    """What a maintenance window covers: ``all``, ``target:a,b``, ``group:g`` (space-joined)."""
    parts = ["all"] if covers_all else []
    if targets:
        parts.append("target:" + ",".join(targets))
    if groups:
        parts.append("group:" + ",".join(groups))
    return " ".join(parts)


def window_spans(
    weekly: Sequence[WeeklyRange],
    bounds: tuple[float, float],
    timezone: str,
    start: float,
    end: float,
) -> list[Interval]:
    """One window's spans overlapping [start, end): a one-off window whole, a weekly one
    as its occurrences within its ``bounds`` (in ``timezone``) -- one expansion for the
    config's windows and those added by command."""
    lo, hi = max(start, bounds[0]), min(end, bounds[1])
    if lo >= hi:
        return []
    if not weekly:
        return [bounds]
    return Schedule(name="maintenance", timezone=timezone, ranges=tuple(weekly)).open_intervals(
        lo, hi
    )


def maintenance_entries(
    config: Config, stored: Iterable[Maintenance], start: float, end: float
) -> list[MaintenanceEntry]:
    """Every window in force overlapping [start, end): one-off and weekly ones from the
    config and those added by command (weekly ones expanded, in the config's time zone)."""
    entries: list[MaintenanceEntry] = []
    for window in config.maintenance:
        bounds = (
            (window.start, window.end)
            if window.start is not None and window.end is not None
            else (-math.inf, math.inf)
        )
        entries.extend(
            MaintenanceEntry(None, window.targets, window.groups, window.all, s, e, window.reason)
            for s, e in window_spans(window.weekly, bounds, config.timezone, start, end)
        )
    in_force = [row for row in stored if row.removed_at is None]
    entries.extend(stored_entries(in_force, config.timezone, start, end))
    return sorted(entries, key=lambda e: (e.start, e.end))


def stored_entries(
    rows: Iterable[Maintenance], timezone: str, start: float, end: float
) -> list[MaintenanceEntry]:
    """The occurrences overlapping [start, end) of windows added by command."""
    return [
        MaintenanceEntry(
            row.id,
            (row.name,) if row.scope == "target" and row.name else (),
            (row.name,) if row.scope == "group" and row.name else (),
            row.scope == "all",
            s,
            e,
            row.reason,
        )
        for row in rows
        for s, e in window_spans(
            parse_weekly(row.weekly) if row.weekly else (),
            (row.start, row.end),
            timezone,
            start,
            end,
        )
    ]


def maintenance_for(target: Target, entries: Iterable[MaintenanceEntry]) -> list[Interval]:
    return normalize((e.start, e.end) for e in entries if e.applies_to(target))


def coverage_for(
    target: Target, schedule: Schedule, spans: Iterable[CoverageSpan]
) -> list[Interval]:
    """C: when the daemon ran with the target configured *and probed it* -- inside the
    target's own working hours, or at any time when it probed outside them -- and the
    spans a person declared another source watched (working hours only)."""
    return union(
        *(
            [(s.start, s.end)] if s.all_hours else schedule.open_intervals(s.start, s.end)
            for s in spans
        )
    )


def objective_at(config: Config, objective: Objective, instant: float) -> float:
    """The objective in force at ``instant`` (that of its reporting year)."""
    return objective.at(instant, config.timezone, config.year_start_month)


def objective_year(config: Config, instant: float) -> str:
    """The label of the reporting year containing ``instant`` (whose objectives apply)."""
    return current_period("year", instant, config.timezone, config.year_start_month).label


def outage_spans(outages: Iterable[Outage]) -> list[OutageSpan]:
    """O: excluded outages (false positives) never count."""
    return [
        OutageSpan(
            o.start,
            o.end,
            detected=o.source == "detected",
            unreachable=o.unreachable,
            vantage=o.vantage,
        )
        for o in outages
        if not o.excluded
    ]


def isolated_spans(isolations: Iterable[Isolation], now: float) -> list[Interval]:
    """When the monitor was cut off (one still going lasts until ``now``)."""
    return normalize((i.start, now if i.end is None else i.end) for i in isolations)


def isolated_by_vantage(isolations: Iterable[Isolation], now: float) -> dict[str, list[Interval]]:
    """Each vantage's isolated spans (its own cuts; one still going lasts until ``now``)."""
    isolations = list(isolations)
    return {
        v: isolated_spans((i for i in isolations if i.vantage == v), now)
        for v in dict.fromkeys(i.vantage for i in isolations)
    }


def vantage_views(
    target: Target,
    schedule: Schedule,
    spans: Iterable[CoverageSpan],
    outages: Iterable[Outage],
    isolated: Mapping[str, Sequence[Interval]],
    now: float,
) -> list[View]:
    """Each vantage's view of ``target`` (docs/design.md "Several vantage points"): its
    coverage, its isolated spans (``isolated``: by vantage) and its detected outages
    (excluded ones never count; open ones last until ``now``).  Records of the default
    vantage ``""`` (history from before vantages were named) and spans a person declared
    belong to every view, so one instance -- named or not -- has one view: exactly the
    single-monitor figures."""
    spans = list(spans)
    detected = [o for o in outages if o.source == "detected" and not o.excluded]
    names = dict.fromkeys(
        v
        for v in (*(s.vantage for s in spans if s.source is None), *(o.vantage for o in detected))
        if v
    )

    def view(name: str) -> View:
        mine = ("", name)
        seen = [o for o in detected if o.vantage in mine]
        return View(
            coverage=coverage_for(
                target, schedule, (s for s in spans if s.source is not None or s.vantage in mine)
            ),
            isolated=union(*(isolated.get(v, []) for v in dict.fromkeys(mine))),
            down=[(o.start, now if o.end is None else o.end) for o in seen if not o.unreachable],
            unreachable=[(o.start, now if o.end is None else o.end) for o in seen if o.unreachable],
        )

    return [view(name) for name in names or [""]]


@dataclass(frozen=True)
class TargetResult:
    target: Target
    figures: Figures


@dataclass(frozen=True)
class GroupResult:
    name: str
    figures: GroupFigures
    targets: tuple[str, ...]


@dataclass(frozen=True)
class PeriodFigures:
    """Everything a report shows for one period."""

    period: Period
    now: float
    complete: bool
    policy: Policy
    what_if_schedule: str | None
    targets: tuple[TargetResult, ...]
    groups: tuple[GroupResult, ...]
    outages: tuple[Outage, ...]
    maintenance: tuple[MaintenanceEntry, ...]
    outage_downtimes: dict[int, float]  # outage id -> its own downtime here (excluded: 0)
    isolations: tuple[Isolation, ...] = ()  # when the monitor was cut off in the period
    isolated_working_seconds: float = 0.0  # of those, inside the targets' working hours
    corrections: tuple[Correction, ...] = ()  # the trail of what is shown or was taken out
    vantages: tuple[str, ...] = ()  # the named vantages the period's records came from


@dataclass(frozen=True)
class History:
    """What the store held for ``targets`` in ``period`` as known at ``now``: plain data,
    so figures (and reports) can be computed and tested without a database."""

    targets: tuple[Target, ...]
    period: Period
    now: float
    outages: dict[str, tuple[Outage, ...]]  # target name -> outages overlapping the period
    coverage: dict[str, tuple[CoverageSpan, ...]]  # target name -> coverage spans
    maintenance: tuple[Maintenance, ...]  # windows added by command (removed ones too)
    isolations: tuple[Isolation, ...] = ()  # when the monitor was cut off in the period
    corrections: tuple[Correction, ...] = ()  # the whole audit trail


def load(store: Store, targets: Sequence[Target], period: Period, now: float) -> History:
    """Read ``targets``' recorded history for ``period`` up to ``now`` (the edge: I/O)."""
    upto = min(period.end, now)
    return History(
        targets=tuple(targets),
        period=period,
        now=now,
        outages={
            t.name: tuple(store.outages(target=t.name, since=period.start, until=upto))
            for t in targets
        },
        coverage={t.name: tuple(store.coverage(t.name, period.start, upto)) for t in targets},
        maintenance=tuple(store.maintenance(include_removed=True)),
        isolations=tuple(store.isolations(period.start, upto)),
        corrections=tuple(store.corrections()),
    )


def isolated_working(
    isolated: Sequence[Interval], schedules: Iterable[Schedule], start: float, end: float
) -> float:
    """Seconds of [start, end) in which the monitor was cut off inside anyone's working
    hours (the report's headline figure for its isolations)."""
    if not isolated or end <= start:
        return 0.0
    working = union(*(schedule.open_intervals(start, end) for schedule in schedules))
    return total(intersect(clip(isolated, start, end), working))


OUTAGE_ACTIONS = frozenset({"outage-add", "outage-edit", "outage-delete", "exclude", "include"})
MAINTENANCE_ACTIONS = frozenset({"maintenance-add", "maintenance-remove"})


def trail(
    config: Config,
    recorded: History,
    outages: Iterable[Outage],
    entries: Iterable[MaintenanceEntry],
) -> tuple[Correction, ...]:
    """The corrections behind a report: those of the outages and windows it shows, and of
    outages deleted and windows removed that would have been in it."""
    period, names = recorded.period, {t.name for t in recorded.targets}
    outage_ids = {o.id for o in outages}
    deleted = {
        c.subject_id
        for c in recorded.corrections
        if c.action == "outage-delete" and c.detail and _was_in(json.loads(c.detail), names, period)
    }
    removed = [m for m in recorded.maintenance if m.removed_at is not None]
    window_ids = {e.id for e in entries} | {
        e.id
        for e in stored_entries(removed, config.timezone, period.start, period.end)
        if any(e.applies_to(t) for t in recorded.targets)
    }
    return tuple(
        c
        for c in recorded.corrections
        if (c.action in OUTAGE_ACTIONS and c.subject_id in outage_ids | deleted)
        or (c.action in MAINTENANCE_ACTIONS and c.subject_id in window_ids)
    )


def _was_in(was: dict[str, Any], names: set[str], period: Period) -> bool:
    """Whether a deleted outage, as it was, belonged to these targets and this period."""
    return was["target"] in names and was["start"] < period.end and was["end"] > period.start


def named_vantages(recorded: History) -> tuple[str, ...]:
    """The named vantages whose probing, outages or isolations the history holds."""
    named = (
        {s.vantage for spans in recorded.coverage.values() for s in spans}
        | {o.vantage for outages in recorded.outages.values() for o in outages}
        | {i.vantage for i in recorded.isolations}
    )
    return tuple(sorted(named - {""}))


def compute(
    config: Config, recorded: History, what_if_schedule: str | None = None
) -> PeriodFigures:
    """Figures of the recorded targets for the recorded period, as known at its ``now``.

    Objectives (and so ``met`` and the error budgets) are those in force at the *start*
    of the period: a quarter takes its reporting year's, a calendar year under an April
    reporting year the one of the financial year it starts in.  ``what_if_schedule``
    computes every figure as if each target had that schedule, from the same outages,
    maintenance and coverage (coverage still follows the target's own schedule and
    ``probe_outside_hours``, so nights never probed stay unmonitored, never up).
    """
    period, now, chosen = recorded.period, recorded.now, recorded.targets
    policy = Policy(config.unmonitored)
    entries = maintenance_entries(config, recorded.maintenance, period.start, period.end)
    isolated = isolated_spans(recorded.isolations, now)
    isolated_by = isolated_by_vantage(recorded.isolations, now)
    results: list[TargetResult] = []
    shown_outages: list[Outage] = []
    downtimes: dict[int, float] = {}  # outage id -> its downtime in the period
    for target in chosen:
        own = config.schedule_of(target)
        working = config.schedules[what_if_schedule] if what_if_schedule else own
        outages = recorded.outages[target.name]
        shown_outages.extend(outages)
        counted = [o for o in outages if not o.excluded]
        views = vantage_views(
            target, own, recorded.coverage[target.name], counted, isolated_by, now
        )
        combined = combine(views, config.vantage_quorum)
        figures = target_figures(
            working=working,
            coverage=combined.probed,
            outages=outage_spans(counted),
            maintenance=maintenance_for(target, entries),
            start=period.start,
            end=period.end,
            now=now,
            policy=policy,
            objective=objective_at(config, target.objective, period.start),
            isolated=combined.isolated,
            unreachable=UnreachablePolicy(config.unreachable),
            agreed=combined.agreed,
        )
        downtimes.update(dict.fromkeys((o.id for o in outages), 0.0))
        downtimes.update(zip((o.id for o in counted), figures.outage_downtimes, strict=True))
        results.append(TargetResult(target, figures))
    groups = []
    for name in dict.fromkeys(t.group for t in chosen):
        members = [r for r in results if r.target.group == name]
        groups.append(
            GroupResult(
                name,
                group_figures(
                    [r.figures for r in members],
                    objective_at(config, config.groups[name].objective, period.start),
                    policy,
                ),
                tuple(r.target.name for r in members),
            )
        )
    return PeriodFigures(
        period=period,
        now=now,
        complete=now >= period.end,
        policy=policy,
        what_if_schedule=what_if_schedule,
        targets=tuple(results),
        groups=tuple(groups),
        outages=tuple(sorted(shown_outages, key=lambda o: (o.start, o.id))),
        maintenance=tuple(e for e in entries if any(e.applies_to(t) for t in chosen)),
        outage_downtimes=downtimes,
        isolations=recorded.isolations,
        corrections=trail(config, recorded, shown_outages, entries),
        vantages=named_vantages(recorded),
        isolated_working_seconds=isolated_working(
            isolated,
            {
                config.schedules[what_if_schedule] if what_if_schedule else config.schedule_of(t)
                for t in chosen
            },
            period.start,
            min(period.end, now),
        ),
    )


def counted_downtimes(
    config: Config, store: Store, outages: Sequence[Outage], now: float
) -> dict[int, float]:
    """Each outage's counted downtime (working hours, less maintenance, detected ones
    only where monitored), as a report over its own span would count it: the same
    ``load`` and ``compute``, one target at a time.  Outages of targets no longer in the
    config have no figure."""
    counted: dict[int, float] = {}
    for name in dict.fromkeys(o.target for o in outages):
        target = config.target(name)
        if target is None:
            continue
        mine = [o for o in outages if o.target == name]
        ends = [o.end if o.end is not None else now for o in mine]
        span = Period("outages", "outages", min(o.start for o in mine), max(ends))
        figures = compute(config, load(store, [target], span, now))
        # Not loaded, so counting nothing yet: empty outages and those starting after now.
        counted.update((o.id, figures.outage_downtimes.get(o.id, 0.0)) for o in mine)
    return counted
