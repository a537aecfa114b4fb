"""Issue 9: objectives by reporting year, several periods side by side, what-if schedules.

Fixed data (Europe/London, ``reporting.year_start_month: 4``), schedule ``office`` =
Mon-Fri 08:00-18:00 with NO holidays, so one working day is 10 h = 36 000 s and a year is
its weekdays x 36 000:

* 2023/24 = Sat 1 Apr 2023 .. Sun 31 Mar 2024: 366 days = 52 weeks (to Fri 29 Mar) + a
  weekend -> 260 weekdays = 9 360 000 s.
* 2024/25 = Mon 1 Apr 2024 .. Mon 31 Mar 2025: 365 days = 52 weeks + Mon 31 Mar
  -> 261 weekdays = 9 396 000 s.
* calendar 2024 = Mon 1 Jan .. Tue 31 Dec: 366 days = 52 weeks + Mon 30, Tue 31 Dec
  -> 262 weekdays = 9 432 000 s.
* 2024/25-Q1 = Apr-Jun 2024: 22 + 23 + 20 = 65 weekdays = 2 340 000 s.

Objectives: group ``systems`` {default: 99%, 2023/24: 99.3%, 2024/25: 99.5%}; ``web``
names none (the group's, year by year); ``mail`` names only {2024/25: 99.9%}, no
default, so every other year falls back to the group's (the documented decision).

The daemon ran (both targets, inside working hours only) one week in each financial year:
Mon 5 - Fri 9 June 2023 and Mon 3 - Fri 7 June 2024: 5 x 36 000 = 180 000 s monitored.
``web`` was down 18 minutes (1 080 s) in each of those weeks; ``mail`` never.
So web's uptime is 1 - 1 080 / 180 000 = 0.994 in each year: met against 99.3% (2023/24),
missed against 99.5% (2024/25).
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from monitor import config as config_mod
from monitor import report
from monitor.config import ConfigError, Objective
from monitor.daemon import Monitor
from monitor.figures import history
from monitor.figures.periods import LIVE_PERIODS, current_period, parse_period, previous_period
from monitor.metrics import DaemonStatus, build_registry, exposition
from monitor.probes.base import ProbeResult
from monitor.scheduling import in_hours
from monitor.store import Store, open_store
from tests.support import FakeClock, at, availmon

ROOT = Path(__file__).resolve().parent.parent
LONDON = ZoneInfo("Europe/London")
DAY = 36_000


LOADED = at("2024-06-15T12:00")  # when the config was checked: in 2024/25
NOW = at("2025-05-01T12:00")  # when the reports are made: both years have ended

CONFIG = {
    "timezone": "Europe/London",
    "reporting": {"year_start_month": 4},
    "defaults": {"schedule": "office", "objective": "99%"},
    "schedules": {"office": {"hours": {"mon-fri": "08:00-18:00"}}},
    "groups": {
        "systems": {"objective": {"default": "99%", "2023/24": "99.3%", "2024/25": "99.5%"}}
    },
    "targets": [
        {"name": "web", "group": "systems", "type": "tcp", "host": "127.0.0.1", "port": 80},
        {
            "name": "mail",
            "group": "systems",
            "type": "tcp",
            "host": "127.0.0.1",
            "port": 25,
            "objective": {"2024/25": "99.9%"},
        },
    ],
}


def make_config(raw: dict = CONFIG, now: float = LOADED) -> config_mod.Config:
    return config_mod.parse(raw, "targets.yaml", {}, now=now)


def build_store(path: Path) -> Store:
    store = open_store(path)
    names = [("web", False), ("mail", False)]
    for monday, saturday, down in (
        ("2023-06-05", "2023-06-10", "2023-06-06"),
        ("2024-06-03", "2024-06-08", "2024-06-04"),
    ):
        store.begin_coverage(names, at(f"{monday}T00:00"))
        store.end_coverage(None, at(f"{saturday}T00:00"))
        outage = store.insert_outage(
            "web", at(f"{down}T10:00"), "connection refused", at(f"{down}T10:00")
        )
        store.close_outage(outage, at(f"{down}T10:18"))
    return store


@pytest.fixture
def config() -> config_mod.Config:
    return make_config()


@pytest.fixture
def store(tmp_path):
    s = build_store(tmp_path / "availmon.db")
    yield s
    s.close()


def single(config, store, label: str, now: float = NOW, what_if: str | None = None) -> dict:
    period = parse_period(label, config.timezone, config.year_start_month)
    return report.gather(
        config, history.load(store, config.targets, period, now), what_if_schedule=what_if
    )


def many(config, store, labels: list[str], now: float = NOW, what_if: str | None = None):
    periods = [parse_period(label, config.timezone, config.year_start_month) for label in labels]
    recorded = [history.load(store, config.targets, p, now) for p in periods]
    return report.gather_many(config, recorded, what_if_schedule=what_if)


def by_name(items: list[dict]) -> dict[str, dict]:
    return {i["name"]: i for i in items}


# ------------------------------------------------------------------ the Objective value


def test_objective_precedence_and_fallback(config):
    web, mail = config.target("web").objective, config.target("mail").objective
    group = config.groups["systems"].objective
    assert web is group  # a target naming no objective has its group's
    assert [web.for_year(y) for y in ("2022/23", "2023/24", "2024/25")] == [0.99, 0.993, 0.995]
    # mail's mapping has no default: the years it does not name are the group's.
    assert mail == Objective(None, (("2024/25", 0.999),), group)
    assert [mail.for_year(y) for y in ("2022/23", "2023/24", "2024/25")] == [0.99, 0.993, 0.999]
    # A default (or a single value) replaces the inherited objective for every year.
    raw = yaml.safe_load(json.dumps(CONFIG))
    raw["targets"][1]["objective"] = {"default": "98%", "2024/25": "99.9%"}
    assert make_config(raw).target("mail").objective.for_year("2023/24") == 0.98
    # The year in force at an instant: 31 March 2025 is 2024/25, 1 April 2025 is 2025/26.
    assert web.at(at("2025-03-31T23:59"), "Europe/London", 4) == 0.995
    assert web.at(at("2025-04-01T00:00"), "Europe/London", 4) == 0.99


def test_calendar_reporting_year_labels():
    raw = yaml.safe_load(json.dumps(CONFIG))
    raw["reporting"]["year_start_month"] = 1
    raw["groups"]["systems"]["objective"] = {2023: "99.3%", "2024": "99.5%"}  # YAML ints too
    raw["targets"][1]["objective"] = "99.9%"
    config = make_config(raw)
    assert config.groups["systems"].objective == Objective(
        None, (("2023", 0.993), ("2024", 0.995)), Objective(0.99)
    )
    assert config.target("web").objective.at(at("2024-01-01T00:00"), "Europe/London", 1) == 0.995


@pytest.mark.parametrize(
    ("year_start_month", "objective", "expected"),
    [
        (
            4,
            {"default": "99%", 2024: "99.5%"},
            "targets[0] (web).objective.2024: expected default or a reporting year like 2024/25",
        ),
        (
            4,
            {"default": "99%", "2023/25": "99.5%"},
            "targets[0] (web).objective.2023/25: "
            "the financial year starting 2023 is written 2023/24",
        ),
        (
            1,
            {"default": "99%", "2023/24": "99.5%"},
            "targets[0] (web).objective.2023/24: expected default or a reporting year like 2024",
        ),
        (
            4,
            {"default": "99%", "next year": "99.5%"},
            "targets[0] (web).objective.next year: expected default or a reporting year",
        ),
        (
            4,
            {"default": "99%", "2024/25": "101%"},
            "targets[0] (web).objective.2024/25: objective must be more than 0% and at most 100%",
        ),
        (4, {"default": "lots"}, "targets[0] (web).objective.default: objective must be"),
        (
            4,
            {"2023/24": "99.3%"},
            "targets[0] (web).objective: no objective for the current reporting year 2024/25",
        ),
        (4, {}, "targets[0] (web).objective: empty mapping"),
    ],
)
def test_check_rejects_bad_objective_mappings(year_start_month, objective, expected):
    raw = yaml.safe_load(json.dumps(CONFIG))
    raw["reporting"]["year_start_month"] = year_start_month
    raw["groups"]["systems"]["objective"] = "99%"
    raw["targets"][1]["objective"] = "99%"
    raw["targets"][0]["objective"] = objective
    with pytest.raises(ConfigError) as info:
        make_config(raw)
    assert len(info.value.problems) == 1, info.value.problems
    assert info.value.problems[0].startswith(f"targets.yaml: {expected}")


def test_check_missing_current_year_depends_on_now():
    raw = yaml.safe_load(json.dumps(CONFIG))
    raw["defaults"]["objective"] = {"2023/24": "99.3%", "2024/25": "99.5%"}
    raw["groups"]["systems"]["objective"] = raw["targets"][1]["objective"] = "99%"
    make_config(raw, now=at("2025-03-31T23:59"))  # still 2024/25: fine
    with pytest.raises(ConfigError) as info:
        make_config(raw, now=at("2025-04-01T00:00"))
    assert info.value.problems == [
        "targets.yaml: defaults.objective: no objective for the current reporting year "
        "2025/26: add 2025/26: or default:"
    ]


@pytest.mark.slow
def test_check_command_one_line_exit_2(tmp_path):
    raw = yaml.safe_load(json.dumps(CONFIG))
    raw["targets"][0]["objective"] = {"default": "99%", 2024: "99.5%"}
    raw["targets"][1]["objective"] = "99.9%"
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    result = availmon("check", "-c", str(path))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(
        f"availmon: error: {path}: targets[0] (web).objective.2024: expected default or a "
        "reporting year like 2024/25"
    )


# ------------------------------------------------------------------ hand-computed reports


def test_two_financial_years_with_different_objectives(config, store):
    first, second = single(config, store, "2023/24"), single(config, store, "2024/25")
    assert first["basis"]["objective_year"] == "2023/24"
    assert second["basis"]["objective_year"] == "2024/25"
    w1, w2 = by_name(first["targets"])["web"], by_name(second["targets"])["web"]
    # Same outages each year: 1 - 1 080 / 180 000 = 0.994.
    assert w1["uptime_ratio"] == w2["uptime_ratio"] == pytest.approx(0.994)
    assert (w1["monitored_seconds"], w1["downtime_seconds"]) == (180_000, 1_080)
    # 2023/24: 0.994 >= 0.993 met; budget 0.7% x 9 360 000 = 65 520 - 1 080 = 64 440.
    assert (
        w1["objective"],
        w1["met"],
        w1["scheduled_seconds"],
        w1["error_budget_remaining_seconds"],
    ) == (0.993, True, 9_360_000, 64_440)
    # 2024/25: 0.994 < 0.995 missed; budget 0.5% x 9 396 000 = 46 980 - 1 080 = 45 900.
    assert (
        w2["objective"],
        w2["met"],
        w2["scheduled_seconds"],
        w2["error_budget_remaining_seconds"],
    ) == (0.995, False, 9_396_000, 45_900)
    # mail: never down (1.0). 2023/24 falls back to the group's 99.3%: 65 520 budget;
    # 2024/25 its own 99.9%: 0.1% x 9 396 000 = 9 396.
    m1, m2 = by_name(first["targets"])["mail"], by_name(second["targets"])["mail"]
    assert (m1["objective"], m1["met"], m1["error_budget_remaining_seconds"]) == (
        0.993,
        True,
        65_520,
    )
    assert (m2["objective"], m2["met"], m2["error_budget_remaining_seconds"]) == (
        0.999,
        True,
        9_396,
    )
    # The group: 1 - 1 080 / 360 000 = 0.997, against its own objective per year.
    # 2023/24: 0.7% x 18 720 000 = 131 040 - 1 080 = 129 960;
    # 2024/25: 0.5% x 18 792 000 = 93 960 - 1 080 = 92 880.
    g1, g2 = first["groups"][0], second["groups"][0]
    assert g1["uptime_ratio"] == g2["uptime_ratio"] == pytest.approx(0.997)
    assert (g1["objective"], g1["met"], g1["error_budget_remaining_seconds"]) == (
        0.993,
        True,
        129_960,
    )
    assert (g2["objective"], g2["met"], g2["error_budget_remaining_seconds"]) == (
        0.995,
        True,
        92_880,
    )
    text = report.render_text(second)
    # ... and every format states it; 50 h monitored of 2 610 scheduled is 1.91% coverage,
    # below the 90% minimum: the status is "insufficient data", never MISSED.
    assert re.search(r"^web +systems +99\.50% +99\.40% +1\.91% +insufficient data ", text, re.M)
    assert "in force at the start of the period (reporting year 2024/25)" in text
    assert "(reporting year 2024/25)" in report.render_html(second)


@pytest.mark.parametrize("label", ["2024/25-Q1", "2024-Q2", "2024-06", "2024-06-04"])
def test_a_part_of_a_year_takes_its_years_objective(config, store, label):
    doc = single(config, store, label)
    web = by_name(doc["targets"])["web"]
    assert doc["basis"]["objective_year"] == "2024/25"
    assert (web["objective"], web["met"]) == (0.995, False)
    assert doc["groups"][0]["objective"] == 0.995


def test_quarter_budget(config, store):
    web = by_name(single(config, store, "2024/25-Q1")["targets"])["web"]
    # Apr-Jun 2024: 65 weekdays = 2 340 000 s; 0.5% = 11 700 - 1 080 = 10 620.
    assert (web["scheduled_seconds"], web["error_budget_remaining_seconds"]) == (2_340_000, 10_620)


def test_calendar_year_under_april_year_takes_the_year_it_starts_in(config, store):
    doc = single(config, store, "2024")
    # 2024-01-01 is in 2023/24, so 99.3% applies: the June 2024 week's 0.994 is met here,
    # though the same week is missed in the 2024/25 report.
    assert doc["basis"]["objective_year"] == "2023/24"
    web = by_name(doc["targets"])["web"]
    assert (web["objective"], web["met"]) == (0.993, True)
    assert web["uptime_ratio"] == pytest.approx(0.994)
    # 262 weekdays = 9 432 000 s; 0.7% = 66 024 - 1 080 = 64 944.
    assert (web["scheduled_seconds"], web["error_budget_remaining_seconds"]) == (9_432_000, 64_944)
    assert by_name(doc["targets"])["mail"]["objective"] == 0.993  # group's, via fallback


# ------------------------------------------------------------------ live objective


UP = ProbeResult(True, 0.01)

LIVE_CONFIG = {
    "timezone": "Europe/London",
    "reporting": {"year_start_month": 4},
    "defaults": {"interval": "5m", "timeout": "5s", "schedule": "office"},
    "schedules": {"office": {"hours": {"mon-fri": "08:00-18:00"}}},
    "groups": {"systems": {"objective": {"default": "99%", "2025/26": "99.9%"}}},
    "targets": [
        {
            "name": "web",
            "group": "systems",
            "type": "tcp",
            "host": "127.0.0.1",
            "port": 9,
            "objective": {"2024/25": "99.3%", "2025/26": "99.5%"},
        }
    ],
}


def _play(monitor: Monitor, clock: FakeClock, until: float) -> None:
    while clock.now < until:
        clock.now += 300
        for name, live in monitor.recorder.status.items():
            if in_hours(monitor.config, live.target, clock.now):
                monitor.recorder.record(name, UP, clock.now)
        monitor.heartbeat()
        monitor.maintain_totals()


def _samples(monitor: Monitor) -> dict:
    text = b"".join(exposition(monitor, build_registry(monitor, DaemonStatus()))).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def test_live_objective_switches_at_the_year_boundary(tmp_path):
    config = make_config(LIVE_CONFIG, now=at("2025-03-31T07:00"))
    store = open_store(tmp_path / "a.db")
    clock = FakeClock(at("2025-03-31T07:00"))  # Monday, the last day of 2024/25
    monitor = Monitor(config, store, clock)
    monitor.resume()
    web_key = (("group", "systems"), ("target", "web"))

    def budget(kind: str) -> float:
        return monitor.totals.snapshot(config, clock.now).target("web", kind).error_budget_remaining

    def group_budget(kind: str) -> float:
        return (
            monitor.totals.snapshot(config, clock.now).group("systems", kind).error_budget_remaining
        )

    _play(monitor, clock, at("2025-03-31T17:00"))
    samples = _samples(monitor)
    assert samples[("availmon_uptime_objective_ratio", web_key)] == 0.993
    assert samples[("availmon_group_uptime_objective_ratio", (("group", "systems"),))] == 0.99
    # No downtime. Day: 0.7% x 36 000 = 252; year 2024/25: 0.7% x 9 396 000 = 65 772.
    assert (budget("day"), budget("year")) == (252, 65_772)
    assert group_budget("day") == 360  # 1% x 36 000

    _play(monitor, clock, at("2025-04-01T12:00"))  # Tuesday, 2025/26
    samples = _samples(monitor)
    assert samples[("availmon_uptime_objective_ratio", web_key)] == 0.995
    assert samples[("availmon_group_uptime_objective_ratio", (("group", "systems"),))] == 0.999
    # Day: 0.5% x 36 000 = 180.  April 2025 (Tue 1 .. Wed 30): 4 + 5 + 5 + 5 + 3 = 22
    # weekdays -> 0.5% x 792 000 = 3 960.  Apr-Jun 2025: 22 + 22 (May: 2 + 4 x 5) + 21
    # (June: 4 x 5 + Mon 30) = 65 -> 0.5% x 2 340 000 = 11 700.  Year 2025/26 (Tue 1 Apr 2025
    # .. Tue 31 Mar 2026: 52 weeks + 1 Tuesday = 261 weekdays = 9 396 000 s): 46 980.
    # Group day: 0.1% x 36 000 = 36.
    assert (budget("day"), budget("month"), budget("quarter"), budget("year")) == (
        180,
        3_960,
        11_700,
        46_980,
    )
    assert group_budget("day") == 36
    # The week of Mon 31 March began in 2024/25 and keeps its objective, as its report
    # would: 5 days x 36 000 = 180 000 x 0.7% = 1 260.
    assert budget("week") == 1_260
    # Live figures equal the reports of the current periods, objectives included.
    monitor.heartbeat()
    snapshot = monitor.totals.snapshot(config, clock.now)
    for kind in LIVE_PERIODS:
        period = current_period(kind, clock.now, config.timezone, config.year_start_month)
        full = history.compute(config, history.load(store, config.targets, period, clock.now))
        for result in full.targets:
            assert snapshot.target(
                result.target.name, kind
            ).error_budget_remaining == pytest.approx(
                result.figures.error_budget_remaining_seconds, abs=1e-6
            )
        for group in full.groups:
            assert snapshot.group(group.name, kind).error_budget_remaining == pytest.approx(
                group.figures.error_budget_remaining_seconds, abs=1e-6
            )
    store.close()


# ------------------------------------------------------------------ several periods


LABELS = ["2023/24", "2024/25", "2024/25-Q1", "2024"]


def test_json_with_one_period_is_unchanged_and_several_are_a_list(config, store):
    assert many(config, store, ["2024/25"]) == single(config, store, "2024/25")
    doc = many(config, store, LABELS)
    assert list(doc) == ["reports"]
    assert doc["reports"] == [single(config, store, label) for label in LABELS]
    assert [d["period"]["label"] for d in json.loads(report.render_json(doc))["reports"]] == LABELS


def _cells(line: str) -> list[str]:
    return re.split(r" {2,}", line.strip())


def _expected_cells(config, store, key: str, name: str) -> list[str]:
    cells = []
    for label in LABELS:
        item = by_name(single(config, store, label)[key])[name]
        cells += [
            report.percent(item["uptime_ratio"]),
            report.percent(item["coverage_ratio"]),
            report.percent(item["objective"]),
            report.status(item),
        ]
    return cells


def test_text_side_by_side_agrees_with_single_reports(config, store):
    text = report.render(many(config, store, LABELS), "text").decode()
    lines = text.splitlines()
    assert lines[0] == "Availability scorecard 2023/24, 2024/25, 2024/25-Q1, 2024"
    for label in LABELS:
        assert any(line.startswith(f"- {label}: ") for line in lines)
    targets = lines.index("TARGETS")
    assert _cells(lines[targets + 1]) == LABELS  # the column-group headings, in order
    assert (
        _cells(lines[targets + 2])
        == ["TARGET", "GROUP"] + ["UPTIME", "COVERAGE", "OBJECTIVE", "STATUS"] * 4
    )
    for name in ("web", "mail"):
        row = next(line for line in lines[targets:] if line.startswith(name + " "))
        assert _cells(row) == [name, "systems", *_expected_cells(config, store, "targets", name)]
    groups = lines.index("GROUPS")
    row = next(line for line in lines[groups:] if line.startswith("systems "))
    assert _cells(row) == ["systems", *_expected_cells(config, store, "groups", "systems")]
    # Only 50 working hours are monitored: every period is below the minimum coverage, and
    # no budget is spent outright, so nothing is judged met or MISSED.
    assert _cells(row)[4::4] == ["insufficient data"] * 4
    web = next(line for line in lines[targets:] if line.startswith("web "))
    assert _cells(web)[5::4] == ["insufficient data"] * 4, web


def test_csv_side_by_side_is_the_single_reports_rows(config, store):
    doc = many(config, store, LABELS)
    for section in ("targets", "outages"):
        rows = report.render(doc, "csv", section).decode("utf-8-sig").splitlines()
        expected = []
        for label in LABELS:
            one = report.render(single(config, store, label), "csv", section)
            expected += one.decode("utf-8-sig").splitlines()[1:]
        assert rows[1:] == expected
    rows = list(csv.DictReader(io.StringIO(report.render_csv(doc))))
    assert [(r["period"], r["kind"], r["name"]) for r in rows] == [
        (label, kind, name)
        for label in LABELS
        for kind, name in (("group", "systems"), ("target", "web"), ("target", "mail"))
    ]


def test_xlsx_side_by_side_agrees_with_single_reports(config, store):
    doc = many(config, store, LABELS)
    book = openpyxl.load_workbook(io.BytesIO(report.render(doc, "xlsx")))
    assert book.sheetnames == ["Summary", "Scorecard", "Targets", "Outages", "Maintenance"]
    card = list(book["Scorecard"].iter_rows(values_only=True))
    assert [c for c in card[0] if c] == LABELS
    assert card[1] == ("kind", "name", "group", *report.SCORECARD_SUB * 4)
    singles = [single(config, store, label) for label in LABELS]
    for row in card[2:]:
        kind, name = row[0], row[1]
        key = "groups" if kind == "group" else "targets"
        expected = []
        for d in singles:
            item = by_name(d[key])[name]
            expected += [
                item["uptime_ratio"],
                item["coverage_ratio"],
                item["objective"],
                report.status(item),
            ]
        assert list(row[3:]) == expected, name
    assert len(card) == 2 + 3
    # The long form holds every single report's rows, to the second.
    targets = list(book["Targets"].iter_rows(values_only=True))
    long_rows = [
        {c: v for c, v in zip(targets[0], r, strict=True) if c in report.TARGET_COLUMNS}
        for r in targets[1:]
    ]
    expected_rows = [r for d in singles for r in report.target_rows(d)]
    assert long_rows == expected_rows
    summary = [r[:2] for r in book["Summary"].iter_rows(values_only=True)]
    assert ("Time zone", "Europe/London") in summary


class _Rows(HTMLParser):
    """Table rows as lists of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self.cell is not None:
            self.cell.append(data)


def test_html_side_by_side_agrees_with_single_reports(config, store):
    page = report.render(many(config, store, LABELS), "html").decode()
    parser = _Rows()
    parser.feed(page)
    assert ["Target", "Group", *LABELS] in parser.rows  # the column-group headings
    for name in ("web", "mail"):
        row = next(r for r in parser.rows if r and r[0] == name)
        assert row == [name, "systems", *_expected_cells(config, store, "targets", name)]
    row = next(r for r in parser.rows if r and r[0] == "systems")
    assert row == ["systems", *_expected_cells(config, store, "groups", "systems")]
    lowered = page.lower()
    for forbidden in ("http://", "https://", "src=", "<script", "<link", "url("):
        assert forbidden not in lowered, forbidden


# ------------------------------------------------------------------ what-if


WHAT_IF_CONFIG = {
    "timezone": "Europe/London",
    "reporting": {"year_start_month": 4},
    "defaults": {"schedule": "office"},
    "schedules": {"office": {"hours": {"mon-fri": "08:00-18:00"}}},
    "targets": [
        {
            "name": "night",
            "type": "tcp",
            "host": "127.0.0.1",
            "port": 80,
            "probe_outside_hours": True,
        },
        {"name": "dayonly", "type": "tcp", "host": "127.0.0.1", "port": 81},
    ],
}


@pytest.fixture
def what_if_setup(tmp_path):
    """Covered Mon 3 - Sat 8 June 2024 00:00; ``night`` probed at all hours, ``dayonly``
    only inside office hours.

    * night: down Tue 4 June 22:00-23:00 (outside office hours).
    * dayonly: an outage open across the night, Tue 4 June 17:00 -> Wed 5 June 09:00:
      it counts only while probed, 17:00-18:00 on the 4th and 08:00-09:00 on the 5th.
    """
    store = open_store(tmp_path / "w.db")
    store.begin_coverage([("night", True)], at("2024-06-03T00:00"))
    store.begin_coverage([("dayonly", False)], at("2024-06-03T00:00"))
    store.end_coverage(None, at("2024-06-08T00:00"))
    for target, start, end in (
        ("night", "2024-06-04T22:00", "2024-06-04T23:00"),
        ("dayonly", "2024-06-04T17:00", "2024-06-05T09:00"),
    ):
        outage = store.insert_outage(target, at(start), "refused", at(start))
        store.close_outage(outage, at(end))
    yield store
    store.close()


def what_if_config(policy: str = "excluded") -> config_mod.Config:
    raw = yaml.safe_load(json.dumps(WHAT_IF_CONFIG))
    raw["reporting"]["unmonitored"] = policy
    return make_config(raw)


def test_what_if_counts_a_probed_night_outage(what_if_setup):
    config = what_if_config()
    own = by_name(single(config, what_if_setup, "2024-06-04")["targets"])["night"]
    # Own schedule: 08:00-18:00 scheduled and monitored, the 22:00 outage is outside it.
    assert (
        own["scheduled_seconds"],
        own["monitored_seconds"],
        own["downtime_seconds"],
        own["uptime_ratio"],
    ) == (DAY, DAY, 0, 1.0)
    doc = single(config, what_if_setup, "2024-06-04", what_if="always")
    night = by_name(doc["targets"])["night"]
    # 24x7: 86 400 scheduled, all probed; 1 h down -> 1 - 3 600 / 86 400.
    assert (night["scheduled_seconds"], night["monitored_seconds"], night["downtime_seconds"]) == (
        86_400,
        86_400,
        3_600,
    )
    assert night["uptime_ratio"] == pytest.approx(1 - 3_600 / 86_400)
    assert [(o["target"], o["downtime_seconds"]) for o in doc["outages"]] == [
        ("dayonly", 3_600),
        ("night", 3_600),
    ]


@pytest.mark.parametrize(
    ("policy", "ratio"),
    [
        # scheduled 86 400 (24x7), monitored only 08:00-18:00 = 36 000 (never probed at night),
        # unmonitored 50 400, down 17:00-18:00 = 3 600 (the night part was never observed).
        ("excluded", 1 - 3_600 / 36_000),  # 0.9
        ("up", 1 - 3_600 / 86_400),  # 0.958...
        ("down", 1 - (3_600 + 50_400) / 86_400),  # 0.375
    ],
)
def test_what_if_never_counts_an_unprobed_night_as_up(what_if_setup, policy, ratio):
    config = what_if_config(policy)
    doc = single(config, what_if_setup, "2024-06-04", what_if="always")
    dayonly = by_name(doc["targets"])["dayonly"]
    assert (
        dayonly["scheduled_seconds"],
        dayonly["monitored_seconds"],
        dayonly["unmonitored_seconds"],
        dayonly["downtime_seconds"],
    ) == (86_400, DAY, 50_400, 3_600)
    assert dayonly["uptime_ratio"] == pytest.approx(ratio)
    own = by_name(single(config, what_if_setup, "2024-06-04")["targets"])["dayonly"]
    assert (own["unmonitored_seconds"], own["uptime_ratio"]) == (0, pytest.approx(0.9))


def test_what_if_is_labelled_in_every_format(what_if_setup):
    config = what_if_config()
    for doc in (
        single(config, what_if_setup, "2024-W23", what_if="always"),
        many(config, what_if_setup, ["2024-W23", "2024-06"], what_if="always"),
    ):
        singles = doc.get("reports", [doc])
        assert all(d["what_if_schedule"] == "always" for d in singles)
        assert json.loads(report.render(doc, "json")) == doc
        warning = "WHAT-IF: figures as if every target had schedule 'always'"
        assert warning in report.render(doc, "text").decode()
        assert warning in html.unescape(report.render(doc, "html").decode())
        rows = list(csv.DictReader(io.StringIO(report.render_csv(doc))))
        assert rows and {r["what_if_schedule"] for r in rows} == {"always"}
        rows = list(csv.DictReader(io.StringIO(report.render_csv(doc, "outages"))))
        assert rows and {r["what_if_schedule"] for r in rows} == {"always"}
        book = openpyxl.load_workbook(io.BytesIO(report.render(doc, "xlsx")))
        summary = [r[0] for r in book["Summary"].iter_rows(values_only=True)]
        assert "(WHAT-IF)" in summary[0] and any(
            isinstance(c, str) and c.startswith(warning) for c in summary
        )
    plain = single(config, what_if_setup, "2024-W23")
    assert plain["what_if_schedule"] is None
    assert "WHAT-IF" not in report.render(plain, "text").decode()
    assert {
        r["what_if_schedule"] for r in csv.DictReader(io.StringIO(report.render_csv(plain)))
    } == {""}


# ------------------------------------------------------------------ CLI


@pytest.fixture
def files(tmp_path):
    config_file = tmp_path / "targets.yaml"
    raw = yaml.safe_load(json.dumps(CONFIG))
    raw["targets"][1]["objective"] = {"default": "99.9%"}  # valid whatever today's year
    raw["groups"]["systems"]["objective"]["default"] = "99%"
    config_file.write_text(yaml.safe_dump(raw), encoding="utf-8")
    db = tmp_path / "availmon.db"
    build_store(db).close()
    return config_file, db, make_config(raw)


@pytest.mark.slow
def test_cli_several_periods_json(files, tmp_path):
    config_file, db, config = files
    result = availmon(
        "report",
        "-c",
        config_file,
        "--db",
        db,
        "--period",
        "2024/25",
        "--period",
        "2023/24",
        "--format",
        "json",
        "--schedule",
        "always",
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    store = open_store(db, create=False)
    try:
        expected = many(config, store, ["2024/25", "2023/24"], what_if="always")
    finally:
        store.close()
    for d in (*printed["reports"], *expected["reports"]):
        d.pop("generated_at")
    assert printed == json.loads(json.dumps(expected))
    assert [d["what_if_schedule"] for d in printed["reports"]] == ["always", "always"]


@pytest.mark.slow
def test_cli_years(files):
    config_file, db, _ = files
    result = availmon("report", "-c", config_file, "--db", db, "--years", "2", "--format", "json")
    assert result.returncode == 0, result.stderr
    labels = [d["period"]["label"] for d in json.loads(result.stdout)["reports"]]
    now = datetime.now(LONDON).timestamp()
    current = current_period("year", now, "Europe/London", 4)
    before = previous_period(current, "Europe/London", 4)
    assert labels == [
        previous_period(before, "Europe/London", 4).label,
        before.label,
        current.label,
    ]
    result = availmon("report", "-c", config_file, "--db", db, "--years", "1")
    assert result.returncode == 0 and result.stdout.startswith(
        f"Availability scorecard {before.label}, {current.label}"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--period", "2024/25", "--schedule", "nights"),
            "unknown schedule 'nights' (expected one of: always, office)",
        ),
        (("--period", "2024/25", "--years", "2"), "not more than one"),
        (
            ("--period", "2024/25", "--period", "2023/24", "--compare", "previous"),
            "--compare previous works with a single period",
        ),
        (("--years", "-1"), "--years must be a whole number 0-100"),
        (("--period", "2024/25", "--period", "2024-Q5"), "bad period '2024-Q5'"),
    ],
)
def test_cli_errors_one_line(files, args, message):
    config_file, db, _ = files
    result = availmon("report", *args, "-c", config_file, "--db", db)
    assert result.returncode == 2
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and message in result.stderr
