"""The HTML report as a manager gets it: printed to PDF by headless Chromium, then read
back as text. The summary (title, headline figures, chart) is one A4 page, the appendices
follow, and every figure printed is the JSON document's.

The config is a realistic council one (38 targets in four groups, hyphenated names, an
office schedule with English bank holidays); its :class:`History` is written by hand, as
in ``tests/test_report_document.py``.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from monitor import config as config_mod
from monitor import report
from monitor.figures.history import History
from monitor.figures.periods import parse_period
from monitor.report.formatting import brief, local
from monitor.store import CoverageSpan, Maintenance, Outage
from tests.support import at, need

TITLE = "Borsetshire County Council ICT Services"

NAMES = {
    "network": [
        "core-switch-county-hall", "core-switch-depot", "firewall-primary",
        "firewall-secondary", "wan-router-libraries", "wan-router-schools",
        "edge-switch-registry-office", "wifi-controller-01", "vpn-concentrator",
        "dns-resolver-01", "dns-resolver-02",
    ],
    "systems": [
        "file-server-01", "file-server-02", "print-server", "domain-controller-01",
        "domain-controller-02", "mail-relay", "backup-server", "sql-cluster-node-a",
        "sql-cluster-node-b", "hyper-v-host-03",
    ],
    "applications": [
        "council-tax-portal", "revenues-and-benefits", "planning-applications-portal",
        "social-care-case-management", "payroll-self-service", "intranet",
        "library-catalogue", "waste-collection-booking", "parking-permits",
        "customer-contact-centre-crm",
    ],
    "telephony": [
        "sip-trunk-primary", "sip-trunk-secondary", "call-recording", "contact-centre-ivr",
        "voicemail-server", "switchboard-console", "out-of-hours-diversion",
    ],
}  # fmt: skip
assert sum(len(v) for v in NAMES.values()) == 38

CONFIG = config_mod.parse(
    {
        "timezone": "Europe/London",
        "reporting": {"title": TITLE},
        "schedules": {
            "office": {
                "hours": {"mon-fri": "08:00-18:00"},
                "holidays": {"country": "GB", "subdiv": "ENG"},
            }
        },
        "defaults": {"schedule": "office"},
        "groups": {
            "network": {"objective": "99.5%"},
            "systems": {"objective": "99%"},
            "applications": {"objective": "99%"},
            "telephony": {"objective": "99.9%"},
        },
        "targets": [
            {"name": n, "group": g, "type": "tcp", "host": "127.0.0.1", "port": 9}
            for g, names in NAMES.items()
            for n in names
        ],
    },
    "targets.yaml",
    {},
)
MAY = parse_period("2024-05", CONFIG.timezone, CONFIG.year_start_month)  # holidays 6, 27 May


def _outage(n: int, target: str, start: str, end: str, cause: str, excluded: bool = False):
    reason = "monitoring host fault" if excluded else None
    return Outage(n, target, at(start), at(end), cause, "detected", excluded, reason)


OUTAGES = [
    _outage(1, "firewall-primary", "2024-05-02T09:10", "2024-05-02T10:40", "timeout"),
    _outage(2, "council-tax-portal", "2024-05-08T13:00", "2024-05-08T17:30", "HTTP 503"),
    _outage(3, "sip-trunk-primary", "2024-05-14T08:30", "2024-05-14T08:50", "connection refused"),
    _outage(4, "payroll-self-service", "2024-05-21T11:00", "2024-05-21T11:20", "timeout", True),
    # On the Spring bank holiday: recorded, but it counts nothing.
    _outage(5, "planning-applications-portal", "2024-05-27T10:00", "2024-05-27T14:00", "HTTP 502"),
    _outage(6, "file-server-02", "2024-05-29T15:00", "2024-05-29T16:15", "connection refused"),
]  # fmt: skip


def history(now: float = at("2024-06-03T09:00")) -> History:
    late = "voicemail-server"  # monitored from 15 May only: coverage below 100%
    return History(
        targets=CONFIG.targets,
        period=MAY,
        now=now,
        outages={
            t.name: tuple(o for o in OUTAGES if o.target == t.name) for t in CONFIG.targets
        },
        coverage={
            t.name: (
                CoverageSpan(
                    t.name, at("2024-05-15T00:00" if t.name == late else "2024-04-01T00:00"),
                    now, False,
                ),
            )
            for t in CONFIG.targets
        },
        maintenance=(
            Maintenance(1, "group", "systems", at("2024-05-18T07:00"), at("2024-05-18T12:00"),
                        "Storage firmware upgrade"),
        ),
    )  # fmt: skip


def test_bank_holiday_outage_is_drawn_as_counting_nothing():
    """The outage on 27 May counted 0 s: grey in the timeline, never red like a counted one."""
    doc = report.gather(CONFIG, history())
    counted = {o["id"]: o["downtime_seconds"] for o in doc["outages"]}
    assert counted[5] == 0 and counted[1] > 0
    page = report.render_html(doc)
    marks = {int(n): cls for cls, n in re.findall(r'<rect class="(\w+)"[^>]*><title>#(\d+) ', page)}
    assert marks[1] == marks[2] == "outage"
    assert marks[5] == "uncounted" and marks[4] == "uncounted"


def _pdf(tmp_path: Path, page: str) -> tuple[list[str], list[str]]:
    """Print ``page`` as Chromium does for a person (A4 from the page's @page rules, no
    header or footer) and read back each page's paper size and text (layout kept)."""
    chromium = need("chromium", "chromium")
    pdftotext = need("pdftotext", "poppler-utils")
    html, pdf = tmp_path / "report.html", tmp_path / "report.pdf"
    html.write_text(page, encoding="utf-8")
    subprocess.run(
        [
            chromium, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
            f"--print-to-pdf={pdf}", "--no-pdf-header-footer", html.as_uri(),
        ],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    text = subprocess.run(
        [pdftotext, "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    pages = text.split("\f")
    if pages and not pages[-1].strip():
        pages.pop()  # pdftotext ends every page with a form feed
    info = subprocess.run(
        [need("pdfinfo", "poppler-utils"), "-f", "1", "-l", "999", str(pdf)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    count = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    sizes = re.findall(r"^Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts \(A4\)", info, re.M)
    assert count == len(sizes) == len(pages), info
    return ["portrait" if float(w) < float(h) else "landscape" for w, h in sizes], pages


def _row(pages: list[str], *first: str) -> list[str]:
    """The cells of the one printed line (a table row) whose first cells are ``first``."""
    n = len(first)
    lines = [ln.split() for p in pages for ln in p.splitlines() if ln.split()[:n] == [*first]]
    assert len(lines) == 1, (first, lines)
    return lines[0][n:]


@pytest.mark.slow
@pytest.mark.parametrize("compared", [False, True], ids=["month", "to-date-with-previous"])
def test_printed_report_is_one_summary_page_then_appendices(tmp_path, compared):
    """``compared``: the busiest summary a month gets -- figures to date (a warning line)
    against a baseline (a line, a column, and the previous figure in each headline)."""
    if compared:
        doc = report.gather(CONFIG, history(at("2024-05-28T12:00")), previous=history())
        assert doc["period"]["complete"] is False
    else:
        doc = report.gather(CONFIG, history())
    sizes, pages = _pdf(tmp_path, report.render_html(doc))
    summary, appendices = pages[0], "\n".join(pages[1:])
    # README "Reports": one portrait summary page, then the appendices in landscape (how
    # many depends on the columns a period needs: three or four for these 38 targets).
    assert sizes[0] == "portrait" and len(sizes) >= 4, sizes
    assert set(sizes[1:]) == {"landscape"}, sizes
    assert pages[1].lstrip().startswith("Appendix A. Outage timeline")

    # The summary page: organisation, period, every group's headline, every target's bar.
    assert TITLE in summary and "Availability report 2024-05" in summary
    squashed = " ".join(summary.split())
    for g in doc["groups"]:
        coverage = report.percent(g["coverage_ratio"])
        headline = (
            f"{g['name'].capitalize()} uptime {report.percent(g['uptime_ratio'])} (objective "
            f"{report.percent(g['objective'])}) — {report.status(g)}; "
            f"{coverage} of working hours monitored"
        )
        assert headline in squashed, headline
    for t in doc["targets"]:
        # Each chart label is whole on one line with the target's uptime beside it.
        assert re.search(rf"(^|\s){re.escape(t['name'])}\s.*{report.percent(t['uptime_ratio'])}",
                         summary, re.M), t["name"]  # fmt: skip
    assert "Targets" not in summary and "Basis of calculation" not in summary

    # The appendices: every target's row, cell for cell, as the JSON says.
    for i, t in enumerate(doc["targets"]):
        assert _row(pages[1:], t["name"], t["group"]) == [
            report.percent(t["objective"]),
            report.percent(t["uptime_ratio"]),
            report.percent(t["coverage_ratio"]),
            *report.status(t).split(),
            report.duration(t["scheduled_seconds"]),
            report.duration(t["monitored_seconds"]),
            report.duration(t["unmonitored_seconds"]),
            report.duration(t["downtime_seconds"]),
            report.duration(t["maintenance_seconds"]),
            str(t["outages"]),
            report.duration(t["longest_outage_seconds"]),
            report.duration(t["error_budget_remaining_seconds"]),
            *(brief(doc["previous"]["targets"][i]).split() if compared else []),
        ]
    for o in doc["outages"]:
        start, end = local(o["start"]), local(o["end"])
        assert _row(pages[1:], str(o["id"]), o["target"])[:6] == [
            *start.split(),
            *end.split(),
            report.duration(o["downtime_seconds"]),
            o["source"],
        ]
    basis = " ".join(appendices.split())
    for t in doc["targets"]:  # each name whole in the basis prose too: no "firewall- primary"
        assert re.search(rf"[ ,]{re.escape(t['name'])}[,.]", basis), t["name"]
    holidays_removed = doc["basis"]["schedules"][0]["holidays_removed"]
    assert [h["date"] for h in holidays_removed] == ["2024-05-06", "2024-05-27"]
    assert f"(holidays {doc['basis']['holidays_version']}): 2024-05-06 " in basis
    assert "2024-05-27" in basis
