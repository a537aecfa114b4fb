"""Reports: a period's figures -> one JSON-able document -> text / CSV / JSON / HTML / XLSX.

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
  in text/HTML, an empty cell in CSV/XLSX and ``null`` in JSON -- never 100%.
* Seconds are rounded to the millisecond (whole seconds are written as integers).
* Instants are ISO 8601 with the offset of the configured time zone; in XLSX they are real
  date-times in local time (the zone is stated on the Summary sheet).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from monitor.config import Config, Target
from monitor.figures.history import (
    PeriodFigures,
    compute,
    objective_year,
)
from monitor.figures.periods import Period
from monitor.figures.schedule import DAY_NAMES, Schedule
from monitor.store import Store

__all__ = [
    "FORMATS",
    "document",
    "gather",
    "gather_many",
    "render",
    "render_csv",
    "render_html",
    "render_json",
    "render_text",
    "render_xlsx",
]

FORMATS = ("text", "csv", "json", "html", "xlsx")
TEMPLATES = Path(__file__).parent / "templates"

Doc = dict[str, Any]

# CSV / XLSX columns: the JSON names, so a column means exactly what the JSON field means.
TARGET_COLUMNS = (
    "period",
    "kind",
    "name",
    "group",
    "objective",
    "uptime_ratio",
    "met",
    "scheduled_seconds",
    "monitored_seconds",
    "unmonitored_seconds",
    "downtime_seconds",
    "maintenance_seconds",
    "outages",
    "longest_outage_seconds",
    "error_budget_remaining_seconds",
    "what_if_schedule",
)
OUTAGE_COLUMNS = (
    "period",
    "id",
    "target",
    "start",
    "end",
    "downtime_seconds",
    "cause",
    "source",
    "excluded",
    "excluded_reason",
    "what_if_schedule",
)
MAINTENANCE_COLUMNS = ("period", "id", "scope", "start", "end", "reason")
GROUP_COLUMNS = (
    "period",
    "name",
    "objective",
    "uptime_ratio",
    "met",
    "scheduled_seconds",
    "monitored_seconds",
    "downtime_seconds",
    "error_budget_remaining_seconds",
)
SECONDS_COLUMNS = frozenset(c for c in (*TARGET_COLUMNS, *OUTAGE_COLUMNS) if c.endswith("_seconds"))
RATIO_COLUMNS = frozenset({"objective", "uptime_ratio"})

POLICY_TEXT = {
    "excluded": "unmonitored scheduled time is left out: uptime = 1 - downtime / monitored time",
    "up": "unmonitored scheduled time counts as up: uptime = 1 - downtime / scheduled time",
    "down": "unmonitored scheduled time counts as down: "
    "uptime = 1 - (downtime + unmonitored) / scheduled time",
}


# ------------------------------------------------------------------ gathering


def gather(
    config: Config,
    store: Store,
    period: Period,
    now: float,
    targets: Sequence[Target] | None = None,
    previous: Period | None = None,
    what_if_schedule: str | None = None,
) -> Doc:
    """Figures for ``period`` (and ``previous`` as the baseline) as a report document.

    ``what_if_schedule``: every figure as if each target had that schedule.
    """

    def one(p: Period) -> Doc:
        figs = compute(config, store, p, now, targets=targets, what_if_schedule=what_if_schedule)
        return document(config, figs)

    doc = one(period)
    doc["previous"] = one(previous) if previous is not None else None
    return doc


def gather_many(
    config: Config,
    store: Store,
    periods: Sequence[Period],
    now: float,
    targets: Sequence[Target] | None = None,
    what_if_schedule: str | None = None,
) -> Doc:
    """Several periods side by side: one period is exactly :func:`gather`'s document;
    several are ``{"reports": [one document per period, in the order given]}``."""
    docs = [
        gather(config, store, p, now, targets, what_if_schedule=what_if_schedule) for p in periods
    ]
    return docs[0] if len(docs) == 1 else {"reports": docs}


def is_many(doc: Doc) -> bool:
    """Whether ``doc`` holds several periods (``{"reports": [...]}``)."""
    return "reports" in doc


# ------------------------------------------------------------------ the document


def _seconds(value: float) -> float | int:
    value = round(float(value), 3)
    return int(value) if value.is_integer() else value


def _instant(ts: float | None, tz: ZoneInfo) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds")


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def describe_hours(schedule: Schedule) -> str:
    """``mon-fri 08:00-18:00; sat 09:00-12:00`` (consecutive days with equal hours joined)."""
    if schedule.always:
        return "24x7"
    by_day: list[list[str]] = [[] for _ in range(7)]
    for r in sorted(schedule.ranges):
        by_day[r.weekday].append(f"{_hhmm(r.start_minute)}-{_hhmm(r.end_minute)}")
    parts, day = [], 0
    while day < 7:
        if not by_day[day]:
            day += 1
            continue
        last = day
        while last + 1 < 7 and by_day[last + 1] == by_day[day]:
            last += 1
        days = DAY_NAMES[day] if day == last else f"{DAY_NAMES[day]}-{DAY_NAMES[last]}"
        parts.append(f"{days} {', '.join(by_day[day])}")
        day = last + 1
    return "; ".join(parts) or "never"


def _basis(config: Config, figs: PeriodFigures) -> Doc:
    """The basis of calculation (``objective_year``: the reporting year whose objectives --
    and so ``met`` and error budgets -- apply: the one containing the period's start)."""
    schedules: dict[str, Doc] = {}
    for r in figs.targets:
        schedule = (
            config.schedules[figs.what_if_schedule]
            if figs.what_if_schedule
            else config.schedule_of(r.target)
        )
        entry = schedules.setdefault(
            schedule.name,
            {
                "name": schedule.name,
                "hours": describe_hours(schedule),
                "timezone": schedule.timezone,
                "holidays": (
                    None
                    if schedule.always or schedule.holiday_country is None
                    else "-".join(filter(None, (schedule.holiday_country, schedule.holiday_subdiv)))
                ),
                "closed": sorted(d.isoformat() for d in schedule.closed),
                "targets": [],
            },
        )
        entry["targets"].append(r.target.name)
    return {
        "schedules": list(schedules.values()),
        "excluded_outages": sum(1 for o in figs.outages if o.excluded),
        "maintenance_windows": len(figs.maintenance),
        "objective_year": objective_year(config, figs.period.start),
    }


def document(config: Config, figs: PeriodFigures) -> Doc:
    """The JSON-able report document of one period (``previous`` is set by :func:`gather`).

    Field names are the machine contract of ``availmon report --format json``. ``basis``
    (schedules, exclusions) is an addition so every renderer can state the basis of
    calculation from the document alone.
    """
    tz = ZoneInfo(config.timezone)
    downtime = figs.outage_downtimes
    return {
        "period": {
            "label": figs.period.label,
            "start": _instant(figs.period.start, tz),
            "end": _instant(figs.period.end, tz),
            "timezone": config.timezone,
            "complete": figs.complete,
        },
        "generated_at": _instant(figs.now, tz),
        "unmonitored_policy": str(figs.policy),
        "what_if_schedule": figs.what_if_schedule,
        "groups": [
            {
                "name": g.name,
                "objective": g.figures.objective,
                "uptime_ratio": g.figures.uptime_ratio,
                "met": g.figures.met,
                "scheduled_seconds": _seconds(g.figures.scheduled_seconds),
                "monitored_seconds": _seconds(g.figures.monitored_seconds),
                "downtime_seconds": _seconds(g.figures.downtime_seconds),
                "error_budget_remaining_seconds": _seconds(
                    g.figures.error_budget_remaining_seconds
                ),
                "targets": list(g.targets),
            }
            for g in figs.groups
        ],
        "targets": [
            {
                "name": r.target.name,
                "group": r.target.group,
                "objective": r.figures.objective,
                "uptime_ratio": r.figures.uptime_ratio,
                "met": r.figures.met,
                "scheduled_seconds": _seconds(r.figures.scheduled_seconds),
                "monitored_seconds": _seconds(r.figures.monitored_seconds),
                "unmonitored_seconds": _seconds(r.figures.unmonitored_seconds),
                "downtime_seconds": _seconds(r.figures.downtime_seconds),
                "maintenance_seconds": _seconds(r.figures.maintenance_seconds),
                "outages": r.figures.outages,
                "longest_outage_seconds": _seconds(r.figures.longest_outage_seconds),
                "error_budget_remaining_seconds": _seconds(
                    r.figures.error_budget_remaining_seconds
                ),
            }
            for r in figs.targets
        ],
        "outages": [
            {
                "id": o.id,
                "target": o.target,
                "start": _instant(o.start, tz),
                "end": _instant(o.end, tz),
                "downtime_seconds": _seconds(downtime.get(o.id, 0.0)),
                "cause": o.cause,
                "source": o.source,
                "excluded": o.excluded,
                "excluded_reason": o.excluded_reason,
            }
            for o in figs.outages
        ],
        "maintenance": [
            {
                "id": m.id,
                "scope": m.scope,
                "start": _instant(m.start, tz),
                "end": _instant(m.end, tz),
                "reason": m.reason,
            }
            for m in figs.maintenance
        ],
        "basis": _basis(config, figs),
        "previous": None,
    }


def _periods(doc: Doc) -> list[Doc]:
    """The document and its baseline (if any), in that order."""
    return [doc] + ([doc["previous"]] if doc.get("previous") else [])


# ------------------------------------------------------------------ shared formatting


def percent(ratio: float | None) -> str:
    """``99.60%``, rounded down to two decimals; ``no data`` for no figure."""
    if ratio is None:
        return "no data"
    shown = (Decimal(repr(float(ratio))) * 100).quantize(Decimal("0.01"), rounding=ROUND_FLOOR)
    return f"{shown}%"


def duration(seconds: float | None) -> str:
    """``H:MM:SS`` (hours unbounded), rounded to the second; a leading ``-`` if negative."""
    if seconds is None:
        return ""
    whole = round(seconds)
    sign, whole = ("-" if whole < 0 else ""), abs(whole)
    return f"{sign}{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def status(met: bool | None) -> str:
    return "no data" if met is None else ("met" if met else "MISSED")


def brief(item: Doc | None) -> str:
    """``99.92% met`` / ``98.88% MISSED`` / ``no data`` (a baseline cell)."""
    if item is None:
        return ""
    if item["met"] is None:
        return percent(item["uptime_ratio"])
    return f"{percent(item['uptime_ratio'])} {status(item['met'])}"


def local(iso: str | None) -> str:
    """``2024-01-10 09:00:00`` from an ISO instant (the zone is stated once, in the basis)."""
    return "(open)" if iso is None else iso[:19].replace("T", " ")


def _schedule_lines(doc: Doc) -> list[str]:
    lines = []
    for s in doc["basis"]["schedules"]:
        extras = [f"public holidays {s['holidays']} excluded"] if s["holidays"] else []
        if s["closed"]:
            extras.append("closed " + ", ".join(s["closed"]))
        lines.append(
            f"Working hours of schedule '{s['name']}' ({s['hours']}"
            + "".join(f"; {e}" for e in extras)
            + f", {s['timezone']}) for {', '.join(s['targets'])}."
        )
    return lines


def what_if_line(doc: Doc) -> str | None:
    """The what-if warning (None for actual figures)."""
    name = doc["what_if_schedule"]
    if not name:
        return None
    return (
        f"WHAT-IF: figures as if every target had schedule '{name}' instead of its own; "
        "these are not the actual figures."
    )


def basis_lines(doc: Doc) -> list[str]:
    """The basis of calculation as sentences (text and HTML share them)."""
    basis = doc["basis"]
    lines = _schedule_lines(doc)
    if doc["what_if_schedule"]:
        lines.append(
            f"What-if: figures use schedule '{doc['what_if_schedule']}'"
            " instead of each target's own; coverage still follows each target's "
            "own schedule, so hours it was not probed are unmonitored, never up."
        )
    lines.append(f"Times are in {doc['period']['timezone']}.")
    lines.append(
        f"Unmonitored policy '{doc['unmonitored_policy']}': "
        f"{POLICY_TEXT.get(doc['unmonitored_policy'], '')}."
    )
    lines.append(
        f"Objectives and error budgets are those in force at the start of the period "
        f"(reporting year {basis['objective_year']})."
    )
    lines.append(
        f"Maintenance windows ({basis['maintenance_windows']}) are planned downtime, "
        "not scheduled time."
    )
    lines.append(
        f"Excluded outages: {basis['excluded_outages']} "
        "(marked false positives by an administrator; not counted)."
    )
    lines += _common_basis_lines()
    return lines


def _common_basis_lines() -> list[str]:
    return [
        "Detected outages count only while the monitor was probing; outages "
        "recorded by hand count over their whole span.",
        "Uptime is rounded down to two decimals; 'no data' means no monitored time. "
        "Durations are working time as hours:minutes:seconds.",
    ]


def many_basis_lines(many: Doc) -> list[str]:
    """The basis of several periods side by side; per-period facts are in the period lines."""
    first = many["reports"][0]
    schedules = list(dict.fromkeys(line for d in many["reports"] for line in _schedule_lines(d)))
    lines = schedules
    if first["what_if_schedule"]:
        lines.append(
            f"What-if: figures use schedule '{first['what_if_schedule']}'"
            " instead of each target's own; coverage still follows each target's "
            "own schedule, so hours it was not probed are unmonitored, never up."
        )
    lines.append(f"Times are in {first['period']['timezone']}.")
    lines.append(
        f"Unmonitored policy '{first['unmonitored_policy']}': "
        f"{POLICY_TEXT.get(first['unmonitored_policy'], '')}."
    )
    lines.append(
        "Each period is judged against the objectives in force at its start (its "
        "reporting year, given with the period); so are its error budgets."
    )
    lines.append(
        "Maintenance windows are planned downtime, not scheduled time; excluded "
        "outages (false positives marked by an administrator) are not counted."
    )
    lines += _common_basis_lines()
    return lines


def many_period_line(doc: Doc) -> str:
    """One period of several: its span plus the facts :func:`basis_lines` gives once."""
    basis = doc["basis"]
    return (
        f"{period_line(doc)}; objectives of {basis['objective_year']}; "
        f"{basis['maintenance_windows']} maintenance window(s); "
        f"{basis['excluded_outages']} excluded outage(s)"
    )


def period_line(doc: Doc) -> str:
    p = doc["period"]
    span = f"{local(p['start'])[:16]} to {local(p['end'])[:16]} ({p['timezone']})"
    if p["complete"]:
        return f"{p['label']}: {span}, complete"
    return (
        f"{p['label']}: {span}, NOT COMPLETE: figures to date ({local(doc['generated_at'])[:16]})"
    )


# ------------------------------------------------------------------ text


def _table(
    header: Sequence[str], rows: Iterable[Sequence[str]], right: Iterable[int] = ()
) -> list[str]:
    table = [list(header), *(list(r) for r in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    right = set(right)
    return [
        "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in table
    ]


def _previous_by_name(doc: Doc, key: str) -> dict[str, Doc]:
    previous = doc.get("previous")
    return {item["name"]: item for item in previous[key]} if previous else {}


def render_text(doc: Doc) -> str:
    out = [f"Availability report {period_line(doc)}", f"Generated {doc['generated_at']}"]
    if warning := what_if_line(doc):
        out.append(warning)
    previous = doc.get("previous")
    if previous:
        out.append(f"Compared with {period_line(previous)}")

    def with_previous(
        header: list[str], rows: list[list[str]], items: list[Doc], key: str
    ) -> tuple[list[str], list[list[str]]]:
        if not previous:
            return header, rows
        before = _previous_by_name(doc, key)
        header = [*header, "PREVIOUS"]
        rows = [[*row, brief(before.get(i["name"]))] for row, i in zip(rows, items, strict=True)]
        return header, rows

    header = [
        "GROUP",
        "OBJECTIVE",
        "UPTIME",
        "STATUS",
        "SCHEDULED",
        "MONITORED",
        "DOWNTIME",
        "BUDGET LEFT",
    ]
    rows = [
        [
            g["name"],
            percent(g["objective"]),
            percent(g["uptime_ratio"]),
            status(g["met"]),
            duration(g["scheduled_seconds"]),
            duration(g["monitored_seconds"]),
            duration(g["downtime_seconds"]),
            duration(g["error_budget_remaining_seconds"]),
        ]
        for g in doc["groups"]
    ]
    header, rows = with_previous(header, rows, doc["groups"], "groups")
    out += ["", "GROUPS", *_table(header, rows, right=[1, 2, 4, 5, 6, 7])]

    header = [
        "TARGET",
        "GROUP",
        "OBJECTIVE",
        "UPTIME",
        "STATUS",
        "SCHEDULED",
        "MONITORED",
        "UNMONITORED",
        "DOWNTIME",
        "MAINTENANCE",
        "OUTAGES",
        "LONGEST",
        "BUDGET LEFT",
    ]
    rows = [
        [
            t["name"],
            t["group"],
            percent(t["objective"]),
            percent(t["uptime_ratio"]),
            status(t["met"]),
            duration(t["scheduled_seconds"]),
            duration(t["monitored_seconds"]),
            duration(t["unmonitored_seconds"]),
            duration(t["downtime_seconds"]),
            duration(t["maintenance_seconds"]),
            str(t["outages"]),
            duration(t["longest_outage_seconds"]),
            duration(t["error_budget_remaining_seconds"]),
        ]
        for t in doc["targets"]
    ]
    header, rows = with_previous(header, rows, doc["targets"], "targets")
    out += ["", "TARGETS", *_table(header, rows, right=[2, 3, *range(5, 13)])]

    out += ["", "OUTAGES"]
    if doc["outages"]:
        out += _table(
            ["ID", "TARGET", "START", "END", "COUNTED", "SOURCE", "CAUSE", "EXCLUDED"],
            [
                [
                    str(o["id"]),
                    o["target"],
                    local(o["start"]),
                    local(o["end"]),
                    duration(o["downtime_seconds"]),
                    o["source"],
                    o["cause"],
                    f"yes: {o['excluded_reason'] or ''}".rstrip() if o["excluded"] else "no",
                ]
                for o in doc["outages"]
            ],
            right=[0, 4],
        )
    else:
        out.append("(no outages in this period)")

    out += ["", "MAINTENANCE"]
    if doc["maintenance"]:
        out += _table(
            ["ID", "SCOPE", "START", "END", "REASON"],
            [
                [
                    str(m["id"]) if m["id"] is not None else "config",
                    m["scope"],
                    local(m["start"]),
                    local(m["end"]),
                    m["reason"],
                ]
                for m in doc["maintenance"]
            ],
        )
    else:
        out.append("(no maintenance windows in this period)")

    out += ["", "BASIS OF CALCULATION", *(f"- {line}" for line in basis_lines(doc))]
    return "\n".join(out) + "\n"


def scorecard_rows(many: Doc, key: str) -> list[tuple[str, str | None, list[Doc | None]]]:
    """Rows of a side-by-side table of ``key`` ("groups" or "targets"): (name, group, one
    item per period in order, None where the period has no such entry)."""
    docs = many["reports"]
    names: dict[str, str | None] = {}
    for d in docs:
        for item in d[key]:
            names.setdefault(item["name"], item.get("group"))
    by_period = [{item["name"]: item for item in d[key]} for d in docs]
    return [
        (name, group, [items.get(name) for items in by_period]) for name, group in names.items()
    ]


def _cells(item: Doc | None) -> list[str]:
    if item is None:
        return ["", "", ""]
    return [percent(item["uptime_ratio"]), percent(item["objective"]), status(item["met"])]


def render_many_text(many: Doc) -> str:
    docs = many["reports"]
    labels = [d["period"]["label"] for d in docs]
    out = [f"Availability scorecard {', '.join(labels)}", f"Generated {docs[0]['generated_at']}"]
    if warning := what_if_line(docs[0]):
        out.append(warning)
    out += ["", "PERIODS", *(f"- {many_period_line(d)}" for d in docs)]
    sub = ["UPTIME", "OBJECTIVE", "STATUS"]
    for key, title, lead in (
        ("groups", "GROUPS", ["GROUP"]),
        ("targets", "TARGETS", ["TARGET", "GROUP"]),
    ):
        header = [""] * len(lead) + [c for label in labels for c in (label, "", "")]
        rows = [lead + sub * len(labels)]
        for name, group, items in scorecard_rows(many, key):
            first = [name] if key == "groups" else [name, group or ""]
            rows.append(first + [c for item in items for c in _cells(item)])
        out += ["", title, *_table(header, rows)]
    out += ["", "BASIS OF CALCULATION", *(f"- {line}" for line in many_basis_lines(many))]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ json


def render_json(doc: Doc) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


# ------------------------------------------------------------------ csv


def target_rows(doc: Doc) -> list[dict[str, Any]]:
    """Group rows then target rows, for the document and its baseline (CSV and XLSX)."""
    rows = []
    for d in _periods(doc):
        label = d["period"]["label"]
        what_if = {"what_if_schedule": d["what_if_schedule"]}
        rows += [
            {"period": label, "kind": "group", "group": g["name"], **g, **what_if}
            for g in d["groups"]
        ]
        rows += [{"period": label, "kind": "target", **t, **what_if} for t in d["targets"]]
    return [{c: r.get(c) for c in TARGET_COLUMNS} for r in rows]


def outage_rows(doc: Doc) -> list[dict[str, Any]]:
    return [
        {
            "period": d["period"]["label"],
            **{c: o[c] for c in OUTAGE_COLUMNS[1:-1]},
            "what_if_schedule": d["what_if_schedule"],
        }
        for d in _periods(doc)
        for o in d["outages"]
    ]


def maintenance_rows(doc: Doc) -> list[dict[str, Any]]:
    return [
        {"period": d["period"]["label"], **{c: m[c] for c in MAINTENANCE_COLUMNS[1:]}}
        for d in _periods(doc)
        for m in d["maintenance"]
    ]


def _singles(doc: Doc) -> list[Doc]:
    """The single-period documents inside ``doc`` (itself, or its ``reports``)."""
    return list(doc["reports"]) if is_many(doc) else [doc]


def _all_rows(doc: Doc, rows_of: Any) -> list[dict[str, Any]]:
    return [row for d in _singles(doc) for row in rows_of(d)]


def _csv_cell(value: Any) -> str:
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
        (OUTAGE_COLUMNS, _all_rows(doc, outage_rows))
        if section == "outages"
        else (TARGET_COLUMNS, _all_rows(doc, target_rows))
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows([_csv_cell(r[c]) for c in columns] for r in rows)
    return buffer.getvalue()


# ------------------------------------------------------------------ xlsx


def _xlsx_datetime(iso: str | None) -> datetime | None:
    """Local wall-clock time (Excel has no zones; the zone is on the Summary sheet)."""
    return None if iso is None else datetime.fromisoformat(iso).replace(tzinfo=None)


def _sheet(
    ws: Any, columns: Sequence[str], rows: list[dict[str, Any]], times: Sequence[str] = ()
) -> None:
    """A header row and one row per dict, number formats by column name."""
    from openpyxl.styles import Font

    bold = Font(bold=True)
    ws.append(list(columns))
    for cell in ws[1]:
        cell.font = bold
    for r in rows:
        ws.append([_xlsx_datetime(r[c]) if c in times else r[c] for c in columns])
    for col, name in enumerate(columns, start=1):
        fmt = (
            "0.00%"
            if name in RATIO_COLUMNS
            else "0"
            if name in SECONDS_COLUMNS
            else "yyyy-mm-dd hh:mm:ss"
            if name in times
            else None
        )
        if fmt:
            for (cell,) in ws.iter_rows(min_row=2, min_col=col, max_col=col):
                cell.number_format = fmt if fmt != "0" or isinstance(cell.value, int) else "0.000"
        width = max([len(name)] + [len(str(r[name])) for r in rows if r[name] is not None])
        ws.column_dimensions[ws.cell(1, col).column_letter].width = min(width + 2, 60)
    ws.freeze_panes = "A2"


def _finish_book(book: Any, doc: Doc) -> bytes:
    """The long-form sheets (every period's rows) and the bytes."""
    _sheet(book.create_sheet("Targets"), TARGET_COLUMNS, _all_rows(doc, target_rows))
    _sheet(
        book.create_sheet("Outages"),
        OUTAGE_COLUMNS,
        _all_rows(doc, outage_rows),
        times=("start", "end"),
    )
    _sheet(
        book.create_sheet("Maintenance"),
        MAINTENANCE_COLUMNS,
        _all_rows(doc, maintenance_rows),
        times=("start", "end"),
    )
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def render_xlsx(doc: Doc) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    if is_many(doc):
        return render_many_xlsx(doc)
    bold = Font(bold=True)
    book = Workbook()
    summary = book.active
    summary.title = "Summary"
    p = doc["period"]
    summary.append(
        ["Availability report" + (" (WHAT-IF)" if doc["what_if_schedule"] else ""), p["label"]]
    )
    summary["A1"].font = bold
    if warning := what_if_line(doc):
        summary.append([warning])
        summary.cell(summary.max_row, 1).font = bold
    for key, value in (
        ("Period start", _xlsx_datetime(p["start"])),
        ("Period end", _xlsx_datetime(p["end"])),
        ("Time zone", p["timezone"]),
        ("Complete", p["complete"]),
        ("Generated at", _xlsx_datetime(doc["generated_at"])),
        ("Unmonitored policy", doc["unmonitored_policy"]),
        ("What-if schedule", doc["what_if_schedule"]),
        ("Compared with", doc["previous"]["period"]["label"] if doc.get("previous") else None),
    ):
        summary.append([key, value])
        if isinstance(value, datetime):
            summary.cell(summary.max_row, 2).number_format = "yyyy-mm-dd hh:mm:ss"
    summary.append([])
    header_row = summary.max_row + 1
    summary.append(list(GROUP_COLUMNS))
    for cell in summary[header_row]:
        cell.font = bold
    for d in _periods(doc):
        for g in d["groups"]:
            summary.append([d["period"]["label"], *(g[c] for c in GROUP_COLUMNS[1:])])
            for col, name in enumerate(GROUP_COLUMNS, start=1):
                if name in RATIO_COLUMNS:
                    summary.cell(summary.max_row, col).number_format = "0.00%"
    summary.append([])
    summary.append(["Basis of calculation"])
    summary.cell(summary.max_row, 1).font = bold
    for line in basis_lines(doc):
        summary.append([line])
    summary.column_dimensions["A"].width = 22
    summary.column_dimensions["B"].width = 22
    return _finish_book(book, doc)


SCORECARD_SUB = ("uptime_ratio", "objective", "met")


def render_many_xlsx(many: Doc) -> bytes:
    """Summary (periods, basis), Scorecard (a column group per period), then long form."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    bold = Font(bold=True)
    docs = many["reports"]
    first = docs[0]
    book = Workbook()
    summary = book.active
    summary.title = "Summary"
    summary.append(
        [
            "Availability scorecard" + (" (WHAT-IF)" if first["what_if_schedule"] else ""),
            ", ".join(d["period"]["label"] for d in docs),
        ]
    )
    summary["A1"].font = bold
    if warning := what_if_line(first):
        summary.append([warning])
        summary.cell(summary.max_row, 1).font = bold
    for key, value in (
        ("Time zone", first["period"]["timezone"]),
        ("Generated at", _xlsx_datetime(first["generated_at"])),
        ("Unmonitored policy", first["unmonitored_policy"]),
        ("What-if schedule", first["what_if_schedule"]),
    ):
        summary.append([key, value])
        if isinstance(value, datetime):
            summary.cell(summary.max_row, 2).number_format = "yyyy-mm-dd hh:mm:ss"
    summary.append([])
    columns = (
        "period",
        "start",
        "end",
        "complete",
        "objective_year",
        "maintenance_windows",
        "excluded_outages",
    )
    summary.append(list(columns))
    for cell in summary[summary.max_row]:
        cell.font = bold
    for d in docs:
        p, basis = d["period"], d["basis"]
        summary.append(
            [
                p["label"],
                _xlsx_datetime(p["start"]),
                _xlsx_datetime(p["end"]),
                p["complete"],
                basis["objective_year"],
                basis["maintenance_windows"],
                basis["excluded_outages"],
            ]
        )
        for col in (2, 3):
            summary.cell(summary.max_row, col).number_format = "yyyy-mm-dd hh:mm:ss"
    summary.append([])
    summary.append(["Basis of calculation"])
    summary.cell(summary.max_row, 1).font = bold
    for line in many_basis_lines(many):
        summary.append([line])
    for col in "ABCDEFG":
        summary.column_dimensions[col].width = 20

    card = book.create_sheet("Scorecard")
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
                    card.cell(card.max_row, len(lead) + 1 + 3 * i + j).number_format = "0.00%"
    card.freeze_panes = "D3"
    for col in range(1, len(lead) + 3 * len(docs) + 1):
        card.column_dimensions[card.cell(2, col).column_letter].width = 14
    return _finish_book(book, many)


# ------------------------------------------------------------------ html


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _bar_chart(doc: Doc) -> Doc:
    """Geometry of the uptime bar chart: one horizontal bar per target, objective marked."""
    label_w, plot_w, row_h = 150, 430, 26
    known = [t["uptime_ratio"] for t in doc["targets"] if t["uptime_ratio"] is not None]
    lowest = min(known + [t["objective"] for t in doc["targets"]], default=0.99)
    # Axis from a whole percent below the lowest figure to 100%, so small differences show.
    axis_min = max(0.0, (int(lowest * 100) - 1) / 100)

    def x(ratio: float) -> float:
        return round(label_w + plot_w * (ratio - axis_min) / (1 - axis_min), 1)

    bars = []
    for i, t in enumerate(doc["targets"]):
        y = 24 + i * row_h
        ratio = t["uptime_ratio"]
        bars.append(
            {
                "name": t["name"],
                "y": y,
                "label_y": y + 14,
                "text": percent(ratio),
                "width": None if ratio is None else round(x(ratio) - label_w, 1),
                "cls": "nodata" if ratio is None else ("met" if t["met"] else "missed"),
                "objective_x": x(t["objective"]),
            }
        )
    ticks = []
    step = 0.01 if 1 - axis_min <= 0.1 else 0.1
    value = axis_min
    while value <= 1.0 + 1e-9:
        ticks.append({"x": x(value), "text": f"{round(value * 100, 2):g}%"})
        value = round(value + step, 4)
    return {
        "width": label_w + plot_w + 80,
        "height": 40 + len(bars) * row_h,
        "label_w": label_w,
        "plot_right": label_w + plot_w,
        "bars": bars,
        "ticks": ticks,
        "axis_bottom": 24 + len(bars) * row_h,
    }


def _month_starts(start: datetime, end: datetime) -> Iterable[datetime]:
    d = date(start.year, start.month, 1)
    while True:
        d = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
        at = datetime(d.year, d.month, 1, tzinfo=start.tzinfo)
        if at >= end:
            return
        yield at


def _timeline(doc: Doc) -> Doc:
    """Geometry of the outage timeline: one row per target over the whole period."""
    label_w, plot_w, row_h = 150, 500, 20
    tz = ZoneInfo(doc["period"]["timezone"])
    start_dt = datetime.fromisoformat(doc["period"]["start"]).astimezone(tz)
    end_dt = datetime.fromisoformat(doc["period"]["end"]).astimezone(tz)
    a, b = start_dt.timestamp(), end_dt.timestamp()
    now = _epoch(doc["generated_at"])

    def x(ts: float) -> float:
        return round(label_w + plot_w * (min(max(ts, a), b) - a) / (b - a), 1)

    names = [t["name"] for t in doc["targets"]]
    rows = [
        {"name": n, "y": 20 + i * row_h, "label_y": 20 + i * row_h + 13}
        for i, n in enumerate(names)
    ]
    row_of = {n: r for n, r in zip(names, rows, strict=True)}
    marks = []
    for o in doc["outages"]:
        row = row_of.get(o["target"])
        if row is None:
            continue
        x0 = x(_epoch(o["start"]))
        x1 = x(_epoch(o["end"]) if o["end"] else now)
        marks.append(
            {
                "x": x0,
                "y": row["y"] + 3,
                "width": max(round(x1 - x0, 1), 1.5),
                "cls": "excluded" if o["excluded"] else "outage",
                "title": f"#{o['id']} {o['target']} {local(o['start'])} to "
                f"{local(o['end'])}: {o['cause']}",
            }
        )
    maintenance_y = 20 + len(rows) * row_h
    windows = [
        {
            "x": x(_epoch(m["start"])),
            "width": max(round(x(_epoch(m["end"])) - x(_epoch(m["start"])), 1), 1.5),
            "title": f"{m['scope']} {local(m['start'])} to {local(m['end'])}: {m['reason']}",
        }
        for m in doc["maintenance"]
    ]
    span_days = (b - a) / 86400
    if span_days > 62:
        tick_times = list(_month_starts(start_dt, end_dt))
        fmt = "%b %Y"
    elif span_days > 2:
        tick_times = [
            start_dt + timedelta(days=k)
            for k in range(1, int(span_days))
            if span_days <= 14 or (start_dt + timedelta(days=k)).weekday() == 0
        ]
        fmt = "%d %b"
    else:
        tick_times = []
        fmt = "%d %b"
    axis_y = maintenance_y + row_h + 4
    ticks = [{"x": x(t.timestamp()), "text": t.strftime(fmt)} for t in tick_times]
    ticks = [{"x": label_w, "text": start_dt.strftime("%d %b %Y")}, *ticks]
    now_x = x(now) if not doc["period"]["complete"] and a < now < b else None
    return {
        "width": label_w + plot_w + 60,
        "height": axis_y + 22,
        "label_w": label_w,
        "plot_right": label_w + plot_w,
        "rows": rows,
        "marks": marks,
        "maintenance_y": maintenance_y,
        "windows": windows,
        "axis_y": axis_y,
        "ticks": ticks,
        "now_x": now_x,
        "row_h": row_h,
    }


def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(percent=percent, duration=duration, status=status, local=local, brief=brief)
    return env


def render_many_html(many: Doc) -> str:
    docs = many["reports"]
    return (
        _environment()
        .get_template("scorecard.html.j2")
        .render(
            docs=docs,
            labels=[d["period"]["label"] for d in docs],
            period_lines=[many_period_line(d) for d in docs],
            what_if=what_if_line(docs[0]),
            generated_at=docs[0]["generated_at"],
            groups=scorecard_rows(many, "groups"),
            targets=scorecard_rows(many, "targets"),
            basis=many_basis_lines(many),
        )
    )


def render_html(doc: Doc) -> str:
    if is_many(doc):
        return render_many_html(doc)
    previous = doc.get("previous")
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            doc=doc,
            previous=previous,
            period_line=period_line(doc),
            what_if=what_if_line(doc),
            previous_line=period_line(previous) if previous else None,
            prev_groups=_previous_by_name(doc, "groups"),
            prev_targets=_previous_by_name(doc, "targets"),
            chart=_bar_chart(doc),
            timeline=_timeline(doc),
            basis=basis_lines(doc),
        )
    )


# ------------------------------------------------------------------ dispatch


def render(doc: Doc, fmt: str, section: str = "targets") -> bytes:
    """The report as the bytes to write: CSV with a BOM for Excel, others UTF-8."""
    if fmt == "xlsx":
        return render_xlsx(doc)
    if fmt == "csv":
        return render_csv(doc, section).encode("utf-8-sig")
    renderer = {
        "text": render_many_text if is_many(doc) else render_text,
        "json": render_json,
        "html": render_html,
    }[fmt]
    return renderer(doc).encode("utf-8")
