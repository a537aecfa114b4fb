"""Reporting periods: labels such as ``2024-Q1`` or ``2023/24-H2`` -> ``[start, end)`` instants.

Boundaries are local midnights in the configured IANA timezone, converted to UTC epoch
seconds with :mod:`zoneinfo`, so the length of a period is the real elapsed time (a month
containing the spring DST change is one hour short).  Every period is built from a pair of
local dates ``[first, after)`` by one function (:func:`_local_midnight`), so adjacent periods
of any kind tile time exactly: no second is counted twice or lost between them.

Accepted labels (exactly these spellings, ASCII digits only):

========================  =========  ==========================================
label                     kind       meaning
========================  =========  ==========================================
``2024-03-05``            day        one local day
``2024-W10``              week       ISO 8601 week, Monday to Monday
``2024-03``               month      calendar month
``2024-Q1``               quarter    calendar quarter (Jan-Mar)
``2024-H1``               half       calendar half (Jan-Jun)
``2024``                  year       calendar year
``2023/24``               year       financial year from ``year_start_month``
``2023/24-Q1``            quarter    its first three months
``2023/24-H2``            half       its last six months
``2024-04-01..2024-06-30``  range    whole local days, both ends inclusive
========================  =========  ==========================================

Decisions (documented because auditors see the labels):

* Calendar labels always mean the calendar, whatever ``year_start_month`` is, so
  ``2024-Q1`` is January-March even for an April reporting year.
* A financial label (with ``/``) starts in ``year_start_month``; with ``year_start_month``
  = 1 it is rejected with a message saying to set ``reporting.year_start_month`` (or use the
  calendar label), because "2023/24" would otherwise silently mean calendar 2023.
* The part after ``/`` must be the next year's last two digits (``1999/00`` is valid,
  ``2023/25`` is not).
* Years are limited to 1900-9998 so every boundary (including the exclusive end) is a
  representable date; anything else is a :class:`PeriodError`, never another exception.
* A midnight that falls in a DST gap (not in Europe/London, but e.g. America/Santiago)
  resolves to the first instant of that local day; one that is repeated resolves to its
  first occurrence.  Either way the boundary is shared by the periods on both sides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "LIVE_PERIODS",
    "MAX_YEAR",
    "MIN_YEAR",
    "REPORT_PERIOD_KINDS",
    "Period",
    "PeriodError",
    "current_period",
    "date_range",
    "day_first",
    "parse_day",
    "parse_period",
    "previous_period",
    "reporting_year_label",
]

MIN_YEAR = 1900
MAX_YEAR = 9998
REPORT_PERIOD_KINDS = ("day", "week", "month", "quarter", "half", "year", "range")
CURRENT_KINDS = ("day", "week", "month", "quarter", "half", "year")
LIVE_PERIODS = ("day", "week", "month", "quarter", "year")  # /metrics' current periods

ACCEPTED_FORMS = (
    "accepted forms: 2024-03-05 (day), 2024-W10 (ISO week), 2024-03 (month), "
    "2024-Q1, 2024-H1, 2024 (calendar quarter/half/year), "
    "2023/24, 2023/24-Q1, 2023/24-H2 (financial year starting in reporting.year_start_month), "
    "2024-04-01..2024-06-30 (whole days, inclusive)"
)


class PeriodError(ValueError):
    """A period label, date or argument that cannot name a period (message is one line)."""


@dataclass(frozen=True)
class Period:
    """A reporting period: canonical label and its half-open span of UTC epoch seconds."""

    label: str
    kind: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        """Real elapsed seconds (DST changes included)."""
        return self.end - self.start


# --- label grammar (ASCII only: \d would accept other scripts' digits) ---------------------

_Y = r"([0-9]{4})"
_RE_DAY = re.compile(_Y + r"-([0-9]{2})-([0-9]{2})")
_RE_WEEK = re.compile(_Y + r"-W([0-9]{2})")
_RE_MONTH = re.compile(_Y + r"-([0-9]{2})")
_RE_QH = re.compile(_Y + r"-([QH])([0-9])")
_RE_YEAR = re.compile(_Y)
_RE_FISCAL = re.compile(_Y + r"/([0-9]{2})(?:-([QH])([0-9]))?")
_RE_RANGE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})\.\.([0-9]{4}-[0-9]{2}-[0-9]{2})")


def _fail(label: object, problem: str) -> PeriodError:
    """Build the one-line error: the label (escaped, shortened), the problem, the forms."""
    shown = repr(label) if isinstance(label, str) else type(label).__name__
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return PeriodError(f"bad period {shown}: {problem}; {ACCEPTED_FORMS}")


def _check_year(label: str, year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise _fail(label, f"year {year} is outside {MIN_YEAR}-{MAX_YEAR}")


def _zone(timezone: str) -> ZoneInfo:
    """Resolve the zone, turning every lookup failure into PeriodError."""
    try:
        return ZoneInfo(timezone)
    except Exception as exc:  # ZoneInfoNotFoundError, ValueError, TypeError for odd keys
        raise PeriodError(f"unknown timezone {timezone!r}: {exc}") from None


def _check_start_month(year_start_month: int) -> None:
    if (
        isinstance(year_start_month, bool)
        or not isinstance(year_start_month, int)
        or not 1 <= year_start_month <= 12
    ):
        raise PeriodError(
            f"reporting.year_start_month must be a month number 1-12, got {year_start_month!r}"
        )


def _local_midnight(d: date, zone: ZoneInfo) -> float:
    """UTC epoch seconds of the local midnight starting day ``d`` (fold=0, see module doc)."""
    return datetime(d.year, d.month, d.day, tzinfo=zone).timestamp()


def _add_months(year: int, month: int, n: int) -> date:
    """First day of the month ``n`` months after (year, month)."""
    index = year * 12 + (month - 1) + n
    return date(index // 12, index % 12 + 1, 1)


def _make(label: str, kind: str, first: date, after: date, zone: ZoneInfo) -> Period:
    if first.year < MIN_YEAR or after.year > MAX_YEAR + 1 or (after - first).days <= 0:
        raise _fail(label, f"dates outside {MIN_YEAR}-{MAX_YEAR}")
    return Period(label, kind, _local_midnight(first, zone), _local_midnight(after, zone))


def reporting_year_label(year: int, year_start_month: int) -> str:
    """Label of the reporting year starting in ``year``: "2024", or "2024/25" for a fiscal year."""
    _check_start_month(year_start_month)
    if year_start_month == 1:
        return f"{year:04d}"
    return f"{year:04d}/{(year + 1) % 100:02d}"


def _fiscal_year_of(d: date, start_month: int) -> int:
    """The year in which the reporting year containing ``d`` starts."""
    return d.year if d.month >= start_month else d.year - 1


def _containing(kind: str, d: date, fiscal_start: int | None, zone: ZoneInfo) -> Period:
    """The period of ``kind`` containing local date ``d``, with its canonical label.

    ``fiscal_start`` is None for calendar quarters/halves/years, else the start month of
    the financial year.  This is the only place labels are generated, so parse, current and
    previous all agree on spelling.
    """
    try:
        label, first, after = _span_dates(kind, d, fiscal_start)
    except (ValueError, OverflowError):  # date arithmetic past year 9999
        raise PeriodError(
            f"period {kind} containing {d} is outside years {MIN_YEAR}-{MAX_YEAR}"
        ) from None
    return _make(label, kind, first, after, zone)


def _span_dates(kind: str, d: date, fiscal_start: int | None) -> tuple[str, date, date]:
    """Label, first day and day after of the period of ``kind`` containing ``d``."""
    if kind == "day":
        return d.isoformat(), d, d + timedelta(days=1)
    if kind == "week":
        iso_year, week, weekday = d.isocalendar()
        monday = d - timedelta(days=weekday - 1)
        return f"{iso_year:04d}-W{week:02d}", monday, monday + timedelta(days=7)
    if kind == "month":
        return (
            f"{d.year:04d}-{d.month:02d}",
            date(d.year, d.month, 1),
            _add_months(d.year, d.month, 1),
        )
    if kind in ("quarter", "half", "year"):
        months = {"quarter": 3, "half": 6, "year": 12}[kind]
        start_month = fiscal_start or 1
        year = _fiscal_year_of(d, start_month)
        index = ((d.month - start_month) % 12) // months  # 0-based quarter/half
        first = _add_months(year, start_month, index * months)
        after = _add_months(year, start_month, (index + 1) * months)
        year_label = f"{year:04d}" if fiscal_start is None else f"{year:04d}/{(year + 1) % 100:02d}"
        if kind == "year":
            return year_label, first, after
        return f"{year_label}-{'Q' if kind == 'quarter' else 'H'}{index + 1}", first, after
    raise PeriodError(
        f"unknown period kind {kind!r}; expected one of {', '.join(REPORT_PERIOD_KINDS)}"
    )


def _parse_date(label: str, text: str) -> date:
    m = _RE_DAY.fullmatch(text)
    if not m:
        raise _fail(label, f"{text!r} is not a date YYYY-MM-DD")
    year, month, day = (int(g) for g in m.groups())
    _check_year(label, year)
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise _fail(label, f"{text} is not a real date ({exc})") from None


_RE_DAY_FIRST = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})(?=$|[ T])")
WRITE_DATES = "write dates as 2024-05-15 (or 15/05/2024, day first)"


def day_first(text: str) -> str:
    """A leading ``15/05/2024`` rewritten as ISO ``2024-05-15`` (the rest unchanged), since
    UK administrators write dates day first; it is always read day first, so a US-style
    ``05/15/2024`` is refused as month 15 rather than taken as 5 May."""
    m = _RE_DAY_FIRST.match(text)
    if m is None:
        return text
    day, month, year = m.groups()
    return f"{year}-{int(month):02d}-{int(day):02d}{text[m.end() :]}"


def parse_day(text: str) -> date:
    """A local day, ``2024-05-15`` or ``15/05/2024`` (day first); the error says what to
    type, the caller says which flag or key it was."""
    m = _RE_DAY.fullmatch(day_first(text.strip()))
    if m is None:
        raise PeriodError(f"not a date: {WRITE_DATES}")
    year, month, day = (int(g) for g in m.groups())
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise PeriodError(f"year {year} is outside {MIN_YEAR}-{MAX_YEAR}")
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise PeriodError(f"not a real date ({exc}); {WRITE_DATES}") from None


def date_range(first: date, last: date, timezone: str) -> Period:
    """Whole local days ``first`` to ``last`` inclusive (the CLI's --from/--to, read with
    :func:`parse_day`)."""
    if first > last:
        raise PeriodError(f"the range starts ({first}) after it ends ({last})")
    return _from_key(("range", first, last), _zone(timezone))


def _fiscal_start_for(label: str, year_start_month: int) -> int:
    _check_start_month(year_start_month)
    if year_start_month == 1:
        raise _fail(
            label,
            "financial-year labels need reporting.year_start_month set to the month the "
            "financial year starts (e.g. 4 for April); it is 1 (calendar years), so use the "
            "calendar label instead",
        )
    return year_start_month


# What a label denotes, before it is turned into instants: (kind, a date inside the period,
# fiscal start month or None) for the fixed kinds, or ("range", first day, last day).
_Key = tuple[str, date, int | date | None]


def _parse_key(label: str, year_start_month: int) -> _Key:
    """Validate ``label`` and say what it denotes (no timezone needed)."""
    if m := _RE_RANGE.fullmatch(label):
        first, last = _parse_date(label, m.group(1)), _parse_date(label, m.group(2))
        if first > last:
            raise _fail(label, f"range starts ({first}) after it ends ({last})")
        return "range", first, last
    if _RE_DAY.fullmatch(label):
        return "day", _parse_date(label, label), None
    if m := _RE_WEEK.fullmatch(label):
        year, week = int(m.group(1)), int(m.group(2))
        _check_year(label, year)
        try:
            return "week", date.fromisocalendar(year, week, 1), None
        except ValueError:
            weeks = date(year, 12, 28).isocalendar()[1]  # 28 Dec is always in the last week
            raise _fail(label, f"ISO year {year} has weeks 01-{weeks}") from None
    if m := _RE_MONTH.fullmatch(label):
        year, month = int(m.group(1)), int(m.group(2))
        _check_year(label, year)
        if not 1 <= month <= 12:
            raise _fail(label, f"month {m.group(2)} is not 01-12")
        return "month", date(year, month, 1), None
    if m := _RE_QH.fullmatch(label):
        year = int(m.group(1))
        _check_year(label, year)
        return _sub_year(label, year, 1, m.group(2), int(m.group(3)), None)
    if m := _RE_YEAR.fullmatch(label):
        year = int(m.group(1))
        _check_year(label, year)
        return "year", date(year, 1, 1), None
    if m := _RE_FISCAL.fullmatch(label):
        year, second = int(m.group(1)), m.group(2)
        _check_year(label, year)
        expected = f"{(year + 1) % 100:02d}"
        if second != expected:
            raise _fail(label, f"financial year starting {year} is written {year}/{expected}")
        start_month = _fiscal_start_for(label, year_start_month)
        if m.group(3) is None:
            return "year", date(year, start_month, 1), start_month
        return _sub_year(label, year, start_month, m.group(3), int(m.group(4)), start_month)
    raise _fail(label, "not a recognised period label")


def _sub_year(
    label: str, year: int, start_month: int, letter: str, number: int, fiscal_start: int | None
) -> _Key:
    """Quarter ``Qn`` or half ``Hn`` of the (calendar or financial) year starting in ``year``."""
    count, months, kind = (4, 3, "quarter") if letter == "Q" else (2, 6, "half")
    if not 1 <= number <= count:
        raise _fail(label, f"{kind} must be {letter}1-{letter}{count}")
    return kind, _add_months(year, start_month, (number - 1) * months), fiscal_start


def _from_key(key: _Key, zone: ZoneInfo) -> Period:
    kind, d, extra = key
    if kind == "range":
        assert isinstance(extra, date)
        return _make(
            f"{d.isoformat()}..{extra.isoformat()}", kind, d, extra + timedelta(days=1), zone
        )
    assert extra is None or isinstance(extra, int)
    return _containing(kind, d, extra, zone)


def parse_period(label: str, timezone: str, year_start_month: int) -> Period:
    """Parse a period label (see module doc) into its ``[start, end)`` instants."""
    if not isinstance(label, str):
        raise _fail(label, "label must be a string")
    zone = _zone(timezone)
    _check_start_month(year_start_month)
    return _from_key(_parse_key(label, year_start_month), zone)


def _local_date(now: float, zone: ZoneInfo) -> date:
    try:
        return datetime.fromtimestamp(now, zone).date()
    except (OverflowError, OSError, ValueError, TypeError) as exc:
        raise PeriodError(f"instant {now!r} cannot be placed in a period: {exc}") from None


def current_period(kind: str, now: float, timezone: str, year_start_month: int) -> Period:
    """The period of ``kind`` containing ``now`` (the metrics' "to date" periods).

    Quarters, halves and years follow ``year_start_month``: calendar labels when it is 1,
    financial labels ("2024/25-Q3") otherwise.
    """
    if kind not in CURRENT_KINDS:
        raise PeriodError(
            f"unknown current period kind {kind!r}; expected one of {', '.join(CURRENT_KINDS)}"
        )
    zone = _zone(timezone)
    _check_start_month(year_start_month)
    fiscal_start = None if year_start_month == 1 else year_start_month
    d = _local_date(now, zone)
    if not MIN_YEAR <= d.year <= MAX_YEAR:
        raise PeriodError(f"instant {now!r} is outside years {MIN_YEAR}-{MAX_YEAR}")
    return _containing(kind, d, fiscal_start, zone)


def previous_period(p: Period, timezone: str, year_start_month: int) -> Period:
    """The period of the same kind (and calendar/financial style) immediately before ``p``.

    For a range: the same number of whole days, ending the day before it starts.  Works from
    the label rather than the instants, so it does not depend on the timezone ``p`` was
    built in; its end is exactly ``p.start`` when the same timezone is used.
    """
    if not isinstance(p.label, str):
        raise _fail(p.label, "label must be a string")
    zone = _zone(timezone)
    _check_start_month(year_start_month)
    kind, d, extra = _parse_key(p.label, year_start_month)
    if kind == "range":
        assert isinstance(extra, date)
        days = (extra - d).days + 1
        first, last = d - timedelta(days=days), d - timedelta(days=1)
        key: _Key = ("range", first, last)
    else:
        assert extra is None or isinstance(extra, int)
        _, first, _ = _span_dates(kind, d, extra)
        key = (kind, first - timedelta(days=1), extra)
    if key[1] < date(MIN_YEAR, 1, 1):
        raise _fail(p.label, f"there is no period before it within {MIN_YEAR}-{MAX_YEAR}")
    return _from_key(key, zone)
