"""Working-hours calendars: hand-worked tables, parse errors and properties.

Expected figures are worked out by hand in the comments (hours unless said otherwise).
Europe/London is GMT (UTC+0) in winter and BST (UTC+1) from 2024-03-31 01:00 UTC to
2024-10-27 01:00 UTC; America/New_York is EST (UTC-5) / EDT (UTC-4).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from monitor.figures.intervals import Interval, normalize, total, union
from monitor.figures.schedule import (
    Schedule,
    ScheduleError,
    WeeklyRange,
    always_schedule,
    check_holidays,
    parse_hours,
    parse_weekly,
)
from tests.support import examples

LONDON = "Europe/London"
NEW_YORK = "America/New_York"
H = 3600.0


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0, tz: str = LONDON, fold: int = 0) -> float:
    """Epoch seconds of a local wall-clock time."""
    return dt.datetime(y, m, d, hh, mm, tzinfo=ZoneInfo(tz), fold=fold).timestamp()


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> float:
    return dt.datetime(y, m, d, hh, mm, tzinfo=dt.UTC).timestamp()


def office(**kw: Any) -> Schedule:
    """Mon-Fri 08:00-18:00 in London with England & Wales bank holidays."""
    args: dict[str, Any] = {
        "name": "office",
        "timezone": LONDON,
        "ranges": parse_hours({"mon-fri": "08:00-18:00"}),
        "holiday_country": "GB",
        "holiday_subdiv": "ENG",
    }
    args.update(kw)
    return Schedule(**args)


def hours(s: Schedule, start: float, end: float) -> float:
    return total(s.open_intervals(start, end)) / H


def sched(hours_map: dict[str, Any], tz: str = LONDON, **kw: Any) -> Schedule:
    return Schedule("test", tz, parse_hours(hours_map), **kw)


# ---------------------------------------------------------------- office weeks


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # An ordinary week: 5 days x 10 h.
        ((2024, 6, 10), (2024, 6, 17), 50),
        # Mon 2024-05-06 early May bank holiday: 4 x 10 h.
        ((2024, 5, 6), (2024, 5, 13), 40),
        # Easter 2024: Good Friday 29 Mar -> Mon-Thu 40 h; Easter Monday 1 Apr -> Tue-Fri 40 h.
        # (BST begins on Sunday 31 Mar, which has no working hours either way.)
        ((2024, 3, 25), (2024, 4, 1), 40),
        ((2024, 4, 1), (2024, 4, 8), 40),
        # One-off bank holidays: state funeral Mon 2022-09-19, coronation Mon 2023-05-08.
        ((2022, 9, 19), (2022, 9, 26), 40),
        ((2023, 5, 8), (2023, 5, 15), 40),
        # 2023-05-01 (May Day) and 2023-05-08 (coronation) in consecutive weeks: 80 h.
        ((2023, 5, 1), (2023, 5, 15), 80),
        # Christmas 2022: Sun 25 + Mon 26 Boxing Day + Tue 27 substitute for Christmas Day.
        # Week Mon 26 - Fri 30 Dec: Wed-Fri only, 30 h.
        ((2022, 12, 26), (2023, 1, 2), 30),
        # New Year 2023 falls on Sunday; Mon 2 Jan is the substitute day: 40 h.
        ((2023, 1, 2), (2023, 1, 9), 40),
        # Leap day Thu 2024-02-29 is an ordinary working day: 10 h.
        ((2024, 2, 29), (2024, 3, 1), 10),
        # Whole of 2024: 262 weekdays - 8 weekday bank holidays = 254 days x 10 h.
        ((2024, 1, 1), (2025, 1, 1), 2540),
    ],
)
def test_office_hours(
    start: tuple[int, int, int], end: tuple[int, int, int], expected: float
) -> None:
    assert hours(office(), at(*start), at(*end)) == expected


def test_leap_day_exact_interval() -> None:
    # February is GMT, so 08:00-18:00 local is 08:00-18:00 UTC.
    assert office().open_intervals(at(2024, 2, 29), at(2024, 3, 1)) == [
        (utc(2024, 2, 29, 8), utc(2024, 2, 29, 18))
    ]


@pytest.mark.parametrize(
    ("closed", "start", "end", "expected"),
    [
        # Closing Wed 2024-06-12 in an ordinary week: 50 - 10 = 40 h.
        ({dt.date(2024, 6, 12)}, (2024, 6, 10), (2024, 6, 17), 40),
        # Closing the leap day.
        ({dt.date(2024, 2, 29)}, (2024, 2, 26), (2024, 3, 4), 40),
        # Closing a bank holiday changes nothing; closing a Saturday changes nothing.
        ({dt.date(2024, 5, 6), dt.date(2024, 5, 11)}, (2024, 5, 6), (2024, 5, 13), 40),
        # Bank holiday Mon + closed Tue: 30 h.
        ({dt.date(2024, 5, 7)}, (2024, 5, 6), (2024, 5, 13), 30),
    ],
)
def test_closure_dates(
    closed: set[dt.date], start: tuple[int, int, int], end: tuple[int, int, int], expected: float
) -> None:
    assert hours(office(closed=frozenset(closed)), at(*start), at(*end)) == expected


@pytest.mark.parametrize("subdiv", [None, "ENG"])
def test_no_holidays_without_country(subdiv: str | None) -> None:
    # Same week as the early May bank holiday, but no holiday calendar: 50 h.
    # A subdivision without a country is ignored.
    s = office(holiday_country=None, holiday_subdiv=subdiv)
    assert hours(s, at(2024, 5, 6), at(2024, 5, 13)) == 50


def test_subdivision_matters() -> None:
    # 2024-08-05 is Scotland's summer bank holiday, not England's; 2024-08-26 the reverse.
    eng, sct = office(), office(holiday_subdiv="SCT")
    assert hours(eng, at(2024, 8, 5), at(2024, 8, 6)) == 10
    assert hours(sct, at(2024, 8, 5), at(2024, 8, 6)) == 0
    assert hours(eng, at(2024, 8, 26), at(2024, 8, 27)) == 0
    assert hours(sct, at(2024, 8, 26), at(2024, 8, 27)) == 10


# ---------------------------------------------------------------- DST


@pytest.mark.parametrize(
    ("schedule", "day", "expected_hours"),
    [
        # Spring: local midnight to midnight is 00:00 GMT -> 23:00 UTC = 23 h.
        (always_schedule(), (2024, 3, 31), 23),
        (sched({"mon-sun": "00:00-24:00"}), (2024, 3, 31), 23),
        # Autumn: 23:00 UTC (00:00 BST) -> 00:00 UTC next day (00:00 GMT) = 25 h.
        (always_schedule(), (2024, 10, 27), 25),
        (sched({"mon-sun": "00:00-24:00"}), (2024, 10, 27), 25),
        # 00:00-03:00 across the change at 01:00: 00:00 GMT -> 03:00 BST (02:00 UTC) = 2 h;
        # 00:00 BST (23:00 UTC) -> 03:00 GMT (03:00 UTC) = 4 h.
        (sched({"sun": "00:00-03:00"}), (2024, 3, 31), 2),
        (sched({"sun": "00:00-03:00"}), (2024, 10, 27), 4),
        # The day before each change is an ordinary 24 h / 3 h.
        (sched({"mon-sun": "00:00-24:00"}), (2024, 3, 30), 24),
        (sched({"sat": "00:00-03:00"}), (2024, 10, 26), 3),
        # New York springs forward at 02:00 on 2024-03-10 and falls back on 2024-11-03:
        # 00:00-04:00 there is 3 h / 5 h.
        (always_schedule(NEW_YORK), (2024, 3, 10), 23),
        (always_schedule(NEW_YORK), (2024, 11, 3), 25),
        (sched({"sun": "00:00-04:00"}, NEW_YORK), (2024, 3, 10), 3),
        (sched({"sun": "00:00-04:00"}, NEW_YORK), (2024, 11, 3), 5),
    ],
)
def test_dst_days(schedule: Schedule, day: tuple[int, int, int], expected_hours: float) -> None:
    tz = schedule.timezone
    following = dt.date(*day) + dt.timedelta(days=1)
    start = at(*day, tz=tz)
    end = at(following.year, following.month, following.day, tz=tz)
    assert hours(schedule, start, end) == expected_hours


def test_dst_exact_intervals() -> None:
    s = sched({"sun": "00:00-03:00"})
    assert s.open_intervals(at(2024, 3, 31), at(2024, 4, 1)) == [
        (utc(2024, 3, 31, 0), utc(2024, 3, 31, 2))
    ]
    assert s.open_intervals(at(2024, 10, 27), at(2024, 10, 28)) == [
        (utc(2024, 10, 26, 23), utc(2024, 10, 27, 3))
    ]


@pytest.mark.parametrize(
    ("hours_map", "day", "expected"),
    [
        # Skipped hour (2024-03-31 01:00-02:00 GMT never happens): an endpoint in it means
        # the instant of the jump, 01:00 UTC.
        # 01:30-03:00 -> [01:00 UTC, 02:00 UTC) = 1 h.
        ({"sun": "01:30-03:00"}, (2024, 3, 31), [(utc(2024, 3, 31, 1), utc(2024, 3, 31, 2))]),
        # 00:00-01:30 -> [00:00 UTC, 01:00 UTC) = 1 h.
        ({"sun": "00:00-01:30"}, (2024, 3, 31), [(utc(2024, 3, 31, 0), utc(2024, 3, 31, 1))]),
        # A range wholly inside the skipped hour is empty.
        ({"sun": "01:00-02:00"}, (2024, 3, 31), []),
        ({"sun": "01:15-01:45"}, (2024, 3, 31), []),
        # Split at the skipped hour, the halves still meet: 00:00-03:00 = 2 h as one span.
        (
            {"sun": ["00:00-01:30", "01:30-03:00"]},
            (2024, 3, 31),
            [(utc(2024, 3, 31, 0), utc(2024, 3, 31, 2))],
        ),
        # Repeated hour (2024-10-27 01:00-02:00 happens twice): fold=0, the first (BST) one.
        # 01:30-03:00 -> [00:30 UTC, 03:00 UTC) = 2.5 h.
        (
            {"sun": "01:30-03:00"},
            (2024, 10, 27),
            [(utc(2024, 10, 27, 0, 30), utc(2024, 10, 27, 3))],
        ),
        # 00:00-01:30 -> [23:00 UTC Sat, 00:30 UTC) = 1.5 h.
        (
            {"sun": "00:00-01:30"},
            (2024, 10, 27),
            [(utc(2024, 10, 26, 23), utc(2024, 10, 27, 0, 30))],
        ),
    ],
)
def test_dst_gap_and_fold_endpoints(
    hours_map: dict[str, Any], day: tuple[int, int, int], expected: list[Interval]
) -> None:
    s = sched(hours_map)
    start = at(*day)
    assert s.open_intervals(start, start + 2 * 86400) == expected


def test_whole_day_skipped() -> None:
    # Samoa skipped Friday 2011-12-30 entirely (UTC-10 -> UTC+14 at local midnight), so a
    # Friday range is empty, and a Thursday night range ends at the jump: 22:00-06:00 on
    # Thu 29 Dec runs 22:00 -10 (08:00 UTC Fri) to the jump at 10:00 UTC Fri = 2 h.
    apia = "Pacific/Apia"
    fri = sched({"fri": "08:00-18:00"}, apia)
    assert fri.open_intervals(utc(2011, 12, 29), utc(2012, 1, 1)) == []
    thu = sched({"thu": "22:00-06:00"}, apia)
    assert thu.open_intervals(utc(2011, 12, 29), utc(2012, 1, 1)) == [
        (utc(2011, 12, 30, 8), utc(2011, 12, 30, 10))
    ]


# ---------------------------------------------------------------- night ranges


NIGHTS = {"mon-fri": "22:00-06:00"}


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # Mon 2024-06-03 night runs into Tue: a query from Tue 00:00 sees 00:00-06:00 = 6 h.
        ((2024, 6, 4, 0), (2024, 6, 4, 12), 6),
        # Query from Tue 03:00 to 23:00: 03:00-06:00 (Mon's) + 22:00-23:00 (Tue's) = 4 h.
        ((2024, 6, 4, 3), (2024, 6, 4, 23), 4),
        # Fri night runs into Sat: Fri 23:00 - Sat 03:00 = 4 h; nothing starts Sat or Sun.
        ((2024, 6, 7, 23), (2024, 6, 8, 3), 4),
        ((2024, 6, 8, 6), (2024, 6, 10, 22), 0),
        # Mon 2024-05-27 spring bank holiday: Mon night dropped -> Tue 00:00-06:00 empty.
        ((2024, 5, 28, 0), (2024, 5, 28, 6), 0),
        # ... but the Fri 2024-05-24 night, ending on Sat, is kept whole: 8 h.
        ((2024, 5, 24, 12), (2024, 5, 25, 12), 8),
        # Good Friday 2024-03-29: Thu night (into Fri morning) kept; Fri night dropped.
        ((2024, 3, 28, 12), (2024, 3, 30, 12), 8),
        # A whole normal week of nights: 5 x 8 h.
        ((2024, 6, 10), (2024, 6, 17), 40),
    ],
)
def test_night_range(start: tuple[int, ...], end: tuple[int, ...], expected: float) -> None:
    s = sched(NIGHTS, holiday_country="GB", holiday_subdiv="ENG")
    assert hours(s, at(*start), at(*end)) == expected


def test_night_range_cut_exactly() -> None:
    s = sched(NIGHTS)
    # Tue 2024-06-04 03:00 BST = 02:00 UTC; Mon's range ends at 06:00 BST = 05:00 UTC.
    assert s.open_intervals(at(2024, 6, 4, 3), at(2024, 6, 4, 12)) == [
        (utc(2024, 6, 4, 2), utc(2024, 6, 4, 5))
    ]


def test_night_ranges_across_new_year() -> None:
    # Tue 2024-12-31 22:00 GMT -> Wed 2025-01-01 06:00: kept (it starts on the 31st, not a
    # holiday) even though 1 Jan is; the 1 Jan night is dropped. Query 31 Dec -> 3 Jan:
    # Mon 30th night's tail 00:00-06:00 6 h + 31st night 8 h + 2nd night (cut at 00:00 on
    # the 3rd) 2 h = 16 h.
    s = sched(NIGHTS, holiday_country="GB", holiday_subdiv="ENG")
    assert hours(s, at(2024, 12, 31), at(2025, 1, 3)) == 16
    assert s.is_open(at(2025, 1, 1, 5, 59))
    assert not s.is_open(at(2025, 1, 1, 23))


def test_touching_ranges_merge() -> None:
    # Sun 22:00-24:00 touches Mon 00:00-02:00 across the week boundary: one 4 h span.
    s = sched({"sun": "22:00-24:00", "mon": "00:00-02:00"})
    assert s.open_intervals(at(2024, 6, 9), at(2024, 6, 11)) == [
        (at(2024, 6, 9, 22), at(2024, 6, 10, 2))
    ]


# ---------------------------------------------------------------- another timezone


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # Thu 2024-07-04 Independence Day: 4 x 8 h.
        ((2024, 7, 1), (2024, 7, 8), 32),
        # Wed 2024-06-19 Juneteenth: 32 h.
        ((2024, 6, 17), (2024, 6, 24), 32),
        # Thu 2024-11-28 Thanksgiving (Fri is not a federal holiday): 32 h.
        ((2024, 11, 25), (2024, 12, 2), 32),
        # Ordinary week, spanning the spring change on Sun 10 Mar: 5 x 8 h.
        ((2024, 3, 4), (2024, 3, 11), 40),
        ((2024, 3, 11), (2024, 3, 18), 40),
    ],
)
def test_new_york(start: tuple[int, int, int], end: tuple[int, int, int], expected: float) -> None:
    s = sched({"mon-fri": "09:00-17:00"}, NEW_YORK, holiday_country="US")
    assert hours(s, at(*start, tz=NEW_YORK), at(*end, tz=NEW_YORK)) == expected


def test_new_york_exact_utc() -> None:
    # 09:00 EST = 14:00 UTC before the change; 09:00 EDT = 13:00 UTC after it.
    s = sched({"mon-fri": "09:00-17:00"}, NEW_YORK)
    assert s.open_intervals(utc(2024, 3, 8), utc(2024, 3, 12)) == [
        (utc(2024, 3, 8, 14), utc(2024, 3, 8, 22)),
        (utc(2024, 3, 11, 13), utc(2024, 3, 11, 21)),
    ]


# ---------------------------------------------------------------- is_open / next_open


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (at(2024, 5, 7, 8), True),  # opening instant is included
        (at(2024, 5, 7, 17, 59), True),
        (at(2024, 5, 7, 18), False),  # closing instant is not (half-open)
        (at(2024, 5, 7, 8) - 1, False),
        (at(2024, 5, 6, 12), False),  # early May bank holiday
        (at(2024, 5, 11, 12), False),  # Saturday
        (at(2024, 2, 29, 12), True),
        (at(2022, 9, 19, 12), False),  # state funeral
    ],
)
def test_is_open(t: float, expected: bool) -> None:
    assert office().is_open(t) is expected


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (at(2024, 5, 7, 9), at(2024, 5, 7, 9)),  # open now: t itself
        (at(2024, 5, 7, 18), at(2024, 5, 8, 8)),  # closing instant -> next morning
        (at(2024, 5, 4, 12), at(2024, 5, 7, 8)),  # Sat -> Tue (Mon is a bank holiday)
        (at(2024, 12, 24, 18), at(2024, 12, 27, 8)),  # Christmas + Boxing Day
        (at(2024, 3, 28, 18), at(2024, 4, 2, 8)),  # Easter weekend, BST from Sunday
        (at(2024, 12, 31, 18, 30), at(2025, 1, 2, 8)),  # across the year boundary
    ],
)
def test_next_open(t: float, expected: float) -> None:
    assert office().next_open(t) == expected


def test_next_open_never() -> None:
    never = Schedule("never", LONDON, ())
    assert never.next_open(at(2024, 1, 1)) is None
    assert not never.is_open(at(2024, 1, 1))
    assert never.open_intervals(at(2024, 1, 1), at(2025, 1, 1)) == []


def test_always() -> None:
    s = always_schedule()
    assert s.name == "always" and s.always and s.timezone == LONDON
    assert s.open_intervals(10.0, 20.0) == [(10.0, 20.0)]
    assert s.open_intervals(20.0, 10.0) == []
    assert s.is_open(at(2024, 12, 25))  # no holidays
    assert s.next_open(123.0) == 123.0
    assert always_schedule(NEW_YORK).timezone == NEW_YORK


def test_empty_query() -> None:
    assert office().open_intervals(at(2024, 5, 7, 12), at(2024, 5, 7, 12)) == []
    assert office().open_intervals(at(2024, 5, 7, 12), at(2024, 5, 7, 11)) == []


def test_whole_year_of_office_hours() -> None:
    """2024 in England: 262 weekdays - 8 bank holidays = 254 days x 10 h = 2540 h."""
    assert hours(office(), at(2024, 1, 1), at(2025, 1, 1)) == 2540


# ---------------------------------------------------------------- construction errors


@pytest.mark.parametrize(
    ("kwargs", "key", "fragment"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", "unknown timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone", "unknown timezone"),
        ({"timezone": ""}, "timezone", "unknown timezone"),
        ({"holiday_country": "XX"}, "country", "unknown holiday country 'XX'"),
        ({"holiday_country": "gb"}, "country", "did you mean 'GB'"),
        ({"holiday_subdiv": "XYZ"}, "subdiv", "unknown subdivision 'XYZ' of GB"),
        ({"closed": frozenset({"2024-01-01"})}, "closed", "must be dates"),
        (
            {"ranges": (WeeklyRange(0, 480, 720), WeeklyRange(0, 600, 660))},
            "hours",
            "overlapping ranges mon 08:00-12:00 and mon 10:00-11:00",
        ),
    ],
)
def test_schedule_construction_errors(kwargs: dict[str, Any], key: str, fragment: str) -> None:
    with pytest.raises(ScheduleError) as info:
        office(**kwargs)
    assert info.value.key == key
    assert fragment in info.value.message


@pytest.mark.parametrize(
    "args",
    [(7, 0, 60), (-1, 0, 60), (0, 1440, 60), (0, -1, 60), (0, 0, 0), (0, 0, 1441), (0, 60, 60)],
)
def test_weekly_range_validation(args: tuple[int, int, int]) -> None:
    with pytest.raises(ScheduleError):
        WeeklyRange(*args)


def test_schedule_is_hashable_and_coerces() -> None:
    a = office(closed={dt.date(2024, 1, 2)})  # a set is accepted and frozen
    b = office(closed=frozenset({dt.date(2024, 1, 2)}))
    assert a == b and hash(a) == hash(b)
    assert isinstance(a.closed, frozenset)


# ---------------------------------------------------------------- parse_hours


def wr(day: int, start: str, end: str) -> WeeklyRange:
    def m(text: str) -> int:
        hh, mm = text.split(":")
        return int(hh) * 60 + int(mm)

    return WeeklyRange(day, m(start), m(end))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"mon": "08:00-18:00"}, (wr(0, "08:00", "18:00"),)),
        (
            {"mon-wed": "08:00-18:00"},
            tuple(wr(d, "08:00", "18:00") for d in range(3)),
        ),
        (
            {"sat": ["09:00-12:00", "13:00-14:00"]},
            (wr(5, "09:00", "12:00"), wr(5, "13:00", "14:00")),
        ),
        # Wrapping day range: fri-mon = fri, sat, sun, mon.
        (
            {"fri-mon": "10:00-11:00"},
            tuple(wr(d, "10:00", "11:00") for d in (0, 4, 5, 6)),
        ),
        ({"sat-sun": "00:00-24:00"}, (wr(5, "00:00", "24:00"), wr(6, "00:00", "24:00"))),
        # 24:00 and 00:00 as an end both mean midnight.
        ({"tue": "22:00-00:00"}, (wr(1, "22:00", "24:00"),)),
        ({"tue": "22:00-24:00"}, (wr(1, "22:00", "24:00"),)),
        # Crossing midnight: end <= start.
        ({"sun": "22:00-06:00"}, (wr(6, "22:00", "06:00"),)),
        # Case, spaces and one-digit hours are tolerated.
        ({" Mon - Tue ": " 8:00 - 9:30 "}, (wr(0, "08:00", "09:30"), wr(1, "08:00", "09:30"))),
        # Touching ranges are not overlaps, also across midnight and the week boundary.
        (
            {"mon": ["08:00-12:00", "12:00-13:00"], "sun": "20:00-08:00"},
            (wr(0, "08:00", "12:00"), wr(0, "12:00", "13:00"), wr(6, "20:00", "08:00")),
        ),
        # A tuple works like a list.
        ({"wed": ("09:00-10:00",)}, (wr(2, "09:00", "10:00"),)),
    ],
)
def test_parse_hours(value: Any, expected: tuple[WeeklyRange, ...]) -> None:
    assert parse_hours(value) == expected


@pytest.mark.parametrize(
    ("value", "key", "message"),
    [
        ("mon-fri 08:00-18:00", None, "hours must be a mapping of days to time ranges, got str"),
        (["mon"], None, "hours must be a mapping of days to time ranges, got list"),
        (None, None, "hours must be a mapping of days to time ranges, got NoneType"),
        ({}, None, "hours must name at least one day"),
        (
            {"mon-fry": "08:00-18:00"},
            "mon-fry",
            "unknown day 'fry': use mon, tue, wed, thu, fri, sat, sun",
        ),
        (
            {"monday": "08:00-18:00"},
            "monday",
            "unknown day 'monday': use mon, tue, wed, thu, fri, sat, sun",
        ),
        ({"": "08:00-18:00"}, "", "bad day range '': use e.g. 'mon', 'mon-fri'"),
        ({"mon-": "08:00-18:00"}, "mon-", "bad day range 'mon-': use e.g. 'mon', 'mon-fri'"),
        (
            {"mon-wed-fri": "08:00-18:00"},
            "mon-wed-fri",
            "bad day range 'mon-wed-fri': use e.g. 'mon', 'mon-fri'",
        ),
        (
            {"mon-mon": "08:00-18:00"},
            "mon-mon",
            "day range 'mon-mon' starts and ends on the same day",
        ),
        ({1: "08:00-18:00"}, "1", "day key must be text like 'mon-fri', got 1"),
        ({True: "08:00-18:00"}, "True", "day key must be text like 'mon-fri', got True"),
        ({"mon": "25:00-26:00"}, "mon", "hour out of range in '25:00-26:00': 25:00"),
        ({"mon": "08:00-25:00"}, "mon", "hour out of range in '08:00-25:00': 25:00"),
        ({"mon": "08:60-09:00"}, "mon", "minute out of range in '08:60-09:00': 08:60"),
        ({"mon": "08:00-24:30"}, "mon", "time past 24:00 in '08:00-24:30': 24:30"),
        ({"mon": "24:00-08:00"}, "mon", "bad time range '24:00-08:00': 24:00 can only be an end"),
        ({"mon": "08:00-08:00"}, "mon", "empty range '08:00-08:00'"),
        ({"mon": "00:00-00:00"}, "mon", "empty range '00:00-00:00'"),
        (
            {"mon": "8am-5pm"},
            "mon",
            "bad time range '8am-5pm': expected HH:MM-HH:MM like 08:00-18:00",
        ),
        ({"mon": "08:00"}, "mon", "bad time range '08:00': expected HH:MM-HH:MM like 08:00-18:00"),
        (
            {"mon": "08:00-12:00-14:00"},
            "mon",
            "bad time range '08:00-12:00-14:00': expected HH:MM-HH:MM like 08:00-18:00",
        ),
        (
            {"mon": "0800-1200"},
            "mon",
            "bad time range '0800-1200': expected HH:MM-HH:MM like 08:00-18:00",
        ),
        # Non-ASCII digits (Arabic-Indic 10:00) are not times.
        (
            {"mon": "\u0661\u0660:00-12:00"},
            "mon",
            "bad time range '\u0661\u0660:00-12:00': expected HH:MM-HH:MM like 08:00-18:00",
        ),
        ({"mon": ""}, "mon", "bad time range '': expected HH:MM-HH:MM like 08:00-18:00"),
        # YAML reads an unquoted 08:00 as the sexagesimal integer 480.
        ({"mon": 480}, "mon", "expected a time range string 'HH:MM-HH:MM', got int"),
        ({"mon": None}, "mon", "expected a time range string 'HH:MM-HH:MM', got NoneType"),
        ({"mon": {"from": "08:00"}}, "mon", "expected a time range string 'HH:MM-HH:MM', got dict"),
        ({"mon": ["08:00-12:00", 5]}, "mon", "expected a time range string 'HH:MM-HH:MM', got int"),
        ({"mon": []}, "mon", "empty list of time ranges"),
        (
            {"mon-fri": "08:00-18:00", "wed": "17:00-19:00"},
            "wed",
            "overlapping ranges wed 08:00-18:00 and wed 17:00-19:00",
        ),
        (
            {"mon": ["08:00-12:00", "11:00-13:00"]},
            "mon",
            "overlapping ranges mon 08:00-12:00 and mon 11:00-13:00",
        ),
        # Identical ranges from two keys are an overlap too.
        (
            {"mon-fri": "08:00-18:00", "fri": "08:00-18:00"},
            "fri",
            "overlapping ranges fri 08:00-18:00 and fri 08:00-18:00",
        ),
        # A night range running into the next day's range.
        (
            {"mon": "22:00-06:00", "tue": "05:00-09:00"},
            "tue",
            "overlapping ranges mon 22:00-06:00 and tue 05:00-09:00",
        ),
        # ... and Sunday night into Monday, across the week boundary.
        (
            {"sun": "22:00-02:00", "mon": "01:00-03:00"},
            "mon",
            "overlapping ranges sun 22:00-02:00 and mon 01:00-03:00",
        ),
    ],
)
def test_parse_hours_errors(value: Any, key: str | None, message: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_hours(value)
    assert info.value.key == key
    assert info.value.message == message
    assert str(info.value) == (f"{key}: {message}" if key is not None else message)


# ---------------------------------------------------------------- parse_weekly


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tue 07:00-08:00", (wr(1, "07:00", "08:00"),)),
        ("mon-fri 22:00-02:00", tuple(wr(d, "22:00", "02:00") for d in range(5))),
        ("  SUN   23:00 - 24:00 ", (wr(6, "23:00", "24:00"),)),
        ("sat-sun 00:00-24:00", (wr(5, "00:00", "24:00"), wr(6, "00:00", "24:00"))),
    ],
)
def test_parse_weekly(text: str, expected: tuple[WeeklyRange, ...]) -> None:
    assert parse_weekly(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tue", "bad weekly window 'tue': expected 'DAYS HH:MM-HH:MM'"),
        ("", "bad weekly window '': expected 'DAYS HH:MM-HH:MM'"),
        ("07:00-08:00", "bad weekly window '07:00-08:00': expected 'DAYS HH:MM-HH:MM'"),
        ("tuesday 07:00-08:00", "unknown day 'tuesday': use mon, tue, wed, thu, fri, sat, sun"),
        ("tue 25:00-26:00", "hour out of range in '25:00-26:00': 25:00"),
        ("tue 07:60-08:00", "minute out of range in '07:60-08:00': 07:60"),
        ("tue 07:00-07:00", "empty range '07:00-07:00'"),
        (
            "tue 07:00-08:00 weekly",
            "bad time range '07:00-08:00 weekly': expected HH:MM-HH:MM like 08:00-18:00",
        ),
        (None, "expected 'DAYS HH:MM-HH:MM', got NoneType"),
    ],
)
def test_parse_weekly_errors(text: Any, message: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_weekly(text)
    assert info.value.key is None
    assert info.value.message == message


def test_weekly_maintenance_window_evaluates() -> None:
    # Every Tuesday 07:00-08:00 London: in June 2024 (BST) that is 06:00-07:00 UTC.
    window = Schedule("maint", LONDON, parse_weekly("tue 07:00-08:00"))
    assert window.open_intervals(at(2024, 6, 3), at(2024, 6, 10)) == [
        (utc(2024, 6, 4, 6), utc(2024, 6, 4, 7))
    ]


# Arbitrary YAML-like values: parsing returns or raises ScheduleError, nothing else.
yaml_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(
        ["mon", "mon-fri", "fri-mon", "08:00-18:00", "22:00-06:00", "24:00", "0:0-0:1"]
    ),
)
yaml_value = st.recursive(
    yaml_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(yaml_scalar, st.sampled_from(["mon", "sat-sun"])), inner, max_size=4
        ),
    ),
    max_leaves=12,
)


@given(yaml_value)
def test_parse_hours_raises_only_schedule_error(value: Any) -> None:
    try:
        result = parse_hours(value)
    except ScheduleError as exc:
        assert isinstance(exc.message, str) and exc.message
    else:
        assert all(isinstance(r, WeeklyRange) for r in result)


@given(st.one_of(st.text(max_size=30), yaml_value))
def test_parse_weekly_raises_only_schedule_error(value: Any) -> None:
    try:
        parse_weekly(value)
    except ScheduleError as exc:
        assert exc.key is None


@given(
    st.dictionaries(
        st.sampled_from(["mon", "tue", "sun", "mon-fri", "sat-sun", "fri-mon"]),
        st.lists(
            st.tuples(
                st.integers(0, 24), st.integers(0, 59), st.integers(0, 24), st.integers(0, 59)
            ).map(lambda t: f"{t[0]:02d}:{t[1]:02d}-{t[2]:02d}:{t[3]:02d}"),
            min_size=1,
            max_size=3,
        ),
        min_size=1,
        max_size=3,
    )
)
def test_parse_hours_well_formed_inputs(value: dict[str, list[str]]) -> None:
    """Well-formed-looking hours either parse into a valid Schedule or fail cleanly."""
    try:
        ranges = parse_hours(value)
    except ScheduleError:
        return
    Schedule("x", LONDON, ranges)  # parse_hours output always builds a schedule


# ---------------------------------------------------------------- check_holidays


def test_every_supported_country_and_subdivision() -> None:
    for country, subdivs in holidays.list_supported_countries().items():
        check_holidays(country, None)
        for subdiv in subdivs:
            check_holidays(country, subdiv)


@pytest.mark.parametrize(
    ("country", "subdiv", "key"),
    [
        ("XX", None, "country"),
        ("", None, "country"),
        (None, None, "country"),
        (44, None, "country"),
        ("GB", "XYZ", "subdiv"),
        ("GB", "", "subdiv"),
        ("GB", 3, "subdiv"),
        ("US", "ENG", "subdiv"),
    ],
)
def test_check_holidays_errors(country: Any, subdiv: Any, key: str) -> None:
    with pytest.raises(ScheduleError) as info:
        check_holidays(country, subdiv)
    assert info.value.key == key


def test_check_holidays_accepts() -> None:
    check_holidays("GB", "ENG")
    check_holidays("GB", None)
    check_holidays("US", "CA")


# ---------------------------------------------------------------- properties

TIMEZONES = [
    LONDON,
    NEW_YORK,
    "UTC",
    "Asia/Kolkata",  # +05:30, no DST
    "Australia/Lord_Howe",  # 30-minute DST shift, southern hemisphere
    "Pacific/Apia",  # skipped a whole day in 2011
    "America/Santiago",  # DST changes at local midnight
]
WEEK = 7 * 1440


@st.composite
def weekly_ranges(draw: st.DrawFn) -> tuple[WeeklyRange, ...]:
    """Non-overlapping ranges: pairs of sorted cut points on the weekly circle, rotated."""
    points = sorted(draw(st.lists(st.integers(0, WEEK - 1), unique=True, max_size=8)))
    offset = draw(st.integers(0, WEEK - 1))
    out = []
    for p, q in zip(points[::2], points[1::2], strict=False):
        length = min(q - p, 1440 if (p + offset) % 1440 == 0 else 1439)
        start = (p + offset) % WEEK
        end_minute = (start % 1440 + length) % 1440 or 1440
        out.append(WeeklyRange(start // 1440, start % 1440, end_minute))
    return tuple(out)


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    country = draw(st.sampled_from([None, ("GB", "ENG"), ("US", None)]))
    closed = draw(st.frozensets(st.dates(dt.date(2010, 1, 1), dt.date(2026, 12, 31)), max_size=3))
    return Schedule(
        "prop",
        draw(st.sampled_from(TIMEZONES)),
        draw(weekly_ranges()),
        holiday_country=country[0] if country else None,
        holiday_subdiv=country[1] if country else None,
        closed=closed,
        always=draw(st.integers(0, 9)) == 0,  # occasionally the 24x7 flag
    )


T0 = utc(2010, 1, 1)
T1 = utc(2027, 1, 1)
instants = st.floats(T0, T1)
durations = st.floats(0, 20 * 86400)


@settings(max_examples=examples(150), deadline=None)
@given(schedules(), instants, durations, durations)
def test_open_intervals_properties(s: Schedule, a: float, d1: float, d2: float) -> None:
    b, c = a + d1, a + d1 + d2
    whole = s.open_intervals(a, c)
    left, right = s.open_intervals(a, b), s.open_intervals(b, c)
    for ivs, lo, hi in ((whole, a, c), (left, a, b), (right, b, c)):
        assert ivs == normalize(ivs)  # normalized
        assert all(lo <= x < y <= hi for x, y in ivs)  # within bounds
    # Additive over adjacent windows, as sets and therefore as totals.
    assert union(left, right) == whole
    assert total(left) + total(right) == pytest.approx(total(whole), abs=1e-6)
    # is_open agrees with membership, at every endpoint, just inside/outside and midpoints.
    probes = {a, b}
    for x, y in whole:
        probes |= {x, y, (x + y) / 2, x - 0.5, y - 0.5}
    for t in probes:
        if a <= t < c:
            assert s.is_open(t) == any(x <= t < y for x, y in whole), t


@settings(max_examples=examples(100), deadline=None)
@given(schedules(), instants)
def test_next_open_consistent(s: Schedule, t: float) -> None:
    horizon = 400 * 86400.0
    ahead = s.open_intervals(t, t + horizon)
    expected = ahead[0][0] if ahead else None
    assert s.next_open(t) == expected
    if expected is not None:
        assert s.is_open(expected)
        assert (expected == t) == s.is_open(t)


@settings(max_examples=examples(100), deadline=None)
@given(weekly_ranges(), st.integers(int(T0 // 60), int(T1 // 60)), st.integers(0, 4 * 1440))
def test_utc_schedule_matches_minute_model(
    ranges: tuple[WeeklyRange, ...], start_min: int, length: int
) -> None:
    """In UTC without holidays, a minute is open iff its minute-of-week lies in a range."""
    s = Schedule("utc", "UTC", ranges)
    spans = []
    for r in ranges:
        w0, w1 = r.week_span()
        spans += [(w0, w1), (w0 - WEEK, w1 - WEEK)]  # the wrap into next Monday
    # 1970-01-01 was a Thursday (weekday 3).
    expected = [
        m
        for m in range(start_min, start_min + length)
        if any(x <= (m + 3 * 1440) % WEEK < y for x, y in spans)
    ]
    got = s.open_intervals(start_min * 60.0, (start_min + length) * 60.0)
    got_minutes = [m for x, y in got for m in range(int(x // 60), int(y // 60))]
    assert got_minutes == expected


@settings(max_examples=examples(50), deadline=None)
@given(schedules(), st.dates(dt.date(2011, 1, 1), dt.date(2026, 1, 1)))
def test_closing_a_day_removes_exactly_its_ranges(s: Schedule, day: dt.date) -> None:
    """Closing a day removes the ranges that start on it, nothing else."""
    assume(not s.always and day not in s.closed)
    d0 = at(day.year, day.month, day.day, tz=s.timezone)
    a, b = d0 - 3 * 86400, d0 + 4 * 86400
    removed = total(s.open_intervals(a, b)) - total(
        replace(s, closed=s.closed | {day}).open_intervals(a, b)
    )
    if not s.is_working_day(day):
        assert removed == 0
        return
    # Only this weekday's ranges, in a window holding no other day of that weekday: the
    # ranges that start on `day` (each ends within two days of its start).
    own = Schedule("own", s.timezone, tuple(r for r in s.ranges if r.weekday == day.weekday()))
    assert removed == pytest.approx(total(own.open_intervals(d0 - 2 * 86400, d0 + 3 * 86400)))
