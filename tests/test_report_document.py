"""A report from plain data: ``history.compute`` and the report package need no database.

The :class:`History` here is written by hand, as ``history.load`` would read it from a
store; the figures are worked out by hand too.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import ROUND_HALF_UP, Decimal

import holidays
import openpyxl

from monitor import config as config_mod
from monitor import report
from monitor.figures.history import History
from monitor.figures.periods import parse_period
from monitor.report.xlsx import percent_format
from monitor.store import CoverageSpan, Maintenance, Outage
from tests.support import at

CONFIG_RAW = {
    "timezone": "Europe/London",
    "schedules": {"office": {"hours": {"mon-fri": "08:00-18:00"}}},
    "defaults": {"schedule": "office"},
    "groups": {"systems": {"objective": "99%"}},
    "targets": [{"name": "web", "group": "systems", "type": "http", "url": "http://127.0.0.1:9/"}],
}
CONFIG = config_mod.parse(CONFIG_RAW, "targets.yaml", {})
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


def _displayed(cell) -> str:
    """What a spreadsheet shows for a ``0.00…%`` cell: the percentage rounded half up."""
    places = cell.number_format.count("0") - 1
    shown = (Decimal(repr(cell.value)) * 100).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    return f"{shown}%"


def test_uptime_just_below_the_objective_reads_as_missed_in_every_format():
    """0.989996 against 99%: 30 min 0.72 s down in 50 working hours, 0.72 s over budget.
    No format may show it as 99.00% (rounded up across the objective) beside MISSED."""
    now = at("2024-03-11T00:00")
    recorded = History(
        targets=CONFIG.targets,
        period=WEEK,
        now=now,
        outages={
            "web": (Outage(1, "web", at("2024-03-05T10:00"), at("2024-03-05T10:30") + 0.72,
                           "HTTP 503", "detected", False, None),)
        },
        coverage={"web": (CoverageSpan("web", at("2024-03-04T00:00"), now, False),)},
        maintenance=(),
    )  # fmt: skip
    doc = report.gather(CONFIG, recorded)
    (web,) = doc["targets"]
    assert round(web["uptime_ratio"], 9) == 0.989996 and web["met"] is False

    parsed = json.loads(report.render(doc, "json"))["targets"][0]
    assert parsed["uptime_ratio"] < parsed["objective"] == 0.99 and parsed["met"] is False

    text = report.render(doc, "text").decode().splitlines()
    (line,) = [line for line in text if line.startswith("web ")]
    assert line.split()[2:6] == ["99.00%", "98.99%", "100.00%", "MISSED"]
    assert line.split()[-1] == "-0:00:01"

    (row,) = [r for r in csv.DictReader(io.StringIO(report.render_csv(doc))) if r["name"] == "web"]
    assert float(row["uptime_ratio"]) == web["uptime_ratio"]
    assert (row["objective"], row["met"]) == ("0.99", "FALSE")

    page = report.render(doc, "html").decode()
    assert "Systems uptime 98.99%" in page
    assert (
        '<td class="num">99.00%</td><td class="num">98.99%</td>'
        '<td class="num">100.00%</td><td class="name">MISSED</td>' in page
    )

    book = openpyxl.load_workbook(io.BytesIO(report.render(doc, "xlsx")))
    sheet = book["Targets"]
    header = [c.value for c in sheet[1]]
    (cells,) = [r for r in sheet.iter_rows(min_row=2) if r[header.index("name")].value == "web"]
    cell = dict(zip(header, cells, strict=True))
    assert cell["uptime_ratio"].value == web["uptime_ratio"]  # the exact value is kept
    assert cell["uptime_ratio"].number_format == "0.0000%"
    assert _displayed(cell["uptime_ratio"]) == "98.9996%"
    assert _displayed(cell["objective"]) == "99.00%"
    assert (cell["met"].value, cell["status"].value) == (False, "MISSED")
    assert cell["downtime_seconds"].value == 1800.72
    assert cell["downtime (h:mm:ss)"].value == "0:30:01"
    assert cell["error_budget_remaining (h:mm:ss)"].value == "-0:00:01"
    summary = list(book["Summary"].iter_rows())
    (group,) = [r for r in summary if r[1].value == "systems"]
    assert [_displayed(group[2]), _displayed(group[3]), group[6].value] == [
        "99.00%",
        "98.9996%",
        "MISSED",
    ]

    card = openpyxl.load_workbook(
        io.BytesIO(report.render(report.gather_many(CONFIG, [recorded, recorded]), "xlsx"))
    )["Scorecard"]
    (web_row,) = [r for r in card.iter_rows(min_row=3) if r[1].value == "web"]
    assert [_displayed(web_row[3]), _displayed(web_row[5]), web_row[6].value] == [
        "98.9996%",
        "99.00%",
        "MISSED",
    ]


def test_spreadsheet_percentages_show_just_enough_decimals():
    """Two decimals unless rounding would carry a figure across its objective or to 100%."""
    assert percent_format(0.97916666, 0.99) == "0.00%"  # 97.92%: rounds, crosses nothing
    assert percent_format(0.99, 0.99) == "0.00%"
    assert percent_format(0.989996, 0.99) == "0.0000%"
    assert percent_format(0.9999996, 0.99) == "0.00000%"  # not 100.00%
    assert percent_format(0.99995, None) == "0.000%"  # an objective of 99.995%
    assert percent_format(1.0, 0.99) == "0.00%"


def test_organisation_name_heads_the_html_report_and_scorecard():
    """reporting.title is the organisation's name at the top of the page (escaped), and
    absent when not configured."""
    titled = config_mod.parse(
        {**CONFIG_RAW, "reporting": {"title": "Ambridge & District Council"}}, "targets.yaml", {}
    )
    now = at("2024-03-11T00:00")
    heading = '<p class="org">Ambridge &amp; District Council</p>'
    assert heading in report.render_html(report.gather(titled, recorded(now)))
    assert "<title>Ambridge &amp; District Council: Availability report 2024-W10" in (
        report.render_html(report.gather(titled, recorded(now)))
    )
    many = report.gather_many(titled, [recorded(now), recorded(now)])
    assert heading in report.render_html(many)
    assert 'class="org"' not in report.render_html(report.gather(CONFIG, recorded(now)))


def test_basis_lists_the_holidays_that_removed_working_hours():
    """May 2024 in England: bank holidays on Mondays 6 and 27 May. The office schedule
    loses both; a Saturday-only schedule loses none. The holidays release is stated, and
    a period to date lists only the holidays so far."""
    config = config_mod.parse(
        {
            "reporting": {"title": "Borsetshire County Council"},
            "schedules": {
                "office": {"hours": {"mon-fri": "08:00-18:00"}, "holidays": {"country": "GB",
                           "subdiv": "ENG"}},
                "saturday": {"hours": {"sat": "09:00-12:00"}, "holidays": {"country": "GB"}},
            },
            "groups": {"systems": {"objective": "99%"}},
            "targets": [
                {"name": "web", "group": "systems", "type": "http", "url": "http://127.0.0.1:9/",
                 "schedule": "office"},
                {"name": "library", "group": "systems", "type": "tcp", "host": "127.0.0.1",
                 "port": 9, "schedule": "saturday"},
            ],
        },
        "targets.yaml",
        {},
    )  # fmt: skip
    may = parse_period("2024-05", config.timezone, config.year_start_month)

    def basis(now: float) -> dict:
        doc = report.gather(
            config,
            History(targets=config.targets, period=may, now=now,
                    outages={t.name: () for t in config.targets},
                    coverage={t.name: () for t in config.targets}, maintenance=()),
        )  # fmt: skip
        assert doc["title"] == "Borsetshire County Council"
        return doc

    doc = basis(at("2024-06-01T00:00"))
    office, saturday = doc["basis"]["schedules"]
    assert [h["date"] for h in office["holidays_removed"]] == ["2024-05-06", "2024-05-27"]
    assert saturday["holidays_removed"] == []
    assert doc["basis"]["holidays_version"] == holidays.__version__
    web = doc["targets"][0]
    assert web["scheduled_seconds"] == (23 - 2) * 36_000  # 23 weekdays less the two
    text = report.render(doc, "text").decode()
    assert (
        f"schedule 'office' in 2024-05 (holidays {holidays.__version__}): "
        f"2024-05-06 {office['holidays_removed'][0]['name']}, 2024-05-27 " in text
    )
    assert "schedule 'saturday' in 2024-05" in text and "none." in text

    so_far = basis(at("2024-05-10T12:00"))["basis"]["schedules"][0]
    assert [h["date"] for h in so_far["holidays_removed"]] == ["2024-05-06"]
