"""Working-hours calendars: weekly ranges in a timezone, minus public holidays and closures.

A schedule answers one question for the SLA figures: which instants are working hours?
The answer is an interval list (``monitor.figures.intervals``) of UTC epoch seconds.

Rules, fixed here because the figures depend on them:

* A weekly range belongs to the local day it **starts** on.  ``22:00-06:00`` on Monday
  runs to Tuesday 06:00.  A range is dropped as a whole when the day it starts on is a
  public holiday or a closure date (a Monday night shift is worked when Tuesday is a bank
  holiday, and not worked when Monday is).
* Wall-clock endpoints are converted to UTC one by one, so intervals are real elapsed
  time: ``00:00-24:00`` is 23 h on the spring DST Sunday and 25 h on the autumn one.
  An endpoint in the repeated (autumn) hour means its first occurrence (``fold=0``).
  An endpoint in the skipped (spring) hour, which never happens on the wall clock, means
  the instant the clock jumps (e.g. 01:30 on 2024-03-31 in London is 01:00 UTC, the
  moment it became 02:00 BST); a range lying wholly inside the skipped hour is empty.
  This keeps the mapping monotone, so ranges that do not overlap on the wall clock never
  overlap in UTC.
* Ranges on the weekly clock must not overlap (including a night range running into the
  next day's range); ``parse_hours`` rejects overlaps rather than guessing the intent.
  Touching ranges (``08:00-12:00`` and ``12:00-14:00``) are fine and merge.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import math
import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from monitor.figures.intervals import Interval, clip, normalize

__all__ = [
    "Schedule",
    "ScheduleError",
    "WeeklyRange",
    "always_schedule",
    "check_holidays",
    "parse_hours",
    "parse_weekly",
]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MINUTES_PER_DAY = 1440
_MINUTES_PER_WEEK = 7 * _MINUTES_PER_DAY
_DAY = dt.timedelta(days=1)
#: How far ``next_open`` looks ahead before concluding the schedule never opens.
NEXT_OPEN_HORIZON = 400 * 86400.0


class ScheduleError(ValueError):
    """A schedule that cannot be built; ``key`` names the offending sub-key (or None)."""

    def __init__(self, key: str | None, message: str) -> None:
        super().__init__(key, message)
        self.key = key
        self.message = message

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key is not None else self.message


# ---------------------------------------------------------------- weekly ranges


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@dataclass(frozen=True, order=True)
class WeeklyRange:
    """One recurring span of wall-clock time, anchored to the weekday it starts on."""

    weekday: int  # 0=Mon..6=Sun: the day the range STARTS on
    start_minute: int  # minutes after local midnight, 0..1439
    end_minute: int  # 1..1440; end <= start means it crosses midnight into the next day

    def __post_init__(self) -> None:
        for name, value, lo, hi in (
            ("weekday", self.weekday, 0, 6),
            ("start_minute", self.start_minute, 0, _MINUTES_PER_DAY - 1),
            ("end_minute", self.end_minute, 1, _MINUTES_PER_DAY),
        ):
            if type(value) is not int or not lo <= value <= hi:
                raise ScheduleError(None, f"{name} must be an integer {lo}..{hi}, got {value!r}")
        if self.start_minute == self.end_minute:
            raise ScheduleError(None, f"empty range {self}")

    @property
    def crosses_midnight(self) -> bool:
        return self.end_minute <= self.start_minute

    def week_span(self) -> tuple[int, int]:
        """[start, end) in minutes after Monday 00:00; end may exceed a week when it wraps."""
        start = self.weekday * _MINUTES_PER_DAY + self.start_minute
        end = self.weekday * _MINUTES_PER_DAY + self.end_minute
        if self.crosses_midnight:
            end += _MINUTES_PER_DAY
        return start, end

    @property
    def clock(self) -> str:
        """``08:00-18:00``: the wall-clock span, without the day."""
        return f"{_hhmm(self.start_minute)}-{_hhmm(self.end_minute)}"

    def __str__(self) -> str:
        return f"{DAY_NAMES[self.weekday]} {self.clock}"


def _find_overlap(ranges: Iterable[WeeklyRange]) -> tuple[WeeklyRange, WeeklyRange] | None:
    """The first pair of ranges sharing a minute on the (cyclic) weekly clock, if any."""
    pieces: list[tuple[int, int, int, WeeklyRange]] = []
    for order, r in enumerate(ranges):
        s, e = r.week_span()
        if e > _MINUTES_PER_WEEK:  # Sunday night into Monday: split at the week boundary
            pieces.append((s, _MINUTES_PER_WEEK, order, r))
            pieces.append((0, e - _MINUTES_PER_WEEK, order, r))
        else:
            pieces.append((s, e, order, r))
    pieces.sort()
    for (_, e1, o1, r1), (s2, _, o2, r2) in itertools.pairwise(pieces):
        if s2 < e1:
            # Report in input order so the message blames the later entry.
            return (r1, r2) if o1 <= o2 else (r2, r1)
    return None


# ---------------------------------------------------------------- parsing

_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})")
_RANGE_FORM = "expected HH:MM-HH:MM like 08:00-18:00"


def _parse_days(text: str, key: str | None) -> list[int]:
    """``mon``, ``mon-fri`` or a wrapping ``fri-mon`` → weekday numbers."""
    norm = text.strip().lower()
    names = [p.strip() for p in norm.split("-")]
    if len(names) > 2 or not all(names):
        raise ScheduleError(key, f"bad day range {text!r}: use e.g. 'mon', 'mon-fri'")
    for n in names:
        if n not in DAY_NAMES:
            raise ScheduleError(key, f"unknown day {n!r}: use mon, tue, wed, thu, fri, sat, sun")
    if len(names) == 1:
        return [DAY_NAMES.index(names[0])]
    first, last = (DAY_NAMES.index(n) for n in names)
    if first == last:
        raise ScheduleError(key, f"day range {text!r} starts and ends on the same day")
    # Wrapping ranges such as fri-mon run through the weekend.
    return [(first + i) % 7 for i in range((last - first) % 7 + 1)]


def _parse_time(text: str, whole: str, key: str | None) -> int:
    m = _TIME.fullmatch(text.strip())
    if not m:
        raise ScheduleError(key, f"bad time range {whole!r}: {_RANGE_FORM}")
    hour, minute = int(m.group(1)), int(m.group(2))
    if hour > 24:
        raise ScheduleError(key, f"hour out of range in {whole!r}: {text.strip()}")
    if minute > 59:
        raise ScheduleError(key, f"minute out of range in {whole!r}: {text.strip()}")
    if hour == 24 and minute:
        raise ScheduleError(key, f"time past 24:00 in {whole!r}: {text.strip()}")
    return hour * 60 + minute


def _parse_range(text: object, key: str | None) -> tuple[int, int]:
    """``HH:MM-HH:MM`` → (start, end) minutes; an end of 00:00 means midnight (1440)."""
    if not isinstance(text, str):
        raise ScheduleError(
            key, f"expected a time range string 'HH:MM-HH:MM', got {type(text).__name__}"
        )
    parts = text.split("-")
    if len(parts) != 2:
        raise ScheduleError(key, f"bad time range {text!r}: {_RANGE_FORM}")
    start = _parse_time(parts[0], text, key)
    end = _parse_time(parts[1], text, key)
    if start == _MINUTES_PER_DAY:
        raise ScheduleError(key, f"bad time range {text!r}: 24:00 can only be an end")
    if start == end:  # 08:00-08:00 and 00:00-00:00 alike; a whole day is 00:00-24:00
        raise ScheduleError(key, f"empty range {text!r}")
    return start, end or _MINUTES_PER_DAY


def parse_hours(value: object) -> tuple[WeeklyRange, ...]:
    """A targets.yaml ``hours`` mapping → weekly ranges, sorted by weekday and start.

    Keys are days (``mon``..``sun``) or day ranges (``mon-fri``; ``fri-mon`` wraps through
    the weekend), case-insensitive.  Values are one ``"HH:MM-HH:MM"`` string or a
    non-empty list of them; ``24:00`` is allowed as an end and an end at or before the
    start crosses midnight.  Overlapping ranges are **rejected**, not merged, because an
    overlap in hand-written hours is almost always a typo whose intent we cannot know.
    Raises only ``ScheduleError`` (key = the day key, or None for the whole value).
    """
    if not isinstance(value, Mapping):
        raise ScheduleError(
            None, f"hours must be a mapping of days to time ranges, got {type(value).__name__}"
        )
    if not value:
        raise ScheduleError(None, "hours must name at least one day")
    found: list[tuple[str, WeeklyRange]] = []
    for raw_key, spec in value.items():
        key = str(raw_key)
        if not isinstance(raw_key, str):
            raise ScheduleError(key, f"day key must be text like 'mon-fri', got {raw_key!r}")
        days = _parse_days(raw_key, key)
        if isinstance(spec, list | tuple):
            if not spec:
                raise ScheduleError(key, "empty list of time ranges")
            texts = list(spec)
        else:
            texts = [spec]
        for text in texts:
            start, end = _parse_range(text, key)
            found.extend((key, WeeklyRange(d, start, end)) for d in days)
    pair = _find_overlap(r for _, r in found)
    if pair is not None:
        first, second = pair
        blamed = next(k for k, r in reversed(found) if r is second)
        raise ScheduleError(blamed, f"overlapping ranges {first} and {second}")
    return tuple(sorted(r for _, r in found))


def parse_weekly(text: str) -> tuple[WeeklyRange, ...]:
    """``"DAYS HH:MM-HH:MM"`` (e.g. ``"tue 07:00-08:00"``, ``"mon-fri 22:00-02:00"``).

    The recurring form of a maintenance window; DAYS as in ``parse_hours`` keys.
    Raises only ``ScheduleError`` with key None.
    """
    if not isinstance(text, str):
        raise ScheduleError(None, f"expected 'DAYS HH:MM-HH:MM', got {type(text).__name__}")
    parts = text.split(None, 1)
    if len(parts) != 2:
        raise ScheduleError(None, f"bad weekly window {text!r}: expected 'DAYS HH:MM-HH:MM'")
    days = _parse_days(parts[0], None)
    start, end = _parse_range(parts[1], None)
    return tuple(sorted(WeeklyRange(d, start, end) for d in days))


# ---------------------------------------------------------------- holidays


def check_holidays(country: str, subdiv: str | None) -> None:
    """Raise ScheduleError unless the ``holidays`` package knows this country/subdivision.

    Codes are as the package spells them (``GB``, ``ENG``; case matters).
    """
    if not isinstance(country, str) or not country:
        raise ScheduleError("country", f"country must be a code like 'GB', got {country!r}")
    if subdiv is not None and (not isinstance(subdiv, str) or not subdiv):
        raise ScheduleError("subdiv", f"subdivision must be a code like 'ENG', got {subdiv!r}")
    supported = holidays.list_supported_countries()
    if country not in supported:
        hint = f" (did you mean {country.upper()!r}?)" if country.upper() in supported else ""
        raise ScheduleError("country", f"unknown holiday country {country!r}{hint}")
    try:
        holidays.country_holidays(country, subdiv=subdiv)
    except Exception as exc:  # the package raises several types; all mean "not usable"
        known = ", ".join(supported[country][:20]) or "none"
        if len(supported[country]) > 20:
            known += ", ..."
        raise ScheduleError(
            "subdiv", f"unknown subdivision {subdiv!r} of {country} (known: {known})"
        ) from exc


@functools.lru_cache(maxsize=4096)
def _holiday_dates(country: str, subdiv: str | None, year: int) -> Mapping[dt.date, str]:
    """Public holidays (substitute days and one-offs included) of one year, with their
    names, cached (read-only: every caller shares it)."""
    return MappingProxyType(dict(holidays.country_holidays(country, subdiv=subdiv, years=year)))


# ---------------------------------------------------------------- wall clock → UTC


def _to_utc(day: dt.date, minute: int, tz: ZoneInfo) -> float:
    """Epoch seconds of wall-clock ``minute`` after local midnight of ``day`` (see module doc)."""
    if minute == _MINUTES_PER_DAY:
        day, minute = day + _DAY, 0
    wall = dt.datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=tz)
    before = wall.utcoffset()
    after = wall.replace(fold=1).utcoffset()
    assert before is not None and after is not None
    if before >= after:  # ordinary time, or the repeated hour (fold=0: first occurrence)
        return wall.timestamp()
    # Skipped hour: fold=1 reads the wall time with the later offset, which lands before
    # the jump; fold=0 lands after it.  Bisect for the jump itself, to the second.
    lo = int(wall.replace(fold=1).timestamp())  # before the transition
    hi = int(wall.timestamp())  # at or after it
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if dt.datetime.fromtimestamp(mid, tz).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return float(hi)


# ---------------------------------------------------------------- schedules


@dataclass(frozen=True)
class Schedule:
    """A working-hours calendar; frozen and hashable so its per-year results can be cached."""

    name: str
    timezone: str  # IANA name
    ranges: tuple[WeeklyRange, ...]
    holiday_country: str | None = None
    holiday_subdiv: str | None = None  # ignored without holiday_country
    closed: frozenset[dt.date] = field(default_factory=frozenset)
    always: bool = False  # built-in 24x7 (ranges ignored, no holidays)

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise ScheduleError("timezone", f"unknown timezone {self.timezone!r}") from exc
        object.__setattr__(self, "ranges", tuple(self.ranges))
        object.__setattr__(self, "closed", frozenset(self.closed))
        for r in self.ranges:
            if not isinstance(r, WeeklyRange):
                raise ScheduleError("hours", f"not a WeeklyRange: {r!r}")
        pair = _find_overlap(self.ranges)
        if pair is not None:
            raise ScheduleError("hours", f"overlapping ranges {pair[0]} and {pair[1]}")
        for d in self.closed:
            if type(d) is not dt.date:
                raise ScheduleError("closed", f"closure dates must be dates, got {d!r}")
        # A subdivision without a country means nothing and is ignored (config drops a bad
        # country but may keep its subdivision; that must not turn into a crash here).
        if self.holiday_country is not None:
            check_holidays(self.holiday_country, self.holiday_subdiv)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # zoneinfo caches instances per key

    def is_working_day(self, day: dt.date) -> bool:
        """False for closure dates and public holidays: ranges starting that day are dropped."""
        if day in self.closed:
            return False
        if self.holiday_country is None:
            return True
        return day not in _holiday_dates(self.holiday_country, self.holiday_subdiv, day.year)

    def holidays_removed(self, first: dt.date, last: dt.date) -> list[tuple[dt.date, str]]:
        """Public holidays from ``first`` to ``last`` (inclusive) that removed working
        hours -- a range would have started that day -- with their names, in date order:
        what an auditor needs to rebuild the scheduled time by hand."""
        if self.always or self.holiday_country is None:
            return []
        worked = {r.weekday for r in self.ranges}
        return [
            (day, name)
            for year in range(first.year, last.year + 1)
            for day, name in sorted(
                _holiday_dates(self.holiday_country, self.holiday_subdiv, year).items()
            )
            if first <= day <= last and day.weekday() in worked
        ]

    def open_intervals(self, start: float, end: float) -> list[Interval]:
        """Working hours within ``[start, end)`` as a normalized interval list (UTC epoch s)."""
        if not end > start:
            return []
        if self.always:
            return [(start, end)]
        pieces: list[Interval] = []
        for year in self._years(start, end):
            ends, ivs = _year_table(self, year)
            # Year tables are normalized: take the spans ending after start, starting before end.
            i = bisect_right(ends, start)
            while i < len(ivs) and ivs[i][0] < end:
                pieces.append(ivs[i])
                i += 1
        # Adjacent years' tables may touch (a night range meeting a New Year's morning one).
        return clip(normalize(pieces), start, end)

    def is_open(self, t: float) -> bool:
        """Whether instant ``t`` is working time (consistent with ``open_intervals``)."""
        if self.always:
            return math.isfinite(t)
        for year in self._years(t, t):
            ends, ivs = _year_table(self, year)
            i = bisect_right(ends, t)
            if i < len(ivs) and ivs[i][0] <= t:
                return True
        return False

    def next_open(self, t: float) -> float | None:
        """First instant >= t that is working time (t itself if open); None within 400 days."""
        if self.always:
            return t
        limit = t + NEXT_OPEN_HORIZON
        for year in self._years(t, limit):
            ends, ivs = _year_table(self, year)
            i = bisect_right(ends, t)
            if i < len(ivs):
                found = max(ivs[i][0], t)
                return found if found < limit else None
        return None

    def _years(self, start: float, end: float) -> range:
        """Local years whose ranges can reach into [start, end].

        A range ends less than two local days after the midnight of the day it starts
        on, so ranges starting up to two days before ``start`` are considered.
        """
        tz = self.tz
        first = (dt.datetime.fromtimestamp(start, tz).date() - 2 * _DAY).year
        last = dt.datetime.fromtimestamp(end, tz).year
        return range(first, last + 1)


@functools.lru_cache(maxsize=1024)
def _year_table(schedule: Schedule, year: int) -> tuple[tuple[float, ...], tuple[Interval, ...]]:
    """The schedule's intervals for ranges *starting* on local days of ``year``.

    Returned as (ends, intervals) with the intervals normalized, so lookups bisect on ends.
    Computing a whole year at once (a few hundred conversions, a few ms) and caching it is
    what keeps per-scrape figures cheap for thousands of targets sharing few schedules.
    """
    tz = schedule.tz
    by_weekday: list[list[WeeklyRange]] = [[] for _ in range(7)]
    for r in schedule.ranges:
        by_weekday[r.weekday].append(r)
    spans: list[Interval] = []
    day = dt.date(year, 1, 1)
    while day.year == year:
        todays = by_weekday[day.weekday()]
        if todays and schedule.is_working_day(day):
            for r in todays:
                end_day = day + _DAY if r.crosses_midnight else day
                spans.append((_to_utc(day, r.start_minute, tz), _to_utc(end_day, r.end_minute, tz)))
        day += _DAY
    ivs = tuple(normalize(spans))
    return tuple(e for _, e in ivs), ivs


def always_schedule(timezone: str = "Europe/London") -> Schedule:
    """The built-in 24x7 schedule (no holidays); the timezone only matters for periods."""
    return Schedule(name="always", timezone=timezone, ranges=(), always=True)
