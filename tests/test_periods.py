"""Period labels -> [start, end) instants, checked against hand-worked boundaries.

Expected instants are written as local wall-clock datetimes (Europe/London unless said) so a
reader can check them against a calendar; the DST cases also give the raw second counts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.figures.periods import (
    Period,
    PeriodError,
    current_period,
    date_range,
    parse_day,
    parse_period,
    previous_period,
    reporting_year_label,
)
from tests.support import examples

LON = "Europe/London"
Z = ZoneInfo(LON)
DAY = 86400


def t(y: int, mo: int, d: int, h: int = 0, mi: int = 0, tz: str = LON) -> float:
    """Epoch seconds of a local wall-clock time."""
    return datetime(y, mo, d, h, mi, tzinfo=ZoneInfo(tz)).timestamp()


# label, year_start_month, kind, canonical label, local start date, local end date (exclusive)
LABELS = [
    ("2024-03-05", 4, "day", "2024-03-05", (2024, 3, 5), (2024, 3, 6)),
    ("2024-02-29", 1, "day", "2024-02-29", (2024, 2, 29), (2024, 3, 1)),
    # 2024-W10: Monday 4 March 2024 to Monday 11 March.
    ("2024-W10", 4, "week", "2024-W10", (2024, 3, 4), (2024, 3, 11)),
    # ISO week 1 of 2024 starts Monday 1 January 2024.
    ("2024-W01", 1, "week", "2024-W01", (2024, 1, 1), (2024, 1, 8)),
    # ISO week 1 of 2025 starts Monday 30 December 2024 (the week with 2 January... and 4 Jan).
    ("2025-W01", 1, "week", "2025-W01", (2024, 12, 30), (2025, 1, 6)),
    # 2020 has 53 ISO weeks (it started on a Wednesday in a leap year): W53 = 28 Dec - 4 Jan.
    ("2020-W53", 1, "week", "2020-W53", (2020, 12, 28), (2021, 1, 4)),
    ("2024-03", 4, "month", "2024-03", (2024, 3, 1), (2024, 4, 1)),
    ("2024-12", 1, "month", "2024-12", (2024, 12, 1), (2025, 1, 1)),
    ("2024-Q1", 4, "quarter", "2024-Q1", (2024, 1, 1), (2024, 4, 1)),
    ("2024-Q4", 1, "quarter", "2024-Q4", (2024, 10, 1), (2025, 1, 1)),
    ("2024-H1", 4, "half", "2024-H1", (2024, 1, 1), (2024, 7, 1)),
    ("2024-H2", 1, "half", "2024-H2", (2024, 7, 1), (2025, 1, 1)),
    ("2024", 4, "year", "2024", (2024, 1, 1), (2025, 1, 1)),
    # UK financial year with year_start_month = 4 (April).
    ("2023/24", 4, "year", "2023/24", (2023, 4, 1), (2024, 4, 1)),
    ("2023/24-Q1", 4, "quarter", "2023/24-Q1", (2023, 4, 1), (2023, 7, 1)),
    ("2023/24-Q3", 4, "quarter", "2023/24-Q3", (2023, 10, 1), (2024, 1, 1)),
    ("2023/24-Q4", 4, "quarter", "2023/24-Q4", (2024, 1, 1), (2024, 4, 1)),
    ("2023/24-H1", 4, "half", "2023/24-H1", (2023, 4, 1), (2023, 10, 1)),
    ("2023/24-H2", 4, "half", "2023/24-H2", (2023, 10, 1), (2024, 4, 1)),
    ("1999/00", 4, "year", "1999/00", (1999, 4, 1), (2000, 4, 1)),
    # Other start months: September academic year; July.
    ("2024/25", 9, "year", "2024/25", (2024, 9, 1), (2025, 9, 1)),
    ("2024/25-Q2", 7, "quarter", "2024/25-Q2", (2024, 10, 1), (2025, 1, 1)),
    ("2024/25-Q4", 12, "quarter", "2024/25-Q4", (2025, 9, 1), (2025, 12, 1)),
    ("2024-04-01..2024-06-30", 4, "range", "2024-04-01..2024-06-30", (2024, 4, 1), (2024, 7, 1)),
    ("2024-05-06..2024-05-06", 4, "range", "2024-05-06..2024-05-06", (2024, 5, 6), (2024, 5, 7)),
    # Extremes of the accepted years.
    ("1900-W01", 1, "week", "1900-W01", (1900, 1, 1), (1900, 1, 8)),
    ("9998", 1, "year", "9998", (9998, 1, 1), (9999, 1, 1)),
    ("9998/99-Q4", 4, "quarter", "9998/99-Q4", (9999, 1, 1), (9999, 4, 1)),
]


@pytest.mark.parametrize(("label", "ysm", "kind", "canonical", "first", "after"), LABELS)
def test_label_boundaries(label, ysm, kind, canonical, first, after):
    p = parse_period(label, LON, ysm)
    assert p == Period(canonical, kind, t(*first), t(*after))


# Real elapsed seconds across DST (Europe/London: clocks forward last Sunday of March,
# back last Sunday of October).
DST_LENGTHS = [
    # March 2024: 31 days, clocks forward 31 Mar 01:00 GMT -> one hour short.
    ("2024-03", 31 * DAY - 3600),
    # October 2024: 31 days, clocks back 27 Oct -> one hour long.
    ("2024-10", 31 * DAY + 3600),
    # The Sundays themselves.
    ("2024-03-31", 23 * 3600),
    ("2024-10-27", 25 * 3600),
    # A week containing the spring change: 7 days less one hour.
    ("2024-W13", 7 * DAY - 3600),
    # A whole year contains both changes: exactly 366 days in 2024.
    ("2024", 366 * DAY),
    # 2024-Q1 ends 1 April, after the spring change: 91 days - 1 h.
    ("2024-Q1", 91 * DAY - 3600),
    # Financial 2023/24 (Apr-Mar) contains both changes: 366 days (includes 29 Feb 2024).
    ("2023/24", 366 * DAY),
    # 2024/25-H2 (Oct 2024 - Mar 2025): back 27 Oct 2024, forward 30 Mar 2025 -> 182 days.
    ("2024/25-H2", 182 * DAY),
]


@pytest.mark.parametrize(("label", "seconds"), DST_LENGTHS)
def test_dst_lengths_are_real_elapsed_seconds(label, seconds):
    p = parse_period(label, LON, 4)
    assert p.end - p.start == seconds
    assert p.seconds == seconds


def test_march_2024_in_utc_instants():
    # 1 March 2024 00:00 GMT = 1709251200; 1 April 2024 00:00 BST = 31 March 23:00 UTC.
    p = parse_period("2024-03", LON, 1)
    assert p.start == 1709251200
    assert p.end == 1711926000
    assert p.end - p.start == 31 * 86400 - 3600


def test_other_timezone():
    # New York: month of March 2024 starts at 05:00 UTC (EST, -5), ends 04:00 UTC (EDT, -4).
    p = parse_period("2024-03", "America/New_York", 1)
    assert p.start == datetime(2024, 3, 1, 5, tzinfo=UTC).timestamp()
    assert p.end == datetime(2024, 4, 1, 4, tzinfo=UTC).timestamp()


def test_midnight_in_dst_gap_starts_at_first_instant_of_day():
    # America/Santiago sprang forward at local midnight on 2022-09-11 (00:00 -04 -> 01:00 -03).
    p = parse_period("2022-09-11", "America/Santiago", 1)
    assert p.start == datetime(2022, 9, 11, 4, tzinfo=UTC).timestamp()
    assert p.end - p.start == 23 * 3600
    before = parse_period("2022-09-10", "America/Santiago", 1)
    assert before.end == p.start


ERRORS = [
    ("", "not a recognised"),
    (" 2024", "not a recognised"),
    ("2024 ", "not a recognised"),
    ("2024\n", "not a recognised"),
    ("2024-q1", "not a recognised"),
    ("\uff12\uff10\uff12\uff14", "not a recognised"),  # full-width digits: not ASCII
    ("\u0662\u0660\u0662\u0664-Q1", "not a recognised"),  # Arabic-Indic digits
    ("24-Q1", "not a recognised"),
    ("12024", "not a recognised"),
    ("2024-Q5", "quarter must be Q1-Q4"),
    ("2024-Q0", "quarter must be Q1-Q4"),
    ("2024-H3", "half must be H1-H2"),
    ("2023/24-Q5", "quarter must be Q1-Q4"),
    ("2024-W54", "ISO year 2024 has weeks 01-52"),
    ("2024-W00", "ISO year 2024 has weeks 01-52"),
    ("2021-W53", "ISO year 2021 has weeks 01-52"),
    ("2024-W53", "ISO year 2024 has weeks 01-52"),
    ("2024-02-30", "not a real date"),
    ("2023-02-29", "not a real date"),
    ("2024-13", "month 13 is not 01-12"),
    ("2024-00", "month 00 is not 01-12"),
    ("2024-00-10", "not a real date"),
    ("2023/25", "is written 2023/24"),
    ("2023/2024", "not a recognised"),
    ("1999/99", "is written 1999/00"),
    ("0000", "year 0 is outside"),
    ("1899-12", "year 1899 is outside"),
    ("9999", "year 9999 is outside"),
    ("9999/00", "year 9999 is outside"),
    ("2024-06-30..2024-04-01", "range starts (2024-06-30) after it ends (2024-04-01)"),
    ("2024-04-01..2024-02-30", "not a real date"),
    ("2024-04-01..", "not a recognised"),
    ("2024-04-01...2024-04-02", "not a recognised"),
]


@pytest.mark.parametrize(("label", "problem"), ERRORS)
def test_errors(label, problem):
    with pytest.raises(PeriodError) as info:
        parse_period(label, LON, 4)
    message = str(info.value)
    assert problem in message
    assert len(message.splitlines()) == 1
    # The message lists the accepted forms so the user can fix the label.
    assert "2024-W10 (ISO week)" in message and "2023/24-H2" in message


def test_fiscal_label_with_calendar_years_says_what_to_set():
    with pytest.raises(PeriodError, match=r"reporting\.year_start_month"):
        parse_period("2023/24", LON, 1)
    with pytest.raises(PeriodError, match=r"reporting\.year_start_month"):
        parse_period("2023/24-Q1", LON, 1)


@pytest.mark.parametrize("ysm", [0, 13, -1, True, 4.0, "4", None])
def test_bad_year_start_month(ysm):
    with pytest.raises(PeriodError, match="year_start_month"):
        parse_period("2024", LON, ysm)


@pytest.mark.parametrize("tz", ["Mars/Olympus", "", "../etc/passwd", "Europe/London\x00"])
def test_bad_timezone(tz):
    with pytest.raises(PeriodError, match="timezone"):
        parse_period("2024", tz, 4)


def test_date_range():
    p = date_range(date(2024, 4, 1), date(2024, 6, 30), LON)
    assert p == parse_period("2024-04-01..2024-06-30", LON, 4)
    # April (30) + May (31) + June (30) = 91 days, all in BST.
    assert p.end - p.start == 91 * DAY
    one = date_range(date(2024, 3, 31), date(2024, 3, 31), LON)
    assert one.end - one.start == 23 * 3600
    with pytest.raises(PeriodError, match=r"^the range starts \(2024-06-30\) after it ends"):
        date_range(date(2024, 6, 30), date(2024, 4, 1), LON)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-15", date(2024, 5, 15)),
        ("15/05/2024", date(2024, 5, 15)),  # as UK admins write it: day first
        ("1/4/2024", date(2024, 4, 1)),
        (" 30/06/2024 ", date(2024, 6, 30)),
    ],
)
def test_parse_day(text, expected):
    assert parse_day(text) == expected


WRITE = "write dates as 2024-05-15 (or 15/05/2024, day first)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("05/15/2024", "not a real date (month must be in 1..12); " + WRITE),
        ("2024-02-30", "not a real date (day is out of range for month); " + WRITE),
        ("2024-1-01", "not a date: " + WRITE),
        ("15.05.2024", "not a date: " + WRITE),
        ("", "not a date: " + WRITE),
        ("15/05/24", "not a date: " + WRITE),
        ("9999-01-01", "year 9999 is outside 1900-9998"),
    ],
)
def test_parse_day_errors(text, message):
    with pytest.raises(PeriodError) as info:
        parse_day(text)
    assert str(info.value) == message


PREVIOUS = [
    ("2024-03-01", 4, "2024-02-29"),
    ("2024-01-01", 4, "2023-12-31"),
    ("2024-W01", 1, "2023-W52"),
    ("2021-W01", 1, "2020-W53"),
    ("2024-W10", 1, "2024-W09"),
    ("2024-01", 4, "2023-12"),
    ("2024-03", 4, "2024-02"),
    ("2024-Q1", 4, "2023-Q4"),
    ("2024-Q3", 4, "2024-Q2"),
    ("2024-H1", 4, "2023-H2"),
    ("2024-H2", 4, "2024-H1"),
    ("2024", 4, "2023"),
    ("2024/25", 4, "2023/24"),
    ("2000/01", 4, "1999/00"),
    ("2024/25-Q1", 4, "2023/24-Q4"),
    ("2024/25-Q4", 4, "2024/25-Q3"),
    ("2024/25-H1", 4, "2023/24-H2"),
    # A range: same number of days before.  Apr-Jun 2024 is 91 days -> 1 Jan - 31 Mar 2024.
    ("2024-04-01..2024-06-30", 4, "2024-01-01..2024-03-31"),
    ("2024-03-01..2024-03-01", 4, "2024-02-29..2024-02-29"),
]


@pytest.mark.parametrize(("label", "ysm", "expected"), PREVIOUS)
def test_previous_period(label, ysm, expected):
    p = parse_period(label, LON, ysm)
    prev = previous_period(p, LON, ysm)
    assert prev == parse_period(expected, LON, ysm)
    assert prev.end == p.start  # adjacent: no gap, no overlap


def test_previous_range_same_length_in_days_not_seconds():
    # 2024-04-01..2024-04-30 (30 days, all BST) -> 2024-03-02..2024-03-31 (30 days, one 23 h).
    prev = previous_period(parse_period("2024-04-01..2024-04-30", LON, 4), LON, 4)
    assert prev.label == "2024-03-02..2024-03-31"
    assert prev.end - prev.start == 30 * DAY - 3600


def test_no_previous_before_1900():
    with pytest.raises(PeriodError, match="no period before"):
        previous_period(parse_period("1900", LON, 1), LON, 1)


CURRENT = [
    # kind, now (local), year_start_month, expected label
    ("day", (2024, 12, 31, 23, 59), 1, "2024-12-31"),
    ("day", (2025, 1, 1, 0, 0), 1, "2025-01-01"),
    ("week", (2024, 12, 31, 12, 0), 1, "2025-W01"),
    ("week", (2024, 12, 29, 23, 59), 1, "2024-W52"),
    ("week", (2021, 1, 3, 12, 0), 1, "2020-W53"),
    ("month", (2024, 3, 31, 23, 59), 4, "2024-03"),
    ("month", (2024, 4, 1, 0, 0), 4, "2024-04"),
    # Calendar quarters/years when year_start_month = 1.
    ("quarter", (2024, 12, 31, 23, 59), 1, "2024-Q4"),
    ("quarter", (2025, 1, 1, 0, 0), 1, "2025-Q1"),
    ("year", (2024, 12, 31, 23, 59), 1, "2024"),
    ("year", (2025, 1, 1, 0, 0), 1, "2025"),
    # Financial quarters/years when year_start_month = 4.
    ("quarter", (2024, 12, 31, 23, 59), 4, "2024/25-Q3"),
    ("quarter", (2025, 1, 1, 0, 0), 4, "2024/25-Q4"),
    ("quarter", (2025, 3, 31, 23, 59), 4, "2024/25-Q4"),
    ("quarter", (2025, 4, 1, 0, 0), 4, "2025/26-Q1"),
    ("year", (2025, 3, 31, 23, 59), 4, "2024/25"),
    ("year", (2025, 4, 1, 0, 0), 4, "2025/26"),
    ("half", (2024, 10, 1, 0, 0), 4, "2024/25-H2"),
    ("year", (1999, 12, 31, 12, 0), 4, "1999/00"),
]


@pytest.mark.parametrize(("kind", "local", "ysm", "expected"), CURRENT)
def test_current_period(kind, local, ysm, expected):
    now = t(*local)
    p = current_period(kind, now, LON, ysm)
    assert p == parse_period(expected, LON, ysm)
    assert p.start <= now < p.end


def test_current_period_exact_boundary_belongs_to_new_period():
    # 1 April 2024 00:00 BST = 31 March 23:00 UTC: the new quarter, not the old one.
    boundary = datetime(2024, 3, 31, 23, tzinfo=UTC).timestamp()
    assert current_period("quarter", boundary, LON, 4).label == "2024/25-Q1"
    assert current_period("quarter", boundary - 1, LON, 4).label == "2023/24-Q4"


@pytest.mark.parametrize(
    ("kind", "now"),
    [("fortnight", 0.0), ("range", 0.0), ("day", float("nan")), ("day", 1e300), ("day", -1e20)],
)
def test_current_period_errors(kind, now):
    with pytest.raises(PeriodError):
        current_period(kind, now, LON, 4)


def test_reporting_year_label():
    assert reporting_year_label(2024, 1) == "2024"
    assert reporting_year_label(2024, 4) == "2024/25"
    assert reporting_year_label(1999, 4) == "1999/00"


# --- properties --------------------------------------------------------------------------

label_chars = st.sampled_from([*"0123456789-/.WQH qh", "\u0663", "\uff12", "\n", "\u00e9", "\x00"])
label_like = st.one_of(
    st.text(),
    st.text(alphabet=label_chars, max_size=30),
    st.builds(
        lambda y, sep, rest: f"{y}{sep}{rest}",
        st.integers(-10, 100000),
        st.sampled_from(["-", "/", "-W", "-Q", "-H", ""]),
        st.integers(-5, 200),
    ),
    st.builds(
        lambda y1, y2, q: f"{y1:04d}/{y2:02d}{q}",
        st.integers(0, 9999),
        st.integers(0, 99),
        st.sampled_from(["", "-Q1", "-Q4", "-H2", "-Q9"]),
    ),
)


@settings(max_examples=examples(400), deadline=None)
@given(label=label_like, ysm=st.integers(0, 13), tz=st.sampled_from([LON, "UTC", "Asia/Kolkata"]))
def test_parse_never_raises_anything_but_period_error(label, ysm, tz):
    try:
        p = parse_period(label, tz, ysm)
    except PeriodError as exc:
        assert len(str(exc).splitlines()) == 1
        return
    assert p.start < p.end
    # Canonical labels round-trip.
    assert parse_period(p.label, tz, ysm) == p
    try:
        prev = previous_period(p, tz, ysm)
    except PeriodError:
        return
    assert prev.kind == p.kind and prev.end == p.start


@settings(max_examples=examples(300), deadline=None)
@given(
    kind=st.sampled_from(["day", "week", "month", "quarter", "half", "year"]),
    now=st.floats(-2e9, 5e10, allow_nan=False),
    ysm=st.integers(1, 12),
)
def test_current_period_contains_now_and_tiles(kind, now, ysm):
    p = current_period(kind, now, LON, ysm)
    assert p.start <= now < p.end
    prev = previous_period(p, LON, ysm)
    assert prev.end == p.start
    assert current_period(kind, prev.start, LON, ysm) == prev
    assert current_period(kind, p.end, LON, ysm).start == p.end


@settings(max_examples=examples(200), deadline=None)
@given(
    d=st.dates(min_value=datetime(1900, 1, 1).date(), max_value=datetime(9998, 12, 31).date()),
    days=st.integers(0, 400),
)
def test_date_range_whole_days(d, days):
    last = d + timedelta(days=days)
    if last.year > 9998:
        return
    p = date_range(d, last, LON)
    assert p.start == t(d.year, d.month, d.day)
    nxt = last + timedelta(days=1)
    assert p.end == t(nxt.year, nxt.month, nxt.day)
