"""XLSX: a Summary sheet (what was reported and its basis), a Scorecard sheet for several
periods, then the long-form Targets, Outages and Maintenance sheets.  Numbers stay
numbers and instants real date-times in local time (the zone is on the Summary sheet).

A spreadsheet rounds what it displays, so a ratio keeps its exact value and is shown with
as many decimals as it takes not to carry it across its objective or up to 100%
(:func:`percent_format`); each ``*_seconds`` column is followed by the same duration as
``H:MM:SS`` text, and ``met`` is written as the text report writes it (met / MISSED)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from monitor.report.basis import basis_lines, many_basis_lines, what_if_line
from monitor.report.document import is_many, with_previous
from monitor.report.formatting import Doc, duration
from monitor.report.rows import (
    GROUP_COLUMNS,
    MAINTENANCE_COLUMNS,
    RATIO_COLUMNS,
    SCORECARD_SUB,
    SECONDS_COLUMNS,
    TARGET_COLUMNS,
    Row,
    all_rows,
    maintenance_rows,
    outage_table,
    scorecard_rows,
    target_rows,
)

DATETIME = "yyyy-mm-dd hh:mm:ss"
MOST_PLACES = 13  # a spreadsheet shows 15 significant digits: two before the point
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


def percent_format(ratio: float, objective: float | None) -> str:
    """``0.00%``, or as many more decimals as it takes for the spreadsheet's rounded display
    to stay on the same side of ``objective`` and of 100% as ``ratio`` itself: 0.989996
    against 0.99 is ``0.0000%`` (98.9996%), never 99.00% beside MISSED."""
    exact = Decimal(repr(ratio)) * 100
    marks = [Decimal(100)] + ([] if objective is None else [Decimal(repr(objective)) * 100])
    places = 2
    while places < MOST_PLACES:
        shown = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        if all((shown >= mark) == (exact >= mark) for mark in marks):
            break
        places += 1
    return "0." + "0" * places + "%"


def _header(columns: Sequence[str]) -> list[str]:
    """The column names, each ``*_seconds`` one followed by its ``(h:mm:ss)`` twin."""
    return [
        h
        for c in columns
        for h in ((c, c.removesuffix("_seconds") + " (h:mm:ss)") if c in SECONDS_COLUMNS else (c,))
    ]


def _cells(
    columns: Sequence[str], row: Row, times: Sequence[str] = ()
) -> list[tuple[Any, str | None]]:
    """``row``'s cells under :func:`_header` as (value, number format or None)."""
    cells: list[tuple[Any, str | None]] = []
    for c in columns:
        value = row[c]
        if c in times:
            cells.append((_datetime(value), DATETIME))
        elif c in RATIO_COLUMNS and value is not None:
            objective = row.get("objective") if c == "uptime_ratio" else None
            cells.append((value, percent_format(value, objective)))
        elif c in SECONDS_COLUMNS:
            cells.append((value, "0" if isinstance(value, int) else "0.000"))
            cells.append((duration(value) or None, None))
        else:
            cells.append((value, None))
    return cells


def _append(ws: Any, cells: list[tuple[Any, str | None]]) -> None:
    ws.append([value for value, _ in cells])
    for col, (_, fmt) in enumerate(cells, start=1):
        if fmt:
            ws.cell(ws.max_row, col).number_format = fmt


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
                {
                    "period": d["period"]["label"],
                    "start": d["period"]["start"],
                    "end": d["period"]["end"],
                    "complete": d["period"]["complete"],
                    "objective_year": d["basis"]["objective_year"],
                    "maintenance_windows": d["basis"]["maintenance_windows"],
                    "excluded_outages": d["basis"]["excluded_outages"],
                }
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
                {**g, "period": d["period"]["label"]}
                for d in with_previous(doc)
                for g in d["groups"]
            ],
            basis_lines(doc),
            dict.fromkeys("AB", 22),
        )
    _sheet(book.create_sheet("Targets"), TARGET_COLUMNS, all_rows(doc, target_rows))
    _sheet(book.create_sheet("Outages"), *outage_table(doc), times=("start", "end"))
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
    rows: list[Row],
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
    ws.append(_header(columns))
    for cell in ws[ws.max_row]:
        cell.font = bold
    for row in rows:
        _append(ws, _cells(columns, row, times=("start", "end")))
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
            _append(
                card,
                [
                    (kind, None),
                    (name, None),
                    (group if kind == "target" else name, None),
                    *(
                        cell
                        for item in items
                        for cell in (
                            [(None, None)] * len(SCORECARD_SUB)
                            if item is None
                            else _cells(SCORECARD_SUB, item)
                        )
                    ),
                ],
            )
    card.freeze_panes = "D3"
    for col in range(1, len(lead) + 3 * len(docs) + 1):
        card.column_dimensions[card.cell(2, col).column_letter].width = 14


def _sheet(ws: Any, columns: Sequence[str], rows: list[Row], times: Sequence[str] = ()) -> None:
    """A header row and one row per dict, number formats by column and value."""
    bold = _bold()
    header = _header(columns)
    ws.append(header)
    for cell in ws[1]:
        cell.font = bold
    table = [_cells(columns, r, times) for r in rows]
    for cells in table:
        _append(ws, cells)
    for col, name in enumerate(header, start=1):
        shown = [str(cells[col - 1][0]) for cells in table if cells[col - 1][0] is not None]
        width = max([len(name)] + [len(text) for text in shown])
        ws.column_dimensions[ws.cell(1, col).column_letter].width = min(width + 2, 60)
    ws.freeze_panes = "A2"
