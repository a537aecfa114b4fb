"""targets.yaml -> frozen dataclasses, with every validation in one place.

Users edit this file by hand, so every problem becomes one line naming the
file, the key path (``targets[3].timeout``) and what is wrong; all problems are
reported at once, never as a traceback.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from monitor.figures.periods import (
    LIVE_PERIODS,
    MAX_YEAR,
    MIN_YEAR,
    PeriodError,
    current_period,
    day_first,
    parse_day,
)
from monitor.figures.schedule import (
    Schedule,
    ScheduleError,
    WeeklyRange,
    always_schedule,
    check_holidays,
    parse_hours,
    parse_weekly,
)
from monitor.probes import REGISTRY, parse_settings, probe_type
from monitor.probes._common import show
from monitor.probes.base import SettingError
from monitor.store import is_url

# PyYAML's safe loader on libyaml's parser where PyYAML was built with it: 5x faster on a
# 100,000-target file (40 s -> 7.5 s of CPU, peak RSS 689 -> 465 MB; BENCHMARKS.md), which
# every shard of a sharded deployment pays at start-up.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DEFAULT_PORT = 9430
DEFAULT_OBJECTIVE = 0.99
DEFAULT_MINIMUM_COVERAGE = 0.9  # reporting.minimum_coverage
POLICIES = ("excluded", "up", "down")
UNREACHABLE_POLICIES = ("down", "unmonitored")
NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

TOP_KEYS = {
    "timezone",
    "defaults",
    "reporting",
    "storage",
    "listen",
    "schedules",
    "groups",
    "maintenance",
    "monitor",
    "metrics",
    "targets",
}
DEFAULT_KEYS = {
    "interval",
    "timeout",
    "failures_before_down",
    "schedule",
    "objective",
    "probe_outside_hours",
}
COMMON_TARGET_KEYS = {"name", "group", "type", "depends_on", "labels", *DEFAULT_KEYS}
# A metadata label is a Prometheus label name that is not one availmon (target, group, type,
# schedule) or Prometheus's scrape (job, instance) already puts on the target's series.
LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RESERVED_LABELS = ("target", "group", "type", "schedule", "job", "instance")
BUILTIN_DEFAULTS: dict[str, Any] = {
    "interval": "30s",
    "timeout": "5s",
    "failures_before_down": 2,
    "schedule": "always",
    "objective": DEFAULT_OBJECTIVE,
    "probe_outside_hours": False,
}


class ConfigError(Exception):
    """One or more problems in a config file; ``problems`` holds one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Objective:
    """An uptime objective, possibly different in each reporting year.

    In targets.yaml ``objective`` (under ``defaults``, a group or a target) is either one
    value (``99%``) or a mapping from reporting-year label to value with an optional
    ``default``::

        objective: {default: 99%, 2023/24: 99.3%, 2024/25: 99.5%}

    Labels follow ``reporting.year_start_month``: ``2024`` when it is 1, ``2024/25``
    otherwise (:func:`monitor.figures.periods.reporting_year_label`).

    Precedence, for one reporting year: the target's entry for that year, else the target's
    ``default``; a target that names neither (no ``objective`` at all, or a mapping without
    ``default`` that does not list the year) takes its group's objective for that year, found
    the same way, then ``defaults.objective``, then the built-in 99%.  So a mapping without
    ``default`` overrides only the years it names (``inherited`` is what applies to the
    others); one with ``default`` -- or a single value -- replaces the inherited objective
    for every year.  Whatever the mapping, ``availmon check`` requires it to give the current
    reporting year an objective itself (an entry or ``default``), so a scorecard that has
    not been updated for the new year is noticed rather than silently inherited.

    Reports use the objective in force at the *start* of the reported period; the live
    metrics use the one in force at the start of each current period (see ``totals``).
    """

    default: float | None = None
    by_year: tuple[tuple[str, float], ...] = ()
    inherited: Objective | None = None

    def own(self, label: str) -> float | None:
        """This level's objective for the year ``label`` (entry, else default), no inheritance."""
        for year, ratio in self.by_year:
            if year == label:
                return ratio
        return self.default

    def for_year(self, label: str) -> float | None:
        """The objective for the reporting year ``label``, inheritance included."""
        ratio = self.own(label)
        if ratio is None and self.inherited is not None:
            return self.inherited.for_year(label)
        return ratio

    def at(self, instant: float, timezone: str, year_start_month: int) -> float:
        """The objective in force at ``instant`` (its reporting year's)."""
        label = current_period("year", instant, timezone, year_start_month).label
        ratio = self.for_year(label)
        return DEFAULT_OBJECTIVE if ratio is None else ratio


Labels = tuple[tuple[str, str], ...]  # (name, value) pairs sorted by name


@dataclass(frozen=True)
class Target:
    name: str
    group: str
    type: str
    settings: Any = field(compare=True)
    interval: float
    timeout: float
    schedule: str
    objective: Objective
    failures_before_down: int
    probe_outside_hours: bool
    describe: str
    depends_on: tuple[str, ...] = ()  # parents: while one fails, this target is unreachable
    labels: Labels = ()  # metadata (site, owner...): its group's, then its own, by name


@dataclass(frozen=True)
class Group:
    name: str
    objective: Objective
    labels: Labels = ()


@dataclass(frozen=True)
class MaintenanceWindow:
    """A planned window from the config: one-off (start/end) or weekly."""

    targets: tuple[str, ...]
    groups: tuple[str, ...]
    all: bool
    reason: str
    start: float | None = None
    end: float | None = None
    weekly: tuple[WeeklyRange, ...] = ()


FIGURE_FAMILIES = (  # /metrics' figure families, without the availmon_ prefix, in order
    "uptime_ratio",
    "scheduled_seconds",
    "monitored_seconds",
    "downtime_seconds",
    "error_budget_remaining_seconds",
    "error_budget_seconds",
)
TARGET_EXTRAS = ("probes_total", "last_probe_timestamp_seconds", "target_info")


@dataclass(frozen=True)
class MetricsSpec:
    """Which series /metrics exports per target (the series budget).

    Groups always get every figure for every period; per target, by default, only what
    the shipped rules and dashboards read: the quarter's four figures and the year's
    uptime. At 100,000 targets each per-target sample is 100,000 series.
    """

    target_figures: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {
            "quarter": (
                "uptime_ratio",
                "scheduled_seconds",
                "downtime_seconds",
                "error_budget_remaining_seconds",
            ),
            "year": ("uptime_ratio",),
        }
    )
    target_extras: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Config:
    path: str
    timezone: str
    year_start_month: int
    unmonitored: str
    storage_path: str | None
    storage_url: str | None  # a PostgreSQL database instead of the SQLite file
    heartbeat: float
    listen_host: str
    listen_port: int
    schedules: Mapping[str, Schedule]
    groups: Mapping[str, Group]
    maintenance: tuple[MaintenanceWindow, ...]
    targets: tuple[Target, ...]
    unreachable: str = "down"  # reporting.unreachable: how time behind a failed parent counts
    witnesses: tuple[str, ...] = ()  # monitor.witnesses: when they fail, we are cut off
    isolated_when: int = 0  # how many witnesses must fail (0: no witnesses)
    metrics: MetricsSpec = field(default_factory=MetricsSpec)  # metrics: the series budget
    # reporting.minimum_coverage: below this share of scheduled time monitored, a figure is
    # "insufficient data", never met or MISSED.
    minimum_coverage: float = DEFAULT_MINIMUM_COVERAGE
    # reporting.baselines: reporting-year label -> group -> uptime typed in from before
    # availmon (shown as the previous period where nothing was recorded).
    baselines: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    title: str | None = None  # reporting.title: the organisation's name on its reports
    # reporting.vantage_quorum: how many of the vantages monitoring a target must see it
    # fail for the time to count as down (None: all of them).
    vantage_quorum: int | None = None

    def target(self, name: str) -> Target | None:
        return next((t for t in self.targets if t.name == name), None)

    def schedule_of(self, target: Target) -> Schedule:
        return self.schedules[target.schedule]


def parse_duration(value: object) -> float:
    """``500ms``, ``30s``, ``5m``, ``1h`` (or a bare number of seconds) -> seconds > 0."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30s, 5m or 500ms, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value) if -1e18 < value < 1e18 else math.inf
    elif isinstance(value, str) and (m := DURATION_RE.match(value)):
        seconds = float(m.group(1)) * UNITS[m.group(2)]
    else:
        raise ValueError(f"expected a duration like 30s, 5m or 500ms, got {_show(value)}")
    if not 0 < seconds <= 86400:
        raise ValueError(f"duration must be more than 0 and at most 24h, got {_show(value)}")
    return seconds


def parse_ratio(value: object, what: str = "objective") -> float:
    """``99%``, ``99.5 %`` or ``0.99`` -> a ratio in (0, 1]."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a percentage like 99% or a ratio like 0.99")
    ratio: float | None = None
    if isinstance(value, int | float):
        ratio = float(value) if -1e18 < value < 1e18 else math.inf
    elif isinstance(value, str):
        text = value.strip()
        try:
            # Decimal arithmetic: "99.9%" is 0.999, not 99.9 / 100 = 0.9990000000000001
            # (figures take the objective as the decimal it prints as).
            ratio = float(Decimal(text[:-1].strip()) / 100) if text.endswith("%") else float(text)
        except (ValueError, ArithmeticError):
            ratio = None
    if ratio is None or ratio != ratio:
        raise ValueError(
            f"{what} must be a percentage like 99% or a ratio like 0.99, got {_show(value)}"
        )
    if not 0 < ratio <= 1:
        hint = (
            f" (did you mean {value}%?)" if isinstance(value, int | float) and ratio <= 100 else ""
        )
        raise ValueError(f"{what} must be more than 0% and at most 100%, got {_show(value)}{hint}")
    return ratio


def parse_local_datetime(value: object, timezone: str) -> float:
    """ISO 8601 date-time (or its date written day first, ``15/05/2024 07:00``) -> epoch
    seconds; without an offset it is local time in ``timezone``."""
    expected = "expected a date-time like 2024-05-15T07:00 or 15/05/2024 07:00 (day first)"
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(day_first(value.strip()))
        except ValueError:
            raise ValueError(f"{expected}, got {_show(value)}") from None
    else:
        raise ValueError(f"{expected}, got {_show(value)}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(timezone))
    try:
        instant = dt.timestamp()
        # It must also be showable in local time, in reports and listings.
        if not 1900 <= datetime.fromtimestamp(instant, ZoneInfo(timezone)).year <= 9998:
            raise ValueError
    except (OverflowError, ValueError, OSError):
        raise ValueError(f"date-time out of range (years 1900-9998): {_show(value)}") from None
    return instant


def parse_listen(value: object) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` or ``[::1]:PORT``."""
    if not isinstance(value, str) or ":" not in value:
        raise ValueError(f"expected HOST:PORT like 0.0.0.0:{DEFAULT_PORT}, got {_show(value)}")
    host, _, port_text = value.rpartition(":")
    host = host.strip("[]")
    if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
        raise ValueError(f"port must be 1-65535, got {_show(port_text)}")
    return host or "0.0.0.0", int(port_text)


_show = show  # bounded in time and size, even for a "billion laughs" of YAML aliases


class _Problems:
    """Collects problems as ``file: path: message`` lines."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: list[str] = []

    def add(self, path: str, message: str) -> None:
        where = f"{self.file}: {path}: " if path else f"{self.file}: "
        self.lines.append((where + message).replace("\n", " "))

    def check(self, path: str, parse: Callable[[Any], Any], value: Any) -> Any:
        """``parse(value)``, recording a ValueError as a problem at ``path``."""
        try:
            return parse(value)
        except ScheduleError as exc:
            self.add(f"{path}.{exc.key}" if exc.key else path, exc.message)
        except ValueError as exc:
            self.add(path, str(exc))
        return None


def _mapping(problems: _Problems, path: str, value: object, allowed: set[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(path, f"expected a mapping, got {type(value).__name__}")
        return {}
    for key in value:
        if key not in allowed:
            problems.add(
                f"{path}.{key}" if path else str(key),
                "unknown key"
                + (_nearest(key, allowed) or f" (expected one of: {', '.join(sorted(allowed))})"),
            )
    return value


def _nearest(value: object, known: Iterable[str]) -> str:
    """`` (did you mean 'office'?)`` for the closest of ``known`` to a mistyped name, or ``""``."""
    close = difflib.get_close_matches(str(value), sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _declared(value: object) -> set[str]:
    """The names a ``schedules:`` or ``groups:`` mapping defines, broken ones included, so
    that a mistake in a definition is reported once, not again at every use of its name."""
    return {str(key) for key in _keys(value)}


def _list(problems: _Problems, path: str, value: object) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add(path, f"expected a list, got {type(value).__name__}")
        return []
    return value


def _names(problems: _Problems, path: str, value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else _list(problems, path, value)
    if not all(isinstance(item, str) for item in items):
        problems.add(path, "expected a list of names")
        return ()
    return tuple(items)


def load(
    path: str | os.PathLike[str], env: Mapping[str, str] | None = None, now: float | None = None
) -> Config:
    """Read and validate a config file; raise ConfigError listing every problem.

    ``now`` (default: the real clock) decides the current reporting year, which every
    year-by-year objective must cover.
    """
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{file}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{file}: cannot read: {exc}"]) from None
    try:
        raw = yaml.load(text, Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError([f"{file}: {where}not valid YAML: {problem}"]) from None
    except RecursionError:
        raise ConfigError([f"{file}: not valid YAML: nested too deeply"]) from None
    except ValueError as exc:  # e.g. an integer longer than Python will convert
        raise ConfigError([f"{file}: not valid YAML: {str(exc).splitlines()[0]}"]) from None
    return parse(raw, file, os.environ if env is None else env, now)


def parse(raw: object, file: str, env: Mapping[str, str], now: float | None = None) -> Config:
    """Validate an already-parsed YAML document (``now`` as in :func:`load`)."""
    problems = _Problems(file)
    if raw is None:
        raise ConfigError([f"{file}: file is empty (expected a mapping with a 'targets' list)"])
    if not isinstance(raw, dict):
        raise ConfigError(
            [
                f"{file}: expected a mapping with a 'targets' list at the top, "
                f"got {type(raw).__name__}"
            ]
        )
    top = _mapping(problems, "", raw, TOP_KEYS)

    timezone = top.get("timezone", "Europe/London")
    timezone = problems.check("timezone", _parse_timezone, timezone) or "Europe/London"

    reporting = _mapping(
        problems,
        "reporting",
        top.get("reporting"),
        {
            "year_start_month",
            "unmonitored",
            "unreachable",
            "minimum_coverage",
            "baselines",
            "title",
            "vantage_quorum",
        },
    )
    year_start_month = reporting.get("year_start_month", 1)
    if isinstance(year_start_month, bool) or year_start_month not in range(1, 13):
        problems.add("reporting.year_start_month", "expected a month number 1-12")
        year_start_month = 1
    unmonitored = reporting.get("unmonitored", "excluded")
    if unmonitored not in POLICIES:
        problems.add("reporting.unmonitored", f"expected one of {', '.join(POLICIES)}")
        unmonitored = "excluded"
    unreachable = reporting.get("unreachable", "down")
    if unreachable not in UNREACHABLE_POLICIES:
        problems.add("reporting.unreachable", f"expected one of {', '.join(UNREACHABLE_POLICIES)}")
        unreachable = "down"
    title = reporting.get("title")
    if title is not None and not (isinstance(title, str) and title.strip()):
        problems.add("reporting.title", "expected the organisation's name as text")
        title = None

    vantage_quorum = reporting.get("vantage_quorum", "all")
    if vantage_quorum in ("all", None):
        vantage_quorum = None
    elif (
        isinstance(vantage_quorum, bool)
        or not isinstance(vantage_quorum, int)
        or vantage_quorum < 1
    ):
        problems.add(
            "reporting.vantage_quorum",
            "expected all or a number 1 or more (how many of the vantages watching a target "
            f"must see it fail), got {_show(vantage_quorum)}",
        )
        vantage_quorum = None

    minimum_coverage = DEFAULT_MINIMUM_COVERAGE
    if "minimum_coverage" in reporting:
        minimum_coverage = (
            problems.check(
                "reporting.minimum_coverage",
                lambda v: parse_ratio(v, "minimum coverage"),
                reporting["minimum_coverage"],
            )
            or DEFAULT_MINIMUM_COVERAGE
        )

    storage = _mapping(problems, "storage", top.get("storage"), {"path", "url", "heartbeat"})
    storage_path = storage.get("path")
    if storage_path is not None and not (isinstance(storage_path, str) and storage_path):
        problems.add("storage.path", "expected a file path")
        storage_path = None
    elif storage_path is not None:
        storage_path = str(Path(file).parent / storage_path)
    storage_url = storage.get("url")
    # The URL is never echoed: it may carry a password.
    if storage_url is not None and not (isinstance(storage_url, str) and is_url(storage_url)):
        problems.add("storage.url", "expected a postgresql:// URL")
        storage_url = None
    elif storage_url is not None and storage_path is not None:
        problems.add("storage", "give path or url, not both")
    heartbeat = (
        problems.check("storage.heartbeat", parse_duration, storage.get("heartbeat", "15s")) or 15.0
    )

    listen_host, listen_port = problems.check(
        "listen", parse_listen, top.get("listen", f"0.0.0.0:{DEFAULT_PORT}")
    ) or ("0.0.0.0", DEFAULT_PORT)

    schedules = _parse_schedules(problems, top.get("schedules"), timezone)
    defaults = {
        **BUILTIN_DEFAULTS,
        **_mapping(problems, "defaults", top.get("defaults"), DEFAULT_KEYS),
    }
    objectives = _Objectives(
        problems, year_start_month, timezone, time.time() if now is None else now
    )
    global_objective = objectives.parse(
        "defaults.objective", defaults["objective"], Objective(DEFAULT_OBJECTIVE)
    ) or Objective(DEFAULT_OBJECTIVE)
    groups = _parse_groups(problems, top.get("groups"), global_objective, objectives)
    targets = _parse_targets(
        problems,
        top,
        defaults,
        schedules,
        _declared(top.get("schedules")),
        groups,
        _declared(top.get("groups")),
        global_objective,
        objectives,
        env,
    )
    target_names = set(_target_index(top.get("targets")))
    maintenance = _parse_maintenance(
        problems,
        top.get("maintenance"),
        timezone,
        target_names,
        set(groups) | _declared(top.get("groups")),
    )
    _check_dependencies(problems, top.get("targets"), targets)
    witnesses, isolated_when = _parse_monitor(problems, top.get("monitor"), target_names)
    metrics = _parse_metrics(problems, top.get("metrics"))
    baselines = _parse_baselines(
        problems,
        reporting.get("baselines"),
        year_start_month,
        set(groups) | _declared(top.get("groups")),
    )
    if "targets" not in top:
        problems.add("targets", "missing: list the targets to monitor")
    if problems.lines:
        raise ConfigError(problems.lines)
    return Config(
        path=file,
        timezone=timezone,
        year_start_month=year_start_month,
        unmonitored=unmonitored,
        storage_path=storage_path,
        storage_url=storage_url,
        heartbeat=heartbeat,
        listen_host=listen_host,
        listen_port=listen_port,
        schedules=schedules,
        groups=groups,
        maintenance=maintenance,
        targets=targets,
        unreachable=unreachable,
        witnesses=witnesses,
        isolated_when=isolated_when,
        metrics=metrics,
        minimum_coverage=minimum_coverage,
        baselines=baselines,
        title=title,
        vantage_quorum=vantage_quorum,
    )


def _parse_timezone(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected an IANA time zone name like Europe/London")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {_show(value)}") from None
    return value


def _parse_schedules(problems: _Problems, value: object, timezone: str) -> dict[str, Schedule]:
    schedules = {"always": always_schedule(timezone)}
    for name, spec in _mapping(problems, "schedules", value, set(_keys(value))).items():
        path = f"schedules.{name}"
        if name == "always" or not NAME_RE.match(str(name)):
            problems.add(
                path,
                "schedule names are letters, digits and ._- ('always' is built in), "
                f"got {_show(name)}",
            )
            continue
        spec = _mapping(problems, path, spec, {"timezone", "hours", "holidays", "closed"})
        if "hours" not in spec:
            problems.add(f"{path}.hours", 'missing: weekly hours like {mon-fri: "08:00-18:00"}')
            continue
        tz = problems.check(f"{path}.timezone", _parse_timezone, spec.get("timezone", timezone))
        ranges = problems.check(f"{path}.hours", parse_hours, spec["hours"])
        hol = _mapping(problems, f"{path}.holidays", spec.get("holidays"), {"country", "subdiv"})
        country, subdiv = hol.get("country"), hol.get("subdiv")
        if hol and not isinstance(country, str):
            problems.add(f"{path}.holidays.country", "expected a country code like GB")
            country = None
        if subdiv is not None and not isinstance(subdiv, str):
            problems.add(f"{path}.holidays.subdiv", "expected a subdivision code like ENG")
            subdiv = None

        def known(code: str, subdiv: str | None = subdiv) -> bool:
            check_holidays(code, subdiv)
            return True

        if country is not None and problems.check(f"{path}.holidays", known, country) is None:
            country = None
        closed = set()
        for i, day in enumerate(_list(problems, f"{path}.closed", spec.get("closed"))):
            parsed = problems.check(f"{path}.closed[{i}]", _parse_date, day)
            if parsed is not None:
                closed.add(parsed)
        if tz is not None and ranges is not None:
            schedule = problems.check(
                path,
                lambda fields: Schedule(**fields),
                {
                    "name": name,
                    "timezone": tz,
                    "ranges": ranges,
                    "holiday_country": country,
                    "holiday_subdiv": subdiv,
                    "closed": frozenset(closed),
                },
            )
            if schedule is not None:
                schedules[name] = schedule
    return schedules


def _parse_date(value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return parse_day(value)
        except PeriodError as exc:
            raise ValueError(f"{_show(value)}: {exc}") from None
    raise ValueError(
        f"expected a date like 2024-12-27 or 27/12/2024 (day first), got {_show(value)}"
    )


def _keys(value: object) -> Iterator[str]:
    return iter(value) if isinstance(value, dict) else iter(())


_YEAR_RE = re.compile(r"([0-9]{4})(?:/([0-9]{2}))?")


def parse_year_label(key: object, year_start_month: int) -> str:
    """A reporting-year label from a YAML key (``2024`` may arrive as an int)."""
    fiscal = year_start_month != 1
    example = "2024/25" if fiscal else "2024"
    expected = (
        f"expected default or a reporting year like {example} "
        f"(reporting.year_start_month is {year_start_month})"
    )
    if isinstance(key, bool) or not isinstance(key, int | str):
        raise ValueError(f"{expected}, got {_show(key)}")
    text = str(key).strip()
    m = _YEAR_RE.fullmatch(text)
    if not m:
        raise ValueError(f"{expected}, got {_show(key)}")
    year = int(m.group(1))
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"year {year} is outside {MIN_YEAR}-{MAX_YEAR}")
    if fiscal and m.group(2) is None:
        raise ValueError(
            f"{expected}: financial years are written like {year}/"
            f"{(year + 1) % 100:02d}, got {_show(key)}"
        )
    if not fiscal and m.group(2) is not None:
        raise ValueError(f"{expected}: reporting years are calendar years, got {_show(key)}")
    if fiscal and m.group(2) != f"{(year + 1) % 100:02d}":
        raise ValueError(
            f"the financial year starting {year} is written "
            f"{year}/{(year + 1) % 100:02d}, got {_show(key)}"
        )
    return text


def _parse_baselines(
    problems: _Problems, value: object, year_start_month: int, groups: set[str]
) -> dict[str, dict[str, float]]:
    """``reporting.baselines: {2023/24: {network: 99.6%}}``: figures from before availmon."""
    baselines: dict[str, dict[str, float]] = {}
    if value is None:
        return baselines
    if not isinstance(value, dict):
        problems.add("reporting.baselines", "expected a mapping of reporting year to groups")
        return baselines
    for key, by_group in value.items():
        where = f"reporting.baselines.{key}"
        label = problems.check(where, lambda k: parse_year_label(k, year_start_month), key)
        if not isinstance(by_group, dict) or not by_group:
            problems.add(where, "expected group: uptime pairs, like network: 99.6%")
            continue
        ratios = {}
        for group, raw in by_group.items():
            if group not in groups:
                problems.add(f"{where}.{group}", f"unknown group{_nearest(group, groups)}")
                continue
            ratio = problems.check(
                f"{where}.{group}", lambda v: parse_ratio(v, "baseline uptime"), raw
            )
            if ratio is not None:
                ratios[str(group)] = ratio
        if label is not None:
            baselines[label] = ratios
    return baselines


class _Objectives:
    """Parses ``objective`` values, single or year by year, recording problems."""

    def __init__(
        self, problems: _Problems, year_start_month: int, timezone: str, now: float
    ) -> None:
        self.problems = problems
        self.year_start_month = year_start_month
        self.current: str | None
        try:
            self.current = current_period("year", now, timezone, year_start_month).label
        except PeriodError:
            self.current = None

    def parse(self, path: str, value: object, inherited: Objective) -> Objective | None:
        problems = self.problems
        if not isinstance(value, dict):
            ratio = problems.check(path, parse_ratio, value)
            return None if ratio is None else Objective(ratio)
        before = len(problems.lines)
        if not value:
            problems.add(path, "empty mapping: give default: and/or reporting years")
        default = None
        by_year: dict[str, float] = {}
        for key, raw in value.items():
            where = f"{path}.{key}"
            if key == "default":
                default = problems.check(where, parse_ratio, raw)
                continue
            label = problems.check(where, lambda k: parse_year_label(k, self.year_start_month), key)
            ratio = problems.check(where, parse_ratio, raw)
            if label is not None and label in by_year:
                problems.add(where, f"reporting year {label} is given twice")
            elif label is not None and ratio is not None:
                by_year[label] = ratio
        if (
            value
            and "default" not in value
            and self.current is not None
            and self.current not in by_year
            and len(problems.lines) == before
        ):
            problems.add(
                path,
                f"no objective for the current reporting year {self.current}: "
                f"add {self.current}: or default:",
            )
        if len(problems.lines) != before:
            return None
        return Objective(
            default, tuple(sorted(by_year.items())), None if default is not None else inherited
        )


def _parse_groups(
    problems: _Problems, value: object, global_objective: Objective, objectives: _Objectives
) -> dict[str, Group]:
    groups: dict[str, Group] = {}
    for name, spec in _mapping(problems, "groups", value, set(_keys(value))).items():
        path = f"groups.{name}"
        if not NAME_RE.match(str(name)):
            problems.add(path, f"group names are letters, digits and ._-, got {_show(name)}")
            continue
        spec = _mapping(problems, path, spec, {"objective", "labels"})
        objective: Objective | None = global_objective
        if "objective" in spec:
            objective = objectives.parse(f"{path}.objective", spec["objective"], global_objective)
        labels = _parse_labels(problems, f"{path}.labels", spec.get("labels"))
        if objective is not None:
            groups[str(name)] = Group(name=str(name), objective=objective, labels=labels)
    return groups


def _parse_labels(problems: _Problems, path: str, value: object) -> Labels:
    """``labels: {site: Depot, owner: networks}``: metadata exported on availmon_target_info
    and shown in reports; values are text (a number is taken as written)."""
    labels: dict[str, str] = {}
    for key, text in _mapping(problems, path, value, set(_keys(value))).items():
        if not isinstance(key, str) or not LABEL_NAME_RE.match(key) or key.startswith("__"):
            problems.add(
                f"{path}.{key}",
                "label names are letters, digits and _, not starting with a digit or __",
            )
        elif key in RESERVED_LABELS:
            problems.add(
                f"{path}.{key}",
                f"{key!r} is already a label of every target series"
                f" (reserved: {', '.join(RESERVED_LABELS)})",
            )
        elif isinstance(text, bool) or not isinstance(text, (str, int, float)):
            problems.add(f"{path}.{key}", f"expected a text value, got {_show(text)}")
        else:
            labels[key] = str(text)
    return tuple(sorted(labels.items()))


def _parse_targets(
    problems: _Problems,
    top: Mapping[str, Any],
    defaults: Mapping[str, Any],
    schedules: Mapping[str, Schedule],
    schedule_names: set[str],
    groups: dict[str, Group],
    group_names: set[str],
    global_objective: Objective,
    objectives: _Objectives,
    env: Mapping[str, str],
) -> tuple[Target, ...]:
    targets: list[Target] = []
    seen: set[str] = set()
    for i, raw in enumerate(_list(problems, "targets", top.get("targets"))):
        path = f"targets[{i}]"
        if not isinstance(raw, dict):
            problems.add(path, f"expected a mapping, got {type(raw).__name__}")
            continue
        before = len(problems.lines)
        name = raw.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            problems.add(
                f"{path}.name",
                f"required: letters, digits and ._- (at most 128), got {_show(name)}",
            )
        elif name in seen:
            problems.add(f"{path}.name", f"duplicate target name {name!r}")
        else:
            seen.add(name)
            path = f"targets[{i}] ({name})"
        type_name = raw.get("type")
        if not isinstance(type_name, str) or type_name not in REGISTRY:
            problems.add(
                f"{path}.type",
                f"expected one of: {', '.join(REGISTRY)}, got {_show(type_name)}"
                + _nearest(type_name, REGISTRY),
            )
            continue
        implementation = probe_type(type_name)
        allowed = COMMON_TARGET_KEYS | implementation.keys
        _mapping(problems, path, raw, allowed)
        group = raw.get("group", "default")
        if isinstance(group, str) and group in group_names and group not in groups:
            pass  # its definition is broken, and reported there
        elif not isinstance(group, str) or not NAME_RE.match(group):
            problems.add(f"{path}.group", f"expected a group name, got {_show(group)}")
            group = ""
        elif group not in groups:
            if "groups" in top and group != "default":
                problems.add(
                    f"{path}.group",
                    f"unknown group {group!r}"
                    + (_nearest(group, group_names) or " (not under groups:)"),
                )
            else:
                groups[group] = Group(group, global_objective)
        merged = {**defaults, **{k: v for k, v in raw.items() if k in DEFAULT_KEYS}}
        interval = problems.check(f"{path}.interval", parse_duration, merged["interval"])
        timeout = problems.check(f"{path}.timeout", parse_duration, merged["timeout"])
        if interval is not None and timeout is not None and timeout >= interval:
            problems.add(
                f"{path}.timeout", f"must be less than the interval ({merged['interval']})"
            )
        schedule = merged["schedule"]
        if not isinstance(schedule, str) or (
            schedule not in schedules and schedule not in schedule_names
        ):
            problems.add(
                f"{path}.schedule",
                f"unknown schedule {_show(schedule)}{_nearest(schedule, schedules)}",
            )
        inherited = groups[group].objective if group in groups else global_objective
        objective: Objective | None = inherited
        if "objective" in raw:
            objective = objectives.parse(f"{path}.objective", raw["objective"], inherited)
        fbd = merged["failures_before_down"]
        if isinstance(fbd, bool) or not isinstance(fbd, int) or not 1 <= fbd <= 100:
            problems.add(f"{path}.failures_before_down", "expected a whole number 1-100")
        depends_on = _names(problems, f"{path}.depends_on", raw.get("depends_on"))
        own_labels = dict(_parse_labels(problems, f"{path}.labels", raw.get("labels")))
        inherited_labels = dict(groups[group].labels) if group in groups else {}
        labels = tuple(sorted({**inherited_labels, **own_labels}.items()))
        outside = merged["probe_outside_hours"]
        if not isinstance(outside, bool):
            problems.add(f"{path}.probe_outside_hours", "expected true or false")
        try:
            settings = parse_settings(type_name, raw, env)
        except SettingError as exc:
            problems.add(f"{path}.{exc.key}", exc.message)
            continue
        if len(problems.lines) == before and isinstance(name, str) and objective is not None:
            targets.append(
                Target(
                    name=name,
                    group=group,
                    type=type_name,
                    settings=settings,
                    interval=interval,
                    timeout=timeout,
                    schedule=schedule,
                    objective=objective,
                    failures_before_down=fbd,
                    probe_outside_hours=outside,
                    describe=implementation.describe(settings),
                    depends_on=depends_on,
                    labels=labels,
                )
            )
    return tuple(targets)


def _target_index(raw: object) -> dict[str, int]:
    """Each target name in the raw ``targets:`` list and its position, broken targets
    included (a mistake in a target is reported once, not at every use of its name)."""
    return {
        item["name"]: i
        for i, item in enumerate(raw if isinstance(raw, list) else [])
        if isinstance(item, dict) and isinstance(item.get("name"), str)
    }


def _check_dependencies(problems: _Problems, raw: object, targets: Sequence[Target]) -> None:
    """Every parent is a configured target other than the child, and no chain of
    ``depends_on`` comes back to where it started (the cycle is named)."""
    index = _target_index(raw)
    known = set(index)
    parents = {t.name: [p for p in t.depends_on if p in known and p != t.name] for t in targets}
    for t in targets:
        where = f"targets[{index.get(t.name, '?')}] ({t.name}).depends_on"
        for parent in t.depends_on:
            if parent == t.name:
                problems.add(where, "a target cannot depend on itself")
            elif parent not in known:
                problems.add(where, f"unknown target {_show(parent)}{_nearest(parent, known)}")
    cycle = dependency_cycle(parents)
    if cycle:
        problems.add("targets", "depends_on goes round in a cycle: " + " -> ".join(cycle))


def dependency_cycle(parents: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle in the parent graph as ``[a, b, ..., a]``, or None (iterative DFS)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in parents:
        if root in state:
            continue
        path: list[str] = []
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(parents.get(root, ())))]
        state[root] = 1
        path.append(root)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state.get(child) == 1:
                return [*path[path.index(child) :], child]
            elif child not in state:
                state[child] = 1
                path.append(child)
                stack.append((child, iter(parents.get(child, ()))))
    return None


def _parse_monitor(
    problems: _Problems, value: object, known: set[str]
) -> tuple[tuple[str, ...], int]:
    """``monitor: {witnesses: [...], isolated_when: all | N}`` -> (witnesses, quorum);
    ``known``: the target names defined."""
    spec = _mapping(problems, "monitor", value, {"witnesses", "isolated_when"})
    witnesses = _names(problems, "monitor.witnesses", spec.get("witnesses"))
    for name in witnesses:
        if name not in known:
            problems.add(
                "monitor.witnesses", f"unknown target {_show(name)}{_nearest(name, known)}"
            )
    if len(set(witnesses)) != len(witnesses):
        problems.add("monitor.witnesses", "a witness is listed twice")
    when = spec.get("isolated_when", "all")
    if "isolated_when" in spec and not witnesses:
        problems.add("monitor.isolated_when", "needs monitor.witnesses")
    if when == "all":
        return witnesses, len(witnesses)
    if isinstance(when, bool) or not isinstance(when, int) or not 1 <= when <= len(witnesses):
        problems.add(
            "monitor.isolated_when",
            f"expected all or a number 1-{len(witnesses)} (how many witnesses must fail), "
            f"got {_show(when)}",
        )
        return witnesses, len(witnesses)
    return witnesses, when


def _parse_metrics(problems: _Problems, value: object) -> MetricsSpec:
    """``metrics: {target_figures: {period: [family, ...] | all}, target_extras: [...]}``."""
    spec = _mapping(problems, "metrics", value, {"target_figures", "target_extras"})
    figures = MetricsSpec().target_figures
    if "target_figures" in spec:
        figures = {}
        raw = _mapping(
            problems, "metrics.target_figures", spec["target_figures"], set(LIVE_PERIODS)
        )
        for period, families in raw.items():
            path = f"metrics.target_figures.{period}"
            names = FIGURE_FAMILIES if families == "all" else _names(problems, path, families)
            for name in names:
                if name not in FIGURE_FAMILIES:
                    problems.add(
                        path,
                        f"unknown figure {_show(name)} "
                        f"(expected all or some of: {', '.join(FIGURE_FAMILIES)})",
                    )
            figures[period] = tuple(name for name in FIGURE_FAMILIES if name in names)
    extras = _names(problems, "metrics.target_extras", spec.get("target_extras"))
    for name in extras:
        if name not in TARGET_EXTRAS:
            problems.add(
                "metrics.target_extras",
                f"unknown series {_show(name)} (expected some of: {', '.join(TARGET_EXTRAS)})",
            )
    return MetricsSpec(figures, frozenset(extras))


def _parse_maintenance(
    problems: _Problems, value: object, timezone: str, targets: set[str], groups: set[str]
) -> tuple[MaintenanceWindow, ...]:
    windows = []
    for i, spec in enumerate(_list(problems, "maintenance", value)):
        path = f"maintenance[{i}]"
        spec = _mapping(
            problems, path, spec, {"targets", "groups", "all", "start", "end", "weekly", "reason"}
        )
        if not spec:
            continue
        before = len(problems.lines)
        names = _names(problems, f"{path}.targets", spec.get("targets"))
        for name in names:
            if name not in targets:
                problems.add(f"{path}.targets", f"unknown target {name!r}{_nearest(name, targets)}")
        group_names = _names(problems, f"{path}.groups", spec.get("groups"))
        for name in group_names:
            if name not in groups:
                problems.add(f"{path}.groups", f"unknown group {name!r}{_nearest(name, groups)}")
        everything = spec.get("all", False)
        if not isinstance(everything, bool):
            problems.add(f"{path}.all", "expected true or false")
        elif not (names or group_names or everything):
            problems.add(path, "say what it applies to: targets, groups or all: true")
        reason = spec.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            problems.add(f"{path}.reason", "required: why the window exists")
        start = end = None
        weekly: tuple[WeeklyRange, ...] = ()
        if "weekly" in spec:
            if "start" in spec or "end" in spec:
                problems.add(path, "give either weekly or start/end, not both")
            weekly = problems.check(f"{path}.weekly", parse_weekly, spec["weekly"]) or ()
        elif "start" in spec and "end" in spec:
            start = problems.check(
                f"{path}.start", lambda v: parse_local_datetime(v, timezone), spec["start"]
            )
            end = problems.check(
                f"{path}.end", lambda v: parse_local_datetime(v, timezone), spec["end"]
            )
            if start is not None and end is not None and end <= start:
                problems.add(f"{path}.end", "must be after start")
        else:
            problems.add(path, 'give start and end, or weekly like "tue 07:00-08:00"')
        if len(problems.lines) == before and isinstance(reason, str):
            windows.append(
                MaintenanceWindow(
                    targets=names,
                    groups=group_names,
                    all=everything,
                    reason=reason.strip(),
                    start=start,
                    end=end,
                    weekly=weekly,
                )
            )
    return tuple(windows)
