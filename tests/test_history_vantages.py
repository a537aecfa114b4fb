"""Two vantage points on one target: ``history.compute`` against hand arithmetic.

Tuesday 5 March 2024, schedule office mon-fri 08:00-18:00 Europe/London (GMT, no bank
holiday): 36 000 s scheduled.  Vantages ``a`` and ``b`` both probe ``web`` all day,
except that ``b`` is stopped 12:00-14:00.  Recorded:

* 09:00-10:00 both fail it                   -> down 3 600 (one incident, two records)
* 11:00-11:30 only ``a`` fails it            -> monitored, not down (all must agree)
* 12:30-13:00 ``a`` fails it, ``b`` stopped  -> down 1 800 (the only vantage watching)
* 15:00-16:00 ``b`` isolated, 15:00-15:05 ``a`` isolated too
                                             -> 300 s isolated, unmonitored
* 15:10-15:20 ``a`` fails it, ``b`` isolated -> down 600
* 16:30-17:00 only ``b`` fails it            -> monitored, not down
"""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import yaml

from monitor import config as config_mod
from monitor import report
from monitor.figures import history
from monitor.figures.history import History
from monitor.figures.periods import parse_period
from monitor.store import CoverageSpan, Isolation, Outage
from tests.support import availmon

TZ = ZoneInfo("Europe/London")
CONFIG = """
timezone: Europe/London
schedules:
  office: {hours: {mon-fri: "08:00-18:00"}}
defaults: {schedule: office, objective: 99%}
groups:
  systems: {objective: 99%}
targets:
  - {name: web, type: http, url: "http://127.0.0.1:9/", group: systems}
"""


def at(clock: str) -> float:
    return datetime.fromisoformat(f"2024-03-05T{clock}").replace(tzinfo=TZ).timestamp()


def config(**reporting: object) -> config_mod.Config:
    raw = yaml.safe_load(CONFIG)
    raw["reporting"] = reporting
    return config_mod.parse(raw, "targets.yaml", {})


def outage(id_: int, vantage: str, start: str, end: str, state: str = "down") -> Outage:
    return Outage(
        id_, "web", at(start), at(end), "timeout", "detected", False, None,
        state=state, parent="router" if state == "unreachable" else None, vantage=vantage,
    )  # fmt: skip


def span(vantage: str, start: str, end: str) -> CoverageSpan:
    return CoverageSpan("web", at(start), at(end), False, vantage=vantage)


OUTAGES = (
    outage(1, "a", "09:00", "10:00"),
    outage(2, "b", "09:00", "10:00"),
    outage(3, "a", "11:00", "11:30"),
    outage(4, "a", "12:30", "13:00"),
    outage(5, "a", "15:10", "15:20"),
    outage(6, "b", "16:30", "17:00"),
)
COVERAGE = (
    span("a", "00:00", "23:59"),
    span("b", "00:00", "12:00"),
    span("b", "14:00", "23:59"),
)
ISOLATIONS = (
    Isolation(1, at("15:00"), at("16:00"), ("gateway",), vantage="b"),
    Isolation(2, at("15:00"), at("15:05"), ("gateway",), vantage="a"),
)


def recorded(outages=OUTAGES, coverage=COVERAGE, isolations=ISOLATIONS) -> History:
    cfg = config()
    day = parse_period("2024-03-05", "Europe/London", 1)
    return History(
        targets=cfg.targets,
        period=day,
        now=day.end,
        outages={"web": tuple(outages)},
        coverage={"web": tuple(coverage)},
        maintenance=(),
        isolations=tuple(isolations),
    )


def test_two_vantages_count_only_what_all_watching_agree_on():
    figures = history.compute(config(), recorded())
    f = figures.targets[0].figures
    assert f.scheduled_seconds == 36_000
    assert f.monitored_seconds == 36_000 - 300  # both isolated 15:00-15:05
    assert f.isolated_seconds == 300
    assert f.downtime_seconds == 3_600 + 1_800 + 600
    assert f.uptime_ratio == float(1 - Fraction(6_000, 35_700))
    # 09:00 is one incident seen from two places; 11:00 and 16:30 count nothing.
    assert (f.outages, f.longest_outage_seconds) == (3, 3_600)
    assert figures.outage_downtimes == {1: 3_600, 2: 3_600, 3: 0, 4: 1_800, 5: 600, 6: 0}


def test_quorum_one_counts_what_either_saw():
    f = history.compute(config(vantage_quorum=1), recorded()).targets[0].figures
    assert f.monitored_seconds == 35_700
    assert f.downtime_seconds == 3_600 + 1_800 + 1_800 + 600 + 1_800
    assert (f.outages, f.longest_outage_seconds) == (5, 3_600)


def test_quorum_two_with_one_vantage_stopped_counts_the_other():
    """Quorum 2 of two is "all"; with b stopped, a alone must (and does) agree."""
    f = history.compute(config(vantage_quorum=2), recorded()).targets[0].figures
    assert f.downtime_seconds == 6_000


def test_an_isolation_removes_only_its_own_vantage():
    """Without b's isolation both watch 15:10-15:20 and only a failed it: not down; a's
    own 5 minutes stay isolated only if no one else watched -- b did."""
    f = history.compute(config(), recorded(isolations=ISOLATIONS[1:])).targets[0].figures
    assert f.downtime_seconds == 3_600 + 1_800
    assert (f.monitored_seconds, f.isolated_seconds) == (36_000, 0)


def test_down_if_any_agreeing_vantage_saw_it_down_on_its_own():
    """09:00-10:00 a saw web behind a failed router; b saw it behind the router until
    09:30, then down on its own: 09:00-09:30 unreachable, 09:30-10:00 down."""
    outages = (
        outage(1, "a", "09:00", "10:00", "unreachable"),
        outage(2, "b", "09:00", "09:30", "unreachable"),
        outage(3, "b", "09:30", "10:00"),
    )
    cfg = config()
    f = history.compute(cfg, recorded(outages, isolations=())).targets[0].figures
    assert (f.downtime_seconds, f.unreachable_seconds) == (3_600, 1_800)
    assert (f.outages, f.longest_outage_seconds) == (1, 3_600)
    hidden = history.compute(config(unreachable="unmonitored"), recorded(outages, isolations=()))
    f = hidden.targets[0].figures
    assert (f.downtime_seconds, f.unreachable_seconds, f.monitored_seconds) == (
        1_800,
        1_800,
        36_000 - 1_800,
    )


@pytest.mark.parametrize("name", ["", "host-1"])
def test_one_vantage_named_or_not_is_the_single_monitor(name):
    """One instance's history, whatever its vantage is called, and history from before
    vantages were named beside it: figures as with one unnamed monitor."""
    named = [dataclasses.replace(o, vantage=name) for o in OUTAGES[::2]]
    older = [dataclasses.replace(s, vantage="") for s in COVERAGE[:1]]
    mine = [dataclasses.replace(i, vantage=name) for i in ISOLATIONS]
    f = history.compute(config(), recorded(named, older, mine)).targets[0].figures
    plain = [dataclasses.replace(o, vantage="") for o in OUTAGES[::2]]
    legacy = [dataclasses.replace(i, vantage="") for i in ISOLATIONS]
    assert f == history.compute(config(), recorded(plain, older, legacy)).targets[0].figures
    # a's outages 09:00 (3 600), 11:00 (1 800) and 15:10 (cut to nothing: isolated 15:00-16:00).
    assert (f.downtime_seconds, f.isolated_seconds) == (5_400, 3_600)


# ---------------------------------------------------------------- reporting.vantage_quorum


@pytest.mark.parametrize(("value", "quorum"), [(1, 1), (3, 3), ("all", None), (None, None)])
def test_vantage_quorum_is_read(value, quorum):
    assert config(vantage_quorum=value).vantage_quorum == quorum
    assert config().vantage_quorum is None  # absent: every vantage watching must agree


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "two", "any", [2]])
def test_bad_vantage_quorum_is_one_line(value):
    with pytest.raises(config_mod.ConfigError) as info:
        config(vantage_quorum=value)
    assert info.value.problems == [
        "targets.yaml: reporting.vantage_quorum: expected all or a number 1 or more (how "
        f"many of the vantages watching a target must see it fail), got {value!r}"
    ]


@pytest.mark.slow
def test_check_refuses_a_bad_vantage_quorum(tmp_path):
    raw = yaml.safe_load(CONFIG)
    raw["reporting"] = {"vantage_quorum": 0}
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump(raw))
    bad = availmon("check", "-c", str(path))
    assert bad.returncode == 2
    assert bad.stderr == (
        f"availmon: error: {path}: reporting.vantage_quorum: expected all or a number 1 or "
        "more (how many of the vantages watching a target must see it fail), got 0\n"
    )
    raw["reporting"] = {"vantage_quorum": 2}
    path.write_text(yaml.safe_dump(raw))
    good = availmon("check", "-c", str(path))
    assert good.returncode == 0, good.stderr


# ---------------------------------------------------------------- reports


def test_reports_name_the_vantage_of_each_outage():
    doc = report.gather(config(), recorded())
    assert [(o["id"], o["vantage"], o["downtime_seconds"]) for o in doc["outages"]] == [
        (1, "a", 3600), (2, "b", 3600), (3, "a", 0), (4, "a", 1800), (5, "a", 600), (6, "b", 0),
    ]  # fmt: skip
    assert [i["vantage"] for i in doc["isolations"]] == ["b", "a"]
    assert (doc["basis"]["vantages"], doc["basis"]["vantage_quorum"]) == (["a", "b"], None)

    text = report.render(doc, "text").decode()
    header = next(line for line in text.splitlines() if line.startswith("ID  TARGET"))
    assert header.split()[:4] == ["ID", "TARGET", "VANTAGE", "START"]
    assert "Figures combine 2 vantages (a, b): a second is monitored" in text
    assert "down only when all of the vantages monitoring it then saw it fail;" in text
    assert "A vantage was isolated 2 time(s), for 1:00:00 of working hours" in text
    quorum = report.render(report.gather(config(vantage_quorum=1), recorded()), "text").decode()
    assert "at least 1 of the vantages monitoring it then saw it fail (all of them" in quorum

    rows = list(csv.reader(io.StringIO(report.render(doc, "csv", "outages").decode("utf-8-sig"))))
    assert rows[0][:4] == ["period", "id", "target", "vantage"]
    assert [r[3] for r in rows[1:]] == ["a", "b", "a", "a", "a", "b"]

    html = report.render(doc, "html").decode()
    assert "<th>Target</th><th>Vantage</th><th>Start</th>" in html
    assert '<td class="name">web</td><td class="name">b</td>' in html

    sheet = openpyxl.load_workbook(io.BytesIO(report.render(doc, "xlsx")))["Outages"]
    header = [c.value for c in sheet[1]]
    column = header.index(next(h for h in header if h.lower() == "vantage"))
    assert [r[column] for r in sheet.iter_rows(min_row=2, values_only=True)] == [
        "a", "b", "a", "a", "a", "b",
    ]  # fmt: skip


def test_one_named_vantage_reports_as_before():
    """One instance named host-1: no vantage column, key or sentence anywhere."""
    named = report.gather(
        config(),
        recorded(
            [dataclasses.replace(o, vantage="host-1") for o in OUTAGES[::2]],
            [dataclasses.replace(s, vantage="host-1") for s in COVERAGE[:1]],
            [dataclasses.replace(i, vantage="host-1") for i in ISOLATIONS],
        ),
    )
    plain = report.gather(
        config(),
        recorded(
            [dataclasses.replace(o, vantage="") for o in OUTAGES[::2]],
            [dataclasses.replace(s, vantage="") for s in COVERAGE[:1]],
            [dataclasses.replace(i, vantage="") for i in ISOLATIONS],
        ),
    )
    assert named == plain
    for fmt in ("text", "csv", "json", "html"):
        assert b"vantage" not in report.render(named, fmt).lower()
