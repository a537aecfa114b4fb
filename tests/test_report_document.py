"""A report from plain data: ``history.compute`` and the report package need no database.

The :class:`History` here is written by hand, as ``history.load`` would read it from a
store; the figures are worked out by hand too.
"""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from monitor import config as config_mod
from monitor import report
from monitor.figures.history import History
from monitor.figures.periods import parse_period
from monitor.store import CoverageSpan, Maintenance, Outage

LONDON = ZoneInfo("Europe/London")


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON).timestamp()


CONFIG = config_mod.parse(
    {
        "timezone": "Europe/London",
        "schedules": {"office": {"hours": {"mon-fri": "08:00-18:00"}}},
        "defaults": {"schedule": "office"},
        "groups": {"systems": {"objective": "99%"}},
        "targets": [
            {"name": "web", "group": "systems", "type": "http", "url": "http://127.0.0.1:9/"}
        ],
    },
    "targets.yaml",
    {},
)
WEEK = parse_period("2024-W10", CONFIG.timezone, CONFIG.year_start_month)  # Mon 4 - Sun 10 March


def recorded(now: float) -> History:
    return History(
        targets=CONFIG.targets,
        period=WEEK,
        now=now,
        outages={
            "web": (
                Outage(1, "web", at("2024-03-05T10:00"), at("2024-03-05T11:00"), "HTTP 503",
                       "detected", False, None),
                Outage(2, "web", at("2024-03-06T09:00"), at("2024-03-06T09:30"), "timeout",
                       "detected", True, "monitoring host fault"),
            )
        },
        coverage={"web": (CoverageSpan("web", at("2024-03-04T00:00"), now, False),)},
        maintenance=(
            Maintenance(7, "target", "web", at("2024-03-07T08:00"), at("2024-03-07T10:00"),
                        "patching"),
        ),
    )  # fmt: skip


def test_document_from_plain_history():
    doc = report.gather(CONFIG, recorded(at("2024-03-11T00:00")))
    (web,) = doc["targets"]
    # Five working days of 10 h, less the 2 h maintenance window: 48 h scheduled, all
    # monitored; the excluded outage does not count, the detected one counts 1 h.
    assert web["scheduled_seconds"] == 5 * 36_000 - 7_200 == web["monitored_seconds"]
    assert web["maintenance_seconds"] == 7_200
    assert web["downtime_seconds"] == 3_600
    assert web["uptime_ratio"] == 1 - 3_600 / 172_800
    assert web["met"] is False  # 97.91% against 99%
    assert web["error_budget_remaining_seconds"] == 1_728 - 3_600
    assert [(o["id"], o["downtime_seconds"]) for o in doc["outages"]] == [(1, 3_600), (2, 0)]
    assert [m["scope"] for m in doc["maintenance"]] == ["target:web"]
    assert doc["period"]["complete"] is True
    assert doc["basis"]["excluded_outages"] == 1
    assert json.loads(report.render(doc, "json")) == doc
    assert "97.91%" in report.render(doc, "text").decode()


def test_figures_as_known_at_now():
    """Mid-week, the figures run to ``now`` only and the report says it is not complete."""
    doc = report.gather(CONFIG, recorded(at("2024-03-05T18:00")))
    (web,) = doc["targets"]
    assert doc["period"]["complete"] is False
    assert web["monitored_seconds"] == 2 * 36_000
    assert web["downtime_seconds"] == 3_600
