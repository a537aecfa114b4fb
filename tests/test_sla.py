"""SLA figures, checked against answers worked out by hand.

Every expected number below is derived in the comment above it, the way an auditor would
check it with a calendar: list the working hours, take out maintenance, mark the outage,
and count.  Times are Europe/London wall-clock times unless said otherwise.

The office schedule used throughout is Monday-Friday 08:00-18:00 (10 h = 36 000 s a day),
minus England & Wales bank holidays (``holidays`` GB/ENG).  Bank holidays used below:
Good Friday 29 Mar 2024, Easter Monday 1 Apr 2024, May Day 6 May 2024, Spring bank
holiday 27 May 2024.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from monitor.figures.intervals import Interval
from monitor.figures.periods import parse_period
from monitor.figures.schedule import Schedule, always_schedule, parse_hours
from monitor.figures.sla import Figures, OutageSpan, Policy, group_figures, target_figures
from tests.support import examples

LON = ZoneInfo("Europe/London")
HOUR = 3600
WORKDAY = 10 * HOUR  # 08:00-18:00

OFFICE = Schedule(
    name="office",
    timezone="Europe/London",
    ranges=parse_hours({"mon-fri": "08:00-18:00"}),
    holiday_country="GB",
    holiday_subdiv="ENG",
)
ALWAYS = always_schedule("Europe/London")


def L(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> float:
    """Epoch seconds of a London wall-clock time (first occurrence if repeated)."""
    return datetime(y, mo, d, h, mi, tzinfo=LON).timestamp()


def period(label: str) -> tuple[float, float]:
    p = parse_period(label, "Europe/London", 4)
    return p.start, p.end


def exact_ratio(numerator: float, denominator: float) -> float:
    """1 - numerator/denominator, rounded once (as the module computes it)."""
    return float(1 - Fraction(numerator) / Fraction(denominator))


def figures(
    label: str | tuple[float, float],
    *,
    outages: list[OutageSpan] | None = None,
    coverage: list[Interval] | None = None,
    maintenance: list[Interval] | None = None,
    now: float | None = None,
    policy: Policy = Policy.EXCLUDED,
    objective: float = 0.99,
    working: Schedule = OFFICE,
) -> Figures:
    """Figures with defaults: office hours, coverage of the whole period, now = period end."""
    start, end = period(label) if isinstance(label, str) else label
    return target_figures(
        working=working,
        coverage=[(start, end)] if coverage is None else coverage,
        outages=outages or [],
        maintenance=maintenance or [],
        start=start,
        end=end,
        now=end if now is None else now,
        policy=policy,
        objective=objective,
    )


# --- hand-worked cases ------------------------------------------------------------------


def test_outage_over_bank_holiday_weekend():
    # Outage Fri 3 May 2024 17:00 -> Tue 7 May 2024 09:00 (BST), detected, full coverage.
    #   Fri 3 May 17:00-18:00 working     = 1 h
    #   Sat 4, Sun 5 weekend; Mon 6 May Day bank holiday = 0
    #   Tue 7 May 08:00-09:00 working     = 1 h
    #   down = 2 h = 7200 s
    # May 2024: 31 days starting Wednesday -> weekdays 1-3, 6-10, 13-17, 20-24, 27-31 = 23,
    # less May Day (6th) and Spring bank holiday (27th) = 21 working days x 36 000 s
    #   scheduled = monitored = 756 000 s
    #   ratio = 1 - 7200/756000 = 1 - 1/105 = 0.990476...  >= 0.99 -> met
    #   budget = 1% x 756 000 = 7560 s; remaining = 7560 - 7200 = 360 s
    f = figures("2024-05", outages=[OutageSpan(L(2024, 5, 3, 17), L(2024, 5, 7, 9))])
    assert f.downtime_seconds == 7200
    assert f.scheduled_seconds == f.monitored_seconds == 756_000
    assert f.unmonitored_seconds == 0
    assert f.uptime_ratio == exact_ratio(7200, 756_000)
    assert f.uptime_ratio == pytest.approx(0.990476190, abs=1e-9)
    assert f.met is True
    assert f.error_budget_seconds == 7560
    assert f.error_budget_remaining_seconds == 360
    assert f.outages == 1
    assert f.longest_outage_seconds == 7200


def test_outage_crossing_end_of_working_day():
    # Wed 8 May 17:30 -> Thu 9 May 08:30: 17:30-18:00 (30 min) + 08:00-08:30 (30 min) = 3600 s.
    # Over the week 2024-W19 (Mon 6 May bank holiday -> 4 working days = 144 000 s).
    f = figures("2024-W19", outages=[OutageSpan(L(2024, 5, 8, 17, 30), L(2024, 5, 9, 8, 30))])
    assert f.downtime_seconds == 3600
    assert f.scheduled_seconds == 4 * WORKDAY
    # The same outage seen one day at a time: 1800 s on each day.
    assert (
        figures(
            "2024-05-08", outages=[OutageSpan(L(2024, 5, 8, 17, 30), L(2024, 5, 9, 8, 30))]
        ).downtime_seconds
        == 1800
    )
    assert (
        figures(
            "2024-05-09", outages=[OutageSpan(L(2024, 5, 8, 17, 30), L(2024, 5, 9, 8, 30))]
        ).downtime_seconds
        == 1800
    )


def test_outage_crossing_a_quarter_boundary_splits_and_sums():
    # Outage Thu 28 Mar 2024 16:00 (GMT) -> Tue 2 Apr 2024 10:00 (BST), across Easter and the
    # spring clock change.
    #   2023/24-Q4 (Jan-Mar 2024): Thu 28 Mar 16:00-18:00 = 2 h; Fri 29 Good Friday;
    #     Sat 30 / Sun 31 weekend.                                        down = 7200 s
    #   2024/25-Q1 (Apr-Jun 2024): Mon 1 Apr Easter Monday; Tue 2 Apr 08:00-10:00 = 2 h.
    #                                                                     down = 7200 s
    # Scheduled hours, by counting weekdays less bank holidays:
    #   Q4: Jan 23 - 1 (New Year) = 22; Feb 21; Mar 21 - 1 (Good Friday) = 20 -> 63 days
    #       = 630 h = 2 268 000 s
    #   Q1: Apr 22 - 1 (Easter Monday) = 21; May 21; Jun 20 -> 62 days = 620 h = 2 232 000 s
    outage = [OutageSpan(L(2024, 3, 28, 16), L(2024, 4, 2, 10))]
    q4 = figures("2023/24-Q4", outages=outage)
    q1 = figures("2024/25-Q1", outages=outage)
    both = figures("2024-01-01..2024-06-30", outages=outage)
    assert q4.downtime_seconds == 7200 and q4.scheduled_seconds == 2_268_000
    assert q1.downtime_seconds == 7200 and q1.scheduled_seconds == 2_232_000
    assert both.downtime_seconds == q4.downtime_seconds + q1.downtime_seconds == 14_400
    assert both.scheduled_seconds == q4.scheduled_seconds + q1.scheduled_seconds
    # The outage is counted once in each quarter it touched.
    assert (q4.outages, q1.outages, both.outages) == (1, 1, 1)
    assert both.longest_outage_seconds == 14_400


def test_maintenance_overlapping_an_outage():
    # Wed 15 May: outage 10:00-12:00, maintenance 11:00-13:00.
    #   W = 08:00-18:00 = 36 000 s; W ∩ M = 11:00-13:00 = 7200 s (maintenance_seconds)
    #   scheduled = 36 000 - 7200 = 28 800 s
    #   down = scheduled ∩ outage = 10:00-11:00 = 3600 s (11-12 was planned, not counted)
    #   ratio = 1 - 3600/28800 = 0.875
    f = figures(
        "2024-05-15",
        outages=[OutageSpan(L(2024, 5, 15, 10), L(2024, 5, 15, 12))],
        maintenance=[(L(2024, 5, 15, 11), L(2024, 5, 15, 13))],
    )
    assert f.maintenance_seconds == 7200
    assert f.scheduled_seconds == f.monitored_seconds == 28_800
    assert f.downtime_seconds == 3600
    assert f.uptime_ratio == 0.875
    assert f.met is False
    # Budget: 1% of (36 000 - 7200) = 288 s; remaining 288 - 3600 = -3312 s.
    assert f.error_budget_seconds == 288
    assert f.error_budget_remaining_seconds == -3312


def test_overlapping_maintenance_windows_count_once():
    # Thu 16 May: maintenance 09:00-11:00, 10:00-12:00 (overlaps the first) and 17:30-19:00.
    #   union inside working hours: 09:00-12:00 (3 h) + 17:30-18:00 (0.5 h) = 12 600 s
    #   scheduled = 36 000 - 12 600 = 23 400 s; no outage -> ratio 1.0
    f = figures(
        "2024-05-16",
        maintenance=[
            (L(2024, 5, 16, 10), L(2024, 5, 16, 12)),
            (L(2024, 5, 16, 9), L(2024, 5, 16, 11)),
            (L(2024, 5, 16, 17, 30), L(2024, 5, 16, 19)),
        ],
    )
    assert f.maintenance_seconds == 12_600
    assert f.scheduled_seconds == 23_400
    assert f.uptime_ratio == 1.0 and f.met is True


def test_open_outage_counts_up_to_now():
    # Tue 14 May, now = 15:30; outage opened 14:00 and is still open.
    #   window = [00:00, 15:30); W = 08:00-15:30 = 7.5 h = 27 000 s
    #   down = 14:00-15:30 = 5400 s; ratio = 1 - 5400/27000 = 0.8
    #   budget over the WHOLE day: 1% x 36 000 = 360 s; remaining = 360 - 5400 = -5040 s
    now = L(2024, 5, 14, 15, 30)
    f = figures(
        "2024-05-14",
        outages=[OutageSpan(L(2024, 5, 14, 14), None)],
        coverage=[(L(2024, 5, 14), now)],
        now=now,
    )
    assert f.scheduled_seconds == f.monitored_seconds == 27_000
    assert f.downtime_seconds == 5400
    assert f.uptime_ratio == 0.8
    assert f.error_budget_seconds == 360
    assert f.error_budget_remaining_seconds == -5040
    assert f.longest_outage_seconds == 5400


@pytest.mark.parametrize(
    ("detected", "down", "monitored", "unmonitored", "ratio"),
    [
        # Detected: counts only inside coverage -> 11:00-12:00 + 14:00-15:00 = 7200 s.
        #   monitored = coverage 08-12 + 14-18 = 8 h = 28 800 s; the 12-14 gap is unmonitored.
        #   ratio = 1 - 7200/28800 = 0.75
        (True, 7200, 28_800, 7200, 0.75),
        # Manual (recorded by an admin): counts over its whole span 11:00-15:00 = 14 400 s,
        #   and that makes the gap known: monitored = 10 h = 36 000 s, unmonitored 0.
        #   ratio = 1 - 14400/36000 = 0.6
        (False, 14_400, 36_000, 0, 0.6),
    ],
)
def test_manual_outage_over_unmonitored_gap(detected, down, monitored, unmonitored, ratio):
    # Wed 22 May: daemon stopped 12:00-14:00 (coverage 08-12 and 14-18); outage 11:00-15:00.
    f = figures(
        "2024-05-22",
        outages=[OutageSpan(L(2024, 5, 22, 11), L(2024, 5, 22, 15), detected=detected)],
        coverage=[
            (L(2024, 5, 22, 8), L(2024, 5, 22, 12)),
            (L(2024, 5, 22, 14), L(2024, 5, 22, 18)),
        ],
    )
    assert f.scheduled_seconds == WORKDAY
    assert f.downtime_seconds == down
    assert f.monitored_seconds == monitored
    assert f.unmonitored_seconds == unmonitored
    assert f.uptime_ratio == ratio


@pytest.mark.parametrize(
    ("policy", "ratio", "met"),
    [
        # Thu 23 May: coverage 08:00-16:00 (daemon down after 16:00), outage 09:00-10:00.
        #   scheduled 36 000, monitored 28 800, unmonitored 7200, down 3600.
        # excluded: 1 - 3600/28800            = 0.875
        (Policy.EXCLUDED, 0.875, True),
        # up:       1 - 3600/36000            = 0.9
        (Policy.UP, 0.9, True),
        # down:     1 - (3600 + 7200)/36000   = 0.7
        (Policy.DOWN, 0.7, False),
    ],
)
def test_unmonitored_gap_under_each_policy(policy, ratio, met):
    f = figures(
        "2024-05-23",
        outages=[OutageSpan(L(2024, 5, 23, 9), L(2024, 5, 23, 10))],
        coverage=[(L(2024, 5, 23, 8), L(2024, 5, 23, 16))],
        policy=policy,
        objective=0.8,
    )
    assert (f.scheduled_seconds, f.monitored_seconds) == (36_000, 28_800)
    assert (f.unmonitored_seconds, f.downtime_seconds) == (7200, 3600)
    assert f.uptime_ratio == ratio
    # Objective 0.8: met under excluded and up, not under down.
    assert f.met is met


def test_zero_length_period_has_no_figure():
    s = L(2024, 5, 15, 12)
    for policy in Policy:
        f = figures((s, s), policy=policy)
        assert f.scheduled_seconds == f.monitored_seconds == f.downtime_seconds == 0
        assert f.uptime_ratio is None and f.met is None
        assert f.error_budget_seconds == 0 and f.error_budget_remaining_seconds == 0


@pytest.mark.parametrize("policy", list(Policy))
def test_period_without_working_hours_has_no_figure(policy):
    # Saturday 18 May: the office is closed -> scheduled 0 under every policy.
    f = figures(
        "2024-05-18", policy=policy, outages=[OutageSpan(L(2024, 5, 18, 9), L(2024, 5, 18, 10))]
    )
    assert f.scheduled_seconds == 0 and f.downtime_seconds == 0
    assert f.uptime_ratio is None and f.met is None
    assert f.outages == 0 and f.longest_outage_seconds == 0
    # Bank holiday Monday 27 May likewise.
    assert figures("2024-05-27", policy=policy).uptime_ratio is None


def test_fully_maintained_day_has_no_figure():
    # Maintenance over the whole working day: scheduled = 0 -> no ratio (never 100%).
    f = figures("2024-05-15", maintenance=[(L(2024, 5, 15, 7), L(2024, 5, 15, 19))])
    assert f.maintenance_seconds == WORKDAY
    assert f.scheduled_seconds == 0
    assert f.uptime_ratio is None and f.met is None
    assert f.error_budget_seconds == 0


def test_no_coverage_at_all():
    # Daemon never ran on Wed 15 May: monitored 0.
    #   excluded: no figure; up: 1 - 0/36000 = 1.0; down: 1 - (0 + 36000)/36000 = 0.0
    ratios = {p: figures("2024-05-15", coverage=[], policy=p).uptime_ratio for p in Policy}
    assert ratios == {Policy.EXCLUDED: None, Policy.UP: 1.0, Policy.DOWN: 0.0}


def test_future_period_has_no_figures_but_a_budget():
    # now before the period starts: window empty, but the budget covers the whole period.
    f = figures("2024-05-15", now=L(2024, 5, 1))
    assert f.scheduled_seconds == 0 and f.uptime_ratio is None
    assert f.error_budget_seconds == 360 and f.error_budget_remaining_seconds == 360


@pytest.mark.parametrize(
    ("day", "outage", "scheduled", "down"),
    [
        # Sun 31 Mar 2024: clocks go forward at 01:00 GMT -> day is 23 h = 82 800 s.
        # Outage 00:30 GMT -> 03:30 BST: 00:30-01:00 GMT (30 min), then 02:00-03:30 BST
        # (1.5 h) = 2 h = 7200 s of real time.
        ("2024-03-31", ((2024, 3, 31, 0, 30), (2024, 3, 31, 3, 30)), 82_800, 7200),
        # Sun 27 Oct 2024: clocks go back at 02:00 BST -> day is 25 h = 90 000 s.
        # Outage 00:30 BST -> 03:30 GMT: 00:30-02:00 BST (1.5 h), then 01:00-03:30 GMT
        # (2.5 h) = 4 h = 14 400 s.
        ("2024-10-27", ((2024, 10, 27, 0, 30), (2024, 10, 27, 3, 30)), 90_000, 14_400),
    ],
)
def test_always_schedule_on_dst_sundays(day, outage, scheduled, down):
    f = figures(day, working=ALWAYS, outages=[OutageSpan(L(*outage[0]), L(*outage[1]))])
    assert f.scheduled_seconds == f.monitored_seconds == scheduled
    assert f.downtime_seconds == down
    assert f.uptime_ratio == exact_ratio(down, scheduled)
    # Budget 1% of the real day: 828 s and 900 s.
    assert f.error_budget_seconds == scheduled / 100


def test_error_budget_with_future_hours_and_future_maintenance():
    # May 2024, now = Wed 15 May 12:00 BST.
    # Whole month: 21 working days = 756 000 s (see the bank-holiday test).
    # Known future maintenance Tue 21 May 08:00-10:00 = 7200 s.
    #   allowed = 1% x (756 000 - 7200) = 7488 s
    # Outage Mon 13 May 09:00-09:30 = 1800 s -> remaining = 7488 - 1800 = 5688 s
    # To date: working days 1-3, 7-10, 13-14 May = 9 x 36 000 = 324 000 s, plus
    #   Wed 15 May 08:00-12:00 = 14 400 s -> scheduled = 338 400 s
    #   ratio = 1 - 1800/338400 = 0.99468...  -> met
    now = L(2024, 5, 15, 12)
    start, _ = period("2024-05")
    f = figures(
        "2024-05",
        outages=[OutageSpan(L(2024, 5, 13, 9), L(2024, 5, 13, 9, 30))],
        maintenance=[(L(2024, 5, 21, 8), L(2024, 5, 21, 10))],
        coverage=[(start, now)],
        now=now,
    )
    assert f.scheduled_seconds == 338_400
    assert f.maintenance_seconds == 0  # the maintenance is still in the future
    assert f.downtime_seconds == 1800
    assert f.error_budget_seconds == 7488
    assert f.error_budget_remaining_seconds == 5688
    assert f.uptime_ratio == exact_ratio(1800, 338_400)
    assert f.met is True


@pytest.mark.parametrize(
    ("down_minutes", "down_seconds", "met"),
    [
        # 99% of 36 000 s: budget exactly 360 s.  Down exactly 360 s gives ratio exactly 0.99,
        # which meets 0.99 (decided in exact arithmetic, not by float luck: in floats
        # (1 - 0.99) x 36000 is 360.00000000000034).
        (6, 0, True),
        (6, 1, False),
        (5, 59, True),
    ],
)
def test_met_at_the_exact_boundary(down_minutes, down_seconds, met):
    s = L(2024, 5, 15, 9)
    e = s + down_minutes * 60 + down_seconds
    f = figures("2024-05-15", outages=[OutageSpan(s, e)])
    assert f.met is met
    assert f.error_budget_seconds == 360
    assert f.error_budget_remaining_seconds == 360 - (e - s)


def test_objective_is_the_decimal_written():
    # 99.9% of 756 000 s: 0.1% = 756 s exactly (float (1 - 0.999) x 756000 gives 756.0000000000007).
    f = figures("2024-05", objective=0.999)
    assert f.error_budget_seconds == 756


@pytest.mark.parametrize("objective", [-0.1, 1.5, float("nan"), float("inf")])
def test_bad_objective(objective):
    with pytest.raises(ValueError, match="objective"):
        figures("2024-05-15", objective=objective)


def test_empty_outage_spans_are_ignored():
    s = L(2024, 5, 15, 9)
    f = figures("2024-05-15", outages=[OutageSpan(s, s), OutageSpan(s, s - 10)])
    assert f.downtime_seconds == 0 and f.outages == 0


def test_overlapping_outages_count_downtime_once():
    # A detected 09:00-10:00 and a manual 09:30-11:00 on Wed 15 May: down = 09:00-11:00 = 2 h.
    f = figures(
        "2024-05-15",
        outages=[
            OutageSpan(L(2024, 5, 15, 9), L(2024, 5, 15, 10)),
            OutageSpan(L(2024, 5, 15, 9, 30), L(2024, 5, 15, 11), detected=False),
        ],
    )
    assert f.downtime_seconds == 7200
    assert f.outages == 2
    assert f.longest_outage_seconds == 5400


# --- groups -----------------------------------------------------------------------------


def _member(scheduled: float, monitored: float, down: float, budget: float) -> Figures:
    return Figures(
        scheduled_seconds=scheduled,
        monitored_seconds=monitored,
        unmonitored_seconds=scheduled - monitored,
        downtime_seconds=down,
        maintenance_seconds=0,
        uptime_ratio=None,
        objective=0.99,
        met=None,
        error_budget_seconds=budget,
        error_budget_remaining_seconds=budget - down,
        period_scheduled_seconds=budget / 0.01,
        outages=0,
        longest_outage_seconds=0,
    )


@pytest.mark.parametrize(
    ("policy", "ratio"),
    [
        # A: scheduled 36 000, monitored 36 000, down 3600.  B: scheduled 36 000, monitored
        # 18 000, down 0.  Sums: scheduled 72 000, monitored 54 000, unmonitored 18 000,
        # down 3600.
        # excluded: 1 - 3600/54000 = 0.9333...  (not the mean of 0.9 and 1.0)
        (Policy.EXCLUDED, exact_ratio(3600, 54_000)),
        # up:       1 - 3600/72000 = 0.95
        (Policy.UP, 0.95),
        # down:     1 - (3600 + 18000)/72000 = 0.7
        (Policy.DOWN, 0.7),
    ],
)
def test_group_is_time_weighted(policy, ratio):
    g = group_figures(
        [_member(36_000, 36_000, 3600, 360), _member(36_000, 18_000, 0, 360)], 0.9, policy
    )
    assert g.uptime_ratio == ratio
    assert g.met is (ratio >= 0.9)
    assert (g.scheduled_seconds, g.monitored_seconds, g.unmonitored_seconds) == (
        72_000,
        54_000,
        18_000,
    )
    assert g.downtime_seconds == 3600
    # Budget at the GROUP's objective 0.9 over the members' whole-period scheduled time
    # (36 000 + 36 000): 0.1 x 72 000 = 7200; remaining = 7200 - 3600 = 3600.
    assert g.error_budget_seconds == 7200
    assert g.error_budget_remaining_seconds == 3600


def test_empty_group_has_no_figure():
    g = group_figures([], 0.99, Policy.EXCLUDED)
    assert g.uptime_ratio is None and g.met is None and g.scheduled_seconds == 0


# --- properties -------------------------------------------------------------------------

# A fortnight around the May Day bank holiday, in whole seconds so sums are exact.
BASE = int(L(2024, 4, 29))
SPAN = 14 * 86400
instant = st.integers(BASE - 86400, BASE + SPAN + 86400).map(float)


@st.composite
def spans(draw, max_size: int = 6, max_len: int = 2 * 86400) -> list[Interval]:
    out = []
    for _ in range(draw(st.integers(0, max_size))):
        s = draw(instant)
        out.append((s, s + draw(st.integers(1, max_len))))
    return out


@st.composite
def outage_lists(draw) -> list[OutageSpan]:
    out = []
    for _ in range(draw(st.integers(0, 5))):
        s = draw(instant)
        end = (
            None
            if draw(st.booleans()) and draw(st.booleans())
            else s + draw(st.integers(1, 3 * 86400))
        )
        out.append(OutageSpan(s, end, detected=draw(st.booleans())))
    return out


@st.composite
def scenario(draw) -> dict:
    return {
        "working": draw(st.sampled_from([OFFICE, ALWAYS])),
        "coverage": draw(spans(max_size=5)),
        "outages": draw(outage_lists()),
        "maintenance": draw(spans(max_size=3, max_len=6 * 3600)),
        "now": draw(instant),
        "policy": draw(st.sampled_from(list(Policy))),
        "objective": draw(st.sampled_from([0.9, 0.99, 0.999, 1.0, 0.0])),
    }


def _run(sc: dict, start: float, end: float) -> Figures:
    return target_figures(start=start, end=end, **sc)


@settings(max_examples=examples(200), deadline=None)
@given(sc=scenario(), a=instant, b=instant)
def test_figures_are_consistent(sc, a, b):
    start, end = min(a, b), max(a, b)
    f = _run(sc, start, end)
    assert f.uptime_ratio is None or 0 <= f.uptime_ratio <= 1
    assert (f.uptime_ratio is None) == (f.met is None)
    assert 0 <= f.downtime_seconds <= f.monitored_seconds <= f.scheduled_seconds
    assert f.unmonitored_seconds == f.scheduled_seconds - f.monitored_seconds
    assert 0 <= f.longest_outage_seconds <= f.downtime_seconds
    assert (f.outages == 0) == (f.downtime_seconds == 0)
    assert f.error_budget_remaining_seconds == f.error_budget_seconds - f.downtime_seconds


@settings(max_examples=examples(200), deadline=None)
@given(sc=scenario(), cuts=st.lists(instant, min_size=3, max_size=3))
def test_additive_over_adjacent_periods(sc, cuts):
    a, b, c = sorted(cuts)
    left, right, whole = _run(sc, a, b), _run(sc, b, c), _run(sc, a, c)
    for name in (
        "scheduled_seconds",
        "monitored_seconds",
        "unmonitored_seconds",
        "downtime_seconds",
        "maintenance_seconds",
    ):
        assert getattr(left, name) + getattr(right, name) == getattr(whole, name), name
    assert left.error_budget_seconds + right.error_budget_seconds == pytest.approx(
        whole.error_budget_seconds, abs=1e-6
    )


@settings(max_examples=examples(200), deadline=None)
@given(sc=scenario(), a=instant, b=instant, which=st.integers(0, 10), frac=st.floats(0, 1))
def test_splitting_an_outage_changes_only_counts(sc, a, b, which, frac):
    outages = sc["outages"]
    assume(outages)
    i = which % len(outages)
    o = outages[i]
    end = sc["now"] if o.end is None else o.end
    assume(end - o.start >= 2)
    cut = float(int(o.start + 1 + (end - o.start - 2) * frac))
    split = [
        *outages[:i],
        OutageSpan(o.start, cut, o.detected),
        OutageSpan(cut, o.end, o.detected),
        *outages[i + 1 :],
    ]
    start, stop = min(a, b), max(a, b)
    before = asdict(_run(sc, start, stop))
    after = asdict(_run({**sc, "outages": split}, start, stop))
    for key in ("outages", "longest_outage_seconds", "outage_downtimes"):
        before.pop(key)
        after.pop(key)
    assert before == after


@settings(max_examples=examples(100), deadline=None)
@given(sc=scenario(), a=instant, b=instant)
def test_group_of_one_equals_the_target(sc, a, b):
    f = _run(sc, min(a, b), max(a, b))
    g = group_figures([f], sc["objective"], sc["policy"])
    for field in fields(g):
        assert getattr(g, field.name) == getattr(f, field.name), field.name
