"""CSV: the long-form targets table (or the outage list), for spreadsheets."""

from __future__ import annotations

import csv
import io
from typing import Any

from monitor.report.formatting import Doc
from monitor.report.rows import TARGET_COLUMNS, all_rows, outage_table, target_rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def render_csv(doc: Doc, section: str = "targets") -> str:
    """The targets table (or ``section="outages"``); the caller encodes it as utf-8-sig."""
    columns, rows = (
        outage_table(doc) if section == "outages" else (TARGET_COLUMNS, all_rows(doc, target_rows))
    )
    # A labels column (after group) only when some target has labels.
    if any("labels" in r for r in rows):
        columns = (*columns[:4], "labels", *columns[4:])
        rows = [{"labels": "", **r} for r in rows]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows([_cell(r[c]) for c in columns] for r in rows)
    return buffer.getvalue()
