"""XLSX: a Summary sheet (what was reported and its basis), a Scorecard sheet for several
periods, then the long-form Targets, Outages and Maintenance sheets.  Numbers stay
numbers and instants real date-times in local time (the zone is on the Summary sheet)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from monitor.report.basis import basis_lines, many_basis_lines, what_if_line
from monitor.report.document import is_many, with_previous
from monitor.report.formatting import Doc
from monitor.report.rows import (
    GROUP_COLUMNS,
    MAINTENANCE_COLUMNS,
    OUTAGE_COLUMNS,
    RATIO_COLUMNS,
    SCORECARD_SUB,
    SECONDS_COLUMNS,
    TARGET_COLUMNS,
    Row,
    all_rows,
    maintenance_rows,
    outage_rows,
    scorecard_rows,
    target_rows,
)

DATETIME = "yyyy-mm-dd hh:mm:ss"
PERCENT = "0.00%"
PERIOD_COLUMNS = (
    "period",
    "start",
    "end",
    "complete",
    "objective_year",
    "maintenance_windows",
    "excluded_outages",
)


def _datetime(iso: str | None) -> datetime | None:
    """Local wall-clock time (Excel has no zones; the zone is on the Summary sheet)."""
    return None if iso is None else datetime.fromisoformat(iso).replace(tzinfo=None)


def _bold() -> Any:
    from openpyxl.styles import Font

    return Font(bold=True)


def render_xlsx(doc: Doc) -> bytes:
    """One period (and its baseline): the Summary lists its groups' figures; several
    periods: the Summary lists the periods and a Scorecard sheet sets them side by side."""
    from openpyxl import Workbook

    book = Workbook()
    if is_many(doc):
        docs = doc["reports"]
        _summary(
            book.active,
            "Availability scorecard",
            ", ".join(d["period"]["label"] for d in docs),
            docs[0],
            [
                ("Time zone", docs[0]["period"]["timezone"]),
                ("Generated at", _datetime(docs[0]["generated_at"])),
                ("Unmonitored policy", docs[0]["unmonitored_policy"]),
                ("What-if schedule", docs[0]["what_if_schedule"]),
            ],
            PERIOD_COLUMNS,
            [
                [
                    d["period"]["label"],
                    _datetime(d["period"]["start"]),
                    _datetime(d["period"]["end"]),
                    d["period"]["complete"],
                    d["basis"]["objective_year"],
                    d["basis"]["maintenance_windows"],
                    d["basis"]["excluded_outages"],
                ]
                for d in docs
            ],
            many_basis_lines(doc),
            dict.fromkeys("ABCDEFG", 20),
        )
        _scorecard(book.create_sheet("Scorecard"), doc)
    else:
        p = doc["period"]
        _summary(
            book.active,
            "Availability report",
            p["label"],
            doc,
            [
                ("Period start", _datetime(p["start"])),
                ("Period end", _datetime(p["end"])),
                ("Time zone", p["timezone"]),
                ("Complete", p["complete"]),
                ("Generated at", _datetime(doc["generated_at"])),
                ("Unmonitored policy", doc["unmonitored_policy"]),
                ("What-if schedule", doc["what_if_schedule"]),
                (
                    "Compared with",
                    doc["previous"]["period"]["label"] if doc.get("previous") else None,
                ),
            ],
            GROUP_COLUMNS,
            [
                [d["period"]["label"], *(g[c] for c in GROUP_COLUMNS[1:])]
                for d in with_previous(doc)
                for g in d["groups"]
            ],
            basis_lines(doc),
            dict.fromkeys("AB", 22),
        )
    _sheet(book.create_sheet("Targets"), TARGET_COLUMNS, all_rows(doc, target_rows))
    _sheet(
        book.create_sheet("Outages"),
        OUTAGE_COLUMNS,
        all_rows(doc, outage_rows),
        times=("start", "end"),
    )
    _sheet(
        book.create_sheet("Maintenance"),
        MAINTENANCE_COLUMNS,
        all_rows(doc, maintenance_rows),
        times=("start", "end"),
    )
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _summary(
    ws: Any,
    title: str,
    labels: str,
    first: Doc,
    facts: list[tuple[str, object]],
    columns: Sequence[str],
    rows: list[list[Any]],
    basis: list[str],
    widths: dict[str, int],
) -> None:
    """The Summary sheet of one or several periods: title (``first`` says whether it is a
    what-if) and labels, the report's ``facts``, a table of ``columns`` (the groups of one
    period and its baseline, or the periods side by side), then the basis of calculation."""
    bold = _bold()
    ws.title = "Summary"
    ws.append([title + (" (WHAT-IF)" if first["what_if_schedule"] else ""), labels])
    ws["A1"].font = bold
    if warning := what_if_line(first):
        ws.append([warning])
        ws.cell(ws.max_row, 1).font = bold
    for key, value in facts:
        ws.append([key, value])
        if isinstance(value, datetime):
            ws.cell(ws.max_row, 2).number_format = DATETIME
    ws.append([])
    ws.append(list(columns))
    for cell in ws[ws.max_row]:
        cell.font = bold
    for row in rows:
        ws.append(row)
        for col, name in enumerate(columns, start=1):
            if name in RATIO_COLUMNS:
                ws.cell(ws.max_row, col).number_format = PERCENT
            elif name in ("start", "end"):
                ws.cell(ws.max_row, col).number_format = DATETIME
    ws.append([])
    ws.append(["Basis of calculation"])
    ws.cell(ws.max_row, 1).font = bold
    for line in basis:
        ws.append([line])
    for letter, width in widths.items():
        ws.column_dimensions[letter].width = width


def _scorecard(card: Any, many: Doc) -> None:
    """A column group (uptime, objective, met) per period beside each group and target."""
    from openpyxl.styles import Alignment

    bold = _bold()
    docs = many["reports"]
    lead = ("kind", "name", "group")
    card.append(
        [*([None] * len(lead)), *(c for d in docs for c in (d["period"]["label"], None, None))]
    )
    card.append([*lead, *(SCORECARD_SUB * len(docs))])
    for i in range(len(docs)):
        col = len(lead) + 1 + 3 * i
        card.merge_cells(start_row=1, start_column=col, end_row=1, end_column=col + 2)
        card.cell(1, col).alignment = Alignment(horizontal="center")
    for row in (1, 2):
        for cell in card[row]:
            cell.font = bold
    for key, kind in (("groups", "group"), ("targets", "target")):
        for name, group, items in scorecard_rows(many, key):
            card.append(
                [
                    kind,
                    name,
                    group if kind == "target" else name,
                    *(None if item is None else item[c] for item in items for c in SCORECARD_SUB),
                ]
            )
            for i in range(len(docs)):
                for j in (0, 1):
                    card.cell(card.max_row, len(lead) + 1 + 3 * i + j).number_format = PERCENT
    card.freeze_panes = "D3"
    for col in range(1, len(lead) + 3 * len(docs) + 1):
        card.column_dimensions[card.cell(2, col).column_letter].width = 14


def _sheet(ws: Any, columns: Sequence[str], rows: list[Row], times: Sequence[str] = ()) -> None:
    """A header row and one row per dict, number formats by column name."""
    bold = _bold()
    ws.append(list(columns))
    for cell in ws[1]:
        cell.font = bold
    for r in rows:
        ws.append([_datetime(r[c]) if c in times else r[c] for c in columns])
    for col, name in enumerate(columns, start=1):
        fmt = (
            PERCENT
            if name in RATIO_COLUMNS
            else "0"
            if name in SECONDS_COLUMNS
            else DATETIME
            if name in times
            else None
        )
        if fmt:
            for (cell,) in ws.iter_rows(min_row=2, min_col=col, max_col=col):
                cell.number_format = fmt if fmt != "0" or isinstance(cell.value, int) else "0.000"
        width = max([len(name)] + [len(str(r[name])) for r in rows if r[name] is not None])
        ws.column_dimensions[ws.cell(1, col).column_letter].width = min(width + 2, 60)
    ws.freeze_panes = "A2"
