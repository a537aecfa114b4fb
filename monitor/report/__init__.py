"""Reports: a period's figures -> one JSON-able document -> text / CSV / JSON / HTML / XLSX.

The chain an auditor follows: ``history.load`` (the CLI reads the store) ->
``history.compute`` -> ``sla.target_figures`` -> :func:`document` (via :func:`gather`)
-> :func:`render` (``text``, ``csv``, ``json``, ``html``, ``xlsx``: one module each).
Everything in this package is pure: it gets plain data, never the store.

Several periods side by side (``--period`` repeated, ``--years N``) are the list of the
single-period documents, computed at one ``now`` (:func:`gather_many`): JSON
``{"reports": [...]}``; text, HTML and XLSX put one column group (uptime, objective, met)
per period beside each group and target, like a balanced scorecard; CSV has one row per
(period, group or target).  Each period is judged against the objectives in force at its
own start.  A what-if (``what_if_schedule``) is labelled as such in every format.

The document built by :func:`document` is the reference representation (the ``--format
json`` machine contract). Every other format is rendered **from that same document**, never
from the figures again, so all formats agree by construction; the tests check it.

Each outage's *counted* downtime within the period comes from ``history.compute`` (the
same calculation as the target's downtime, outage by outage).

Display decisions (auditors read these):

* Uptime is shown as a percentage with two decimals, **rounded down** (99.999% shows as
  "99.99%", never "100.00%"); a ratio that does not exist (no monitored time) is "no data"
  in text/HTML, an empty cell in CSV/XLSX and ``null`` in JSON -- never 100%.  XLSX keeps
  the exact ratio (a spreadsheet cannot round down) and shows it with two decimals, or as
  many more as it takes never to cross the objective or reach 100% (0.989996 against 99%
  shows 98.9996%, not 99.00%); CSV and JSON carry the exact value.  No figure is ever
  shown on the other side of its objective from ``met``.
* Seconds are rounded to the millisecond (whole seconds are written as integers).
* Instants are ISO 8601 with the offset of the configured time zone; in XLSX they are real
  date-times in local time (the zone is stated on the Summary sheet).
"""

from __future__ import annotations

from monitor.report.csv import render_csv
from monitor.report.document import document, gather, gather_many, is_many
from monitor.report.formatting import Doc, duration, percent, status
from monitor.report.html import render_html
from monitor.report.json import render_json
from monitor.report.rows import (
    GROUP_COLUMNS,
    OUTAGE_COLUMNS,
    SCORECARD_SUB,
    TARGET_COLUMNS,
    target_rows,
)
from monitor.report.text import render_text
from monitor.report.xlsx import render_xlsx

__all__ = [
    "FORMATS",
    "GROUP_COLUMNS",
    "OUTAGE_COLUMNS",
    "SCORECARD_SUB",
    "TARGET_COLUMNS",
    "Doc",
    "document",
    "duration",
    "gather",
    "gather_many",
    "is_many",
    "percent",
    "render",
    "render_csv",
    "render_html",
    "render_json",
    "render_text",
    "render_xlsx",
    "status",
    "target_rows",
]

FORMATS = ("text", "csv", "json", "html", "xlsx")


def render(doc: Doc, fmt: str, section: str = "targets") -> bytes:
    """The report as the bytes to write: CSV with a BOM for Excel, others UTF-8."""
    if fmt == "xlsx":
        return render_xlsx(doc)
    if fmt == "csv":
        return render_csv(doc, section).encode("utf-8-sig")
    renderer = {"text": render_text, "json": render_json, "html": render_html}[fmt]
    return renderer(doc).encode("utf-8")
