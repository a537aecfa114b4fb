"""Reports of a day with the monitor's own faults: an isolation and a router outage with a
target behind it.  The history is written by hand, the figures are worked out by hand."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from monitor import config as config_mod
from monitor import report
from monitor.figures.history import History
from monitor.figures.periods import parse_period
from monitor.store import CoverageSpan, Isolation, Outage

LONDON = ZoneInfo("Europe/London")


def at(hhmm: str) -> float:
    return datetime.fromisoformat(f"2026-06-10T{hhmm}").replace(tzinfo=LONDON).timestamp()


def config(unreachable: str = "down") -> config_mod.Config:
    return config_mod.parse(
        {
            "timezone": "Europe/London",
            "reporting": {"unreachable": unreachable},
            "schedules": {"office": {"hours": {"mon-fri": "08:00-18:00"}}},
            "defaults": {"schedule": "office"},
            "groups": {"network": {"objective": "99%"}},
            "monitor": {"witnesses": ["gateway"]},
            "targets": [
                {"name": "core", "group": "network", "type": "icmp", "host": "127.0.0.1"},
                {"name": "edge", "group": "network", "type": "icmp", "host": "127.0.0.1",
                 "depends_on": ["core"]},
                {"name": "gateway", "group": "network", "type": "icmp", "host": "127.0.0.1"},
            ],
        },
        "targets.yaml",
        {},
    )  # fmt: skip


def outage(id_, target, start, end, **kw) -> Outage:
    return Outage(id_, target, at(start), at(end), "timeout after 2s", "detected", False, None,
                  **kw)  # fmt: skip


def day(cfg: config_mod.Config) -> History:
    """Wed 10 June 2026, office 08:00-18:00 (36 000 s), probed all day.

    - 10:00-10:45 the monitor's uplink failed: its witness (gateway) failed, the monitor
      was isolated.  edge's probes had failed first: its outage (09:58-10:00) was cut
      where the isolation began; gateway's own outage is the evidence.
    - 14:00-14:30 core was down; edge behind it was unreachable for the same span, then
      still failing on its own until 14:40 (its outage continues the unreachable one).
    """
    day_start, day_end = at("00:00"), at("00:00") + 86_400
    return History(
        targets=cfg.targets,
        period=parse_period("2026-06-10", cfg.timezone, cfg.year_start_month),
        now=day_end,
        outages={
            "core": (outage(3, "core", "14:00", "14:30"),),
            "edge": (
                outage(1, "edge", "09:58", "10:00", end_reason="isolation"),
                outage(4, "edge", "14:00", "14:30", state="unreachable", parent="core",
                       end_reason="parent-recovered"),
                outage(5, "edge", "14:30", "14:40", continues=4),
            ),
            "gateway": (outage(2, "gateway", "10:00", "10:45"),),
        },
        coverage={
            t.name: (CoverageSpan(t.name, day_start, day_end, False),) for t in cfg.targets
        },
        maintenance=(),
        isolations=(Isolation(1, at("10:00"), at("10:45"), ("gateway",)),),
    )  # fmt: skip


def by_name(items):
    return {i["name"]: i for i in items}


@pytest.mark.parametrize("unreachable", ["down", "unmonitored"])
def test_hand_computed_day(unreachable):
    cfg = config(unreachable)
    doc = report.gather(cfg, day(cfg))
    t = by_name(doc["targets"])
    # Isolated 45 min = 2 700 s for every target: unmonitored, never down.
    assert {n: x["isolated_seconds"] for n, x in t.items()} == dict.fromkeys(t, 2_700)
    assert all(x["scheduled_seconds"] == 36_000 for x in t.values())
    # gateway: its own outage lies inside the isolation -> 0 down, 33 300 monitored.
    assert (t["gateway"]["downtime_seconds"], t["gateway"]["monitored_seconds"]) == (0, 33_300)
    # core: down 14:00-14:30 = 1 800 s of 33 300 monitored.
    assert (t["core"]["downtime_seconds"], t["core"]["uptime_ratio"]) == (1_800, 1 - 1_800 / 33_300)
    # edge: 2 min before the isolation (cut at 10:00) + 10 min own failure after core
    # answered = 720 s down in any case; the 30 min unreachable behind core counts as down
    # (default) or is unmonitored.
    edge = t["edge"]
    assert edge["unreachable_seconds"] == 1_800
    if unreachable == "down":
        assert (edge["downtime_seconds"], edge["monitored_seconds"]) == (2_520, 33_300)
        assert edge["uptime_ratio"] == 1 - 2_520 / 33_300
    else:
        assert (edge["downtime_seconds"], edge["monitored_seconds"]) == (720, 31_500)
        assert edge["uptime_ratio"] == 1 - 720 / 31_500
    group = by_name(doc["groups"])["network"]
    assert group["isolated_seconds"] == 8_100
    assert group["unreachable_seconds"] == 1_800
    # Each outage says why it is what it is.
    notes = {o["id"]: (o["downtime_seconds"], o["note"]) for o in doc["outages"]}
    assert notes[1] == (120, "ended where the monitor was cut off (isolated)")
    assert notes[2] == (0, None)
    assert notes[4] == (
        1_800 if unreachable == "down" else 0,
        "unreachable: core was down (outage 3); ended when core answered again",
    )
    assert notes[5] == (600, "continues outage 4")
    assert [
        (o["id"], o["parent_outage"]) for o in doc["outages"] if o["state"] == "unreachable"
    ] == [(4, 3)]
    assert doc["basis"]["isolations"] == 1
    assert doc["basis"]["isolated_working_seconds"] == 2_700
    assert doc["isolations"][0]["witnesses"] == ["gateway"]


def test_every_format_shows_the_faults():
    cfg = config()
    doc = report.gather(cfg, day(cfg))
    text = report.render(doc, "text").decode()
    assert "MONITOR ISOLATED" in text
    assert "The monitor was isolated 1 time(s), for 0:45:00 of working hours" in text
    assert "Unreachable time counts as downtime" in text
    assert "[unreachable: core was down (outage 3); ended when core answered again]" in text
    header = next(line for line in text.splitlines() if line.startswith("TARGET "))
    assert "ISOLATED" in header and "UNREACHABLE" in header
    html = report.render(doc, "html").decode()
    assert "<th>Isolated</th>" in html and "<th>Unreachable</th>" in html
    assert "The monitor was isolated 1 time(s)" in html
    rows = list(csv.DictReader(io.StringIO(report.render(doc, "csv").decode())))
    edge = next(r for r in rows if r["name"] == "edge")
    assert (edge["isolated_seconds"], edge["unreachable_seconds"]) == ("2700", "1800")
    assert json.loads(report.render(doc, "json")) == doc


def test_no_fault_columns_in_a_quiet_period():
    cfg = config()
    quiet = History(
        targets=cfg.targets,
        period=parse_period("2026-06-10", cfg.timezone, cfg.year_start_month),
        now=at("00:00") + 86_400,
        outages={t.name: () for t in cfg.targets},
        coverage={t.name: () for t in cfg.targets},
        maintenance=(),
    )
    text = report.render(report.gather(cfg, quiet), "text").decode()
    assert "ISOLATED" not in text and "UNREACHABLE" not in text and "isolated" not in text
