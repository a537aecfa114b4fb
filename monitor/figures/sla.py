"""SLA figures: (schedule, coverage, outages, maintenance, period, now) -> seconds and ratios.

This module is the single definition of the figures in docs/design.md "The figures";
every report, metric and CSV goes through it.  With the window ``[start, min(end, now))``:

* W  = working hours in the window; M = maintenance windows (normalized: they may overlap)
* scheduled   = W - M
* C  = coverage, as given by the caller (already restricted to probing hours), minus the
  spans in which the monitor was isolated (its witnesses failed): isolated time is never
  monitored, whatever the probes said
* U  = unreachable time: detected outages the target had while a parent it depends on was
  failing (∩ C).  With several vantage points, ``agreed`` (``vantages.combine``) says where
  they confirmed a failure: a detected outage counts only there, and U is its part every
  agreeing vantage saw behind a failed parent.  ``reporting.unreachable: down`` counts
  them as outages (default), ``unmonitored`` takes them out of C instead
* O  = union of (detected outage spans ∩ C) and manual outage spans; open outages end at now
* down        = scheduled ∩ O
* monitored   = scheduled ∩ (C union O);  unmonitored = scheduled - monitored
* maintenance = W ∩ M (working time lost to planned maintenance)
* isolated    = scheduled ∩ (coverage as given) ∩ isolated spans: time the target would
  have been monitored but for the isolation; unreachable = scheduled ∩ U (under either
  unreachable policy, so reports can always show it apart)
* uptime_ratio: ``excluded`` 1 - down/monitored; ``up`` 1 - down/scheduled;
  ``down`` 1 - (down + unmonitored)/scheduled; no figure (None) for a zero denominator.
* error budget: allowed = (1 - objective) x (working hours of the WHOLE period - M);
  remaining = allowed - down.

Arithmetic decisions, so a hand calculation agrees to the last digit:

* The objective is taken as the decimal the user wrote (``0.99`` means 99/100, not the
  binary float nearest to it), and the ratio, ``met`` and the budget are computed in exact
  rational arithmetic from the (float) second counts, then rounded once.  So 1% of
  3 600 000 s is exactly 36 000 s, and ``met`` is True exactly when
  ``numerator <= (1 - objective) x denominator`` -- down exactly equal to the budget meets
  the objective.
* Ratios are clamped into [0, 1] as a guard; with the sets above they never leave it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import TypeVar

from monitor.figures.intervals import Interval, clip, intersect, normalize, subtract, total, union
from monitor.figures.schedule import Schedule
from monitor.figures.vantages import Agreement, incidents

__all__ = [
    "Figures",
    "GroupFigures",
    "OutageSpan",
    "Policy",
    "Status",
    "UnreachablePolicy",
    "error_budget",
    "group_figures",
    "judge",
    "live_ratio",
    "target_figures",
]

T = TypeVar("T", float, Fraction)


class Policy(StrEnum):
    """How unmonitored scheduled time counts in the uptime ratio (``unmonitored:`` setting)."""

    EXCLUDED = "excluded"  # default: only time whose state is known counts
    UP = "up"  # unknown time counts as up
    DOWN = "down"  # unknown time counts as down


class UnreachablePolicy(StrEnum):
    """How time a target was unreachable behind a failed parent counts
    (``reporting.unreachable:``)."""

    DOWN = "down"  # default: the users behind the parent lost the service
    UNMONITORED = "unmonitored"  # the monitor could not see the target: not monitored


@dataclass(frozen=True)
class OutageSpan:
    """One outage as the caller loaded it (excluded outages already filtered out)."""

    start: float
    end: float | None  # None = still open: counts up to ``now``
    detected: bool = True  # daemon-detected: counts only inside coverage; manual: whole span
    unreachable: bool = False  # failed while a parent it depends on was failing
    vantage: str = ""  # where a detected one was seen from ("": the default vantage)


@dataclass(frozen=True)
class Figures:
    """One target's figures over one period (to ``now``)."""

    scheduled_seconds: float
    monitored_seconds: float
    unmonitored_seconds: float
    downtime_seconds: float
    maintenance_seconds: float
    uptime_ratio: float | None
    objective: float
    met: bool | None
    error_budget_seconds: float  # allowed over the whole period
    error_budget_remaining_seconds: float  # allowed - down (may be negative)
    period_scheduled_seconds: float  # W - M over the whole period (the budget's base)
    outages: int  # incidents with downtime > 0 in this window (vantages.incidents)
    longest_outage_seconds: float  # max single-incident downtime in this window (0 if none)
    outage_downtimes: tuple[float, ...] = ()  # each given outage's downtime, in order
    isolated_seconds: float = 0.0  # scheduled time lost to the monitor's isolation
    unreachable_seconds: float = 0.0  # scheduled time unreachable behind a failed parent

    @property
    def coverage_ratio(self) -> float | None:
        return coverage_ratio(self.monitored_seconds, self.scheduled_seconds)


@dataclass(frozen=True)
class GroupFigures:
    """A group's time-weighted figures: the policy formula applied to summed seconds."""

    scheduled_seconds: float
    monitored_seconds: float
    unmonitored_seconds: float
    downtime_seconds: float
    uptime_ratio: float | None
    objective: float
    met: bool | None
    error_budget_seconds: float
    error_budget_remaining_seconds: float
    isolated_seconds: float = 0.0
    unreachable_seconds: float = 0.0
    period_scheduled_seconds: float = 0.0  # the members' whole-period base of the budget

    @property
    def coverage_ratio(self) -> float | None:
        return coverage_ratio(self.monitored_seconds, self.scheduled_seconds)


def coverage_ratio(monitored: float, scheduled: float) -> float | None:
    """Coverage: the share of scheduled time whose state is known (None without any)."""
    return min(1.0, monitored / scheduled) if scheduled > 0 else None


class Status(StrEnum):
    """What a figure says about its objective, in the words a report prints."""

    MET = "met"
    MISSED = "MISSED"
    INSUFFICIENT = "insufficient data"  # coverage below reporting.minimum_coverage
    ON_TRACK = "on track"  # unfinished: the budget left covers the time left at the objective
    AT_RISK = "at risk"  # unfinished: less budget left than the time left is allowed
    NO_DATA = "no data"  # no scheduled (or no monitored) time


def judge(f: Figures | GroupFigures, complete: bool, minimum_coverage: float) -> Status:
    """The status of ``f`` (docs/design.md "Status"), in this order: MISSED once the known
    downtime alone has spent the budget (certain, whatever is still to come or unknown);
    insufficient data below the minimum coverage; then met/MISSED for a finished period,
    on track/at risk for an unfinished one: the budget left against (1 - objective) x the
    scheduled time still to come."""
    if f.scheduled_seconds <= 0:
        return Status.NO_DATA
    remaining = Fraction(f.error_budget_remaining_seconds)
    if remaining < 0:
        return Status.MISSED
    covered = Fraction(f.monitored_seconds) / Fraction(f.scheduled_seconds)
    if covered < Fraction(repr(float(minimum_coverage))):
        return Status.INSUFFICIENT
    if f.met is None:
        return Status.NO_DATA
    if complete:
        return Status.MET if f.met else Status.MISSED
    to_come = max(Fraction(0), Fraction(f.period_scheduled_seconds) - Fraction(f.scheduled_seconds))
    allowed_to_come = (1 - _objective_fraction(f.objective)) * to_come
    return Status.ON_TRACK if remaining >= allowed_to_come else Status.AT_RISK


def _objective_fraction(objective: float) -> Fraction:
    """The objective as the decimal the user wrote (repr of a float is its shortest decimal)."""
    if isinstance(objective, bool) or not isinstance(objective, int | float):
        raise ValueError(f"objective must be a number in [0, 1], got {objective!r}")
    if not math.isfinite(objective) or not 0 <= objective <= 1:
        raise ValueError(f"objective must be a number in [0, 1], got {objective!r}")
    return Fraction(repr(float(objective)))


def _terms(policy: Policy, scheduled: T, monitored: T, unmonitored: T, down: T) -> tuple[T, T]:
    """The policy's (numerator, denominator): ratio = 1 - numerator / denominator."""
    if policy is Policy.EXCLUDED:
        return down, monitored
    if policy is Policy.UP:
        return down, scheduled
    return down + unmonitored, scheduled


def _ratio_and_met(
    policy: Policy,
    scheduled: Fraction,
    monitored: Fraction,
    unmonitored: Fraction,
    down: Fraction,
    objective: Fraction,
) -> tuple[float | None, bool | None]:
    """Apply the policy's formula; None (never 1.0, never a division error) for no time."""
    numerator, denominator = _terms(policy, scheduled, monitored, unmonitored, down)
    if denominator <= 0:
        return None, None
    exact = 1 - numerator / denominator
    ratio = min(1.0, max(0.0, float(exact)))
    return ratio, exact >= objective


def _allowed(objective: Fraction, seconds: float) -> Fraction:
    return (1 - objective) * Fraction(seconds)


def _outage_spans(
    outages: Sequence[OutageSpan], coverage: list[Interval], now: float
) -> list[list[Interval]]:
    """Each outage's counted part: detected ∩ C, manual whole; open ones end at ``now``."""
    counted: list[list[Interval]] = []
    for o in outages:
        end = now if o.end is None else o.end
        if not end > o.start:
            counted.append([])
        elif o.detected:
            counted.append(clip(coverage, o.start, end))
        else:
            counted.append([(o.start, end)])
    return counted


def target_figures(
    *,
    working: Schedule,
    coverage: Sequence[Interval],
    outages: Sequence[OutageSpan],
    maintenance: Sequence[Interval],
    start: float,
    end: float,
    now: float,
    policy: Policy,
    objective: float,
    isolated: Sequence[Interval] = (),
    unreachable: UnreachablePolicy = UnreachablePolicy.DOWN,
    agreed: Agreement | None = None,
) -> Figures:
    """One target's figures for period ``[start, end)`` as known at ``now`` (docs/design.md).

    ``agreed``: where several vantages confirmed the target failing (inside ``coverage``
    less ``isolated``, as ``vantages.combine`` gives them); None for one vantage, whose
    detected outages confirm themselves.
    """
    policy = Policy(policy)
    unreachable = UnreachablePolicy(unreachable)
    objective_q = _objective_fraction(objective)
    window_end = min(end, now)

    m = normalize(maintenance)
    probed = normalize(coverage)
    isolated_set = normalize(isolated)
    c = subtract(probed, isolated_set) if isolated_set else probed
    w = working.open_intervals(start, window_end) if window_end > start else []
    scheduled = subtract(w, m)

    per_outage = _outage_spans(outages, c if agreed is None else agreed.failing, now)
    u = (
        union(*(spans for o, spans in zip(outages, per_outage, strict=True) if o.unreachable))
        if agreed is None
        else agreed.unreachable
    )
    if u and unreachable is UnreachablePolicy.UNMONITORED:
        # Not seen, so neither up nor down: out of C, and out of each outage's count.
        c = subtract(c, u)
        per_outage = [
            [] if o.unreachable else spans for o, spans in zip(outages, per_outage, strict=True)
        ]
    o = union(*per_outage) if per_outage else []
    down_set = intersect(scheduled, o)
    monitored_set = intersect(scheduled, union(c, o))

    scheduled_s = total(scheduled)
    monitored_s = total(monitored_set)
    down_s = total(down_set)
    unmonitored_s = total(subtract(scheduled, monitored_set))
    maintenance_s = total(intersect(w, m))

    # Only scheduled time near an outage can meet it: clip before intersecting.
    each = tuple(
        total(intersect(clip(scheduled, spans[0][0], spans[-1][1]), spans)) if spans else 0.0
        for spans in per_outage
    )
    # One failure recorded by two vantages is one incident: counted once, its length
    # that of their union.
    by_incident = [
        each[group[0]]
        if len(group) == 1
        else total(intersect(scheduled, union(*(per_outage[i] for i in group))))
        for group in incidents(
            [o.vantage if o.detected and o.vantage else None for o in outages], per_outage
        )
    ]
    count = sum(1 for mine in by_incident if mine > 0)
    longest = max(by_incident, default=0.0)

    ratio, met = _ratio_and_met(
        policy,
        Fraction(scheduled_s),
        Fraction(monitored_s),
        Fraction(unmonitored_s),
        Fraction(down_s),
        objective_q,
    )

    # The budget covers the whole period, future working hours included, less the
    # maintenance known so far.
    whole = working.open_intervals(start, end) if end > start else []
    # Rounded once; remaining is then the shown allowed minus the shown down, as by hand.
    period_scheduled = total(subtract(whole, m))
    allowed = error_budget(objective, period_scheduled)

    return Figures(
        scheduled_seconds=scheduled_s,
        monitored_seconds=monitored_s,
        unmonitored_seconds=unmonitored_s,
        downtime_seconds=down_s,
        maintenance_seconds=maintenance_s,
        uptime_ratio=ratio,
        objective=objective,
        met=met,
        error_budget_seconds=allowed,
        error_budget_remaining_seconds=float(Fraction(allowed) - Fraction(down_s)),
        period_scheduled_seconds=period_scheduled,
        outages=count,
        longest_outage_seconds=longest,
        outage_downtimes=each,
        isolated_seconds=total(intersect(scheduled, intersect(probed, isolated_set)))
        if isolated_set
        else 0.0,
        unreachable_seconds=total(intersect(scheduled, u)) if u else 0.0,
    )


def group_figures(members: Sequence[Figures], objective: float, policy: Policy) -> GroupFigures:
    """Time-weighted group figures: sum members' seconds, then apply the policy formula.

    A target with many working hours weighs more than one with few, so the group ratio is
    the share of the group's (monitored) time that was up -- not a mean of ratios.  The
    budget is the group's objective applied to the members' whole-period scheduled time,
    so it is judged against the same objective as the group's ratio.
    """
    policy = Policy(policy)
    objective_q = _objective_fraction(objective)
    scheduled = sum((Fraction(f.scheduled_seconds) for f in members), Fraction(0))
    monitored = sum((Fraction(f.monitored_seconds) for f in members), Fraction(0))
    unmonitored = sum((Fraction(f.unmonitored_seconds) for f in members), Fraction(0))
    down = sum((Fraction(f.downtime_seconds) for f in members), Fraction(0))
    period_scheduled = sum((Fraction(f.period_scheduled_seconds) for f in members), Fraction(0))
    allowed = Fraction(error_budget(objective, float(period_scheduled)))
    ratio, met = _ratio_and_met(policy, scheduled, monitored, unmonitored, down, objective_q)
    return GroupFigures(
        scheduled_seconds=float(scheduled),
        monitored_seconds=float(monitored),
        unmonitored_seconds=float(unmonitored),
        downtime_seconds=float(down),
        uptime_ratio=ratio,
        objective=objective,
        met=met,
        error_budget_seconds=float(allowed),
        error_budget_remaining_seconds=float(allowed - down),
        isolated_seconds=float(sum(Fraction(f.isolated_seconds) for f in members)),
        unreachable_seconds=float(sum(Fraction(f.unreachable_seconds) for f in members)),
        period_scheduled_seconds=float(period_scheduled),
    )


def live_ratio(policy: Policy) -> Callable[[float, float, float, float], float | None]:
    """The policy's ratio over (scheduled, monitored, unmonitored, down) in plain floats,
    for the live metrics' running totals: a scrape computes 50,000 of them, so the policy
    is resolved once here. Reports use the exact path in ``target_figures``.

    Which seconds make up the terms is read off ``_terms`` itself (fed one bit per
    argument; it only picks and adds them), so the formula stays defined once while
    the closure does no enum dispatch or generic call per figure.
    """
    numerator, denominator = _terms(Policy(policy), 1, 2, 4, 8)
    if numerator not in (8, 8 + 4) or denominator not in (1, 2):
        raise AssertionError(f"live_ratio cannot express the terms of {policy!r}")
    with_unmonitored = numerator == 8 + 4  # down + unmonitored, added in _terms' order
    over_monitored = denominator == 2

    def ratio(scheduled: float, monitored: float, unmonitored: float, down: float) -> float | None:
        below = monitored if over_monitored else scheduled
        if below <= 0:
            return None
        x = 1 - (down + unmonitored if with_unmonitored else down) / below
        # min(1.0, max(0.0, x)) without two calls; the same result for every float.
        x = x if x > 0.0 else 0.0
        return x if x < 1.0 else 1.0

    return ratio


def error_budget(objective: float, period_scheduled: float) -> float:
    """Allowed downtime: (1 - objective) x the period's scheduled seconds, rounded once."""
    return float(_allowed(_objective_fraction(objective), period_scheduled))
