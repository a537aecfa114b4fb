"""HTML: one page from the Jinja templates (autoescaped).  The single-period page's uptime
chart and outage timeline are inline SVG whose geometry is computed here, so the
templates only place it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from monitor.report.basis import (
    basis_lines,
    many_basis_lines,
    many_period_line,
    period_line,
    what_if_line,
)
from monitor.report.document import is_many
from monitor.report.formatting import (
    Doc,
    brief,
    duration,
    labels,
    local,
    percent,
    status,
    status_class,
)
from monitor.report.rows import previous_by_name, scorecard_rows

TEMPLATES = Path(__file__).parent / "templates"


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


#: Width of the charts' drawing (SVG units, about CSS pixels): the text width of portrait
#: A4 for the summary's bar chart, of landscape A4 for the appendix's timeline.
CHART_W, TIMELINE_W = 700, 1000
#: Above this many targets the charts' rows are packed, so that a council's 40 or so
#: targets keep the bar chart on the one summary page.
ROOMY_ROWS = 12


def _label_width(names: Iterable[str]) -> int:
    """Room for the longest target name at the charts' 10px font (about 5.6px a character,
    generously), so no label runs off the left edge or is cut."""
    return max(60, round(5.6 * max((len(n) for n in names), default=0)) + 12)


def _row_height(doc: Doc, roomy: int, packed: int) -> int:
    return roomy if len(doc["targets"]) <= ROOMY_ROWS else packed


def _bar_chart(doc: Doc) -> Doc:
    """Geometry of the uptime bar chart: one horizontal bar per target, objective marked."""
    label_w = _label_width(t["name"] for t in doc["targets"])
    plot_w, row_h = CHART_W - label_w - 60, _row_height(doc, 26, 13)
    known = [t["uptime_ratio"] for t in doc["targets"] if t["uptime_ratio"] is not None]
    lowest = min(known + [t["objective"] for t in doc["targets"]], default=0.99)
    # Axis from a whole percent below the lowest figure to 100%, so small differences show.
    axis_min = max(0.0, (int(lowest * 100) - 1) / 100)

    def x(ratio: float) -> float:
        return round(label_w + plot_w * (ratio - axis_min) / (1 - axis_min), 1)

    bar_h = row_h * 5 // 8
    bars = []
    for i, t in enumerate(doc["targets"]):
        y = 24 + i * row_h
        ratio = t["uptime_ratio"]
        bars.append(
            {
                "name": t["name"],
                "y": y + (row_h - bar_h) // 2,  # the bar's top; its objective mark is taller
                "label_y": y + row_h // 2 + 4,
                "text": percent(ratio),
                "width": None if ratio is None else round(x(ratio) - label_w, 1),
                "cls": status_class(t),
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
        "width": CHART_W,
        "height": 40 + len(bars) * row_h,
        "label_w": label_w,
        "plot_right": label_w + plot_w,
        "bar_h": bar_h,
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
    """Geometry of the outage timeline: one row per target over the whole period.  An
    outage that counted no downtime (excluded, or wholly outside working hours, such as
    one on a bank holiday) is drawn as such, never like one that did."""
    names = [t["name"] for t in doc["targets"]]
    label_w = _label_width([*names, "maintenance"])
    plot_w, row_h = TIMELINE_W - label_w - 20, _row_height(doc, 20, 14)
    tz = ZoneInfo(doc["period"]["timezone"])
    start_dt = datetime.fromisoformat(doc["period"]["start"]).astimezone(tz)
    end_dt = datetime.fromisoformat(doc["period"]["end"]).astimezone(tz)
    a, b = start_dt.timestamp(), end_dt.timestamp()
    now = _epoch(doc["generated_at"])

    def x(ts: float) -> float:
        return round(label_w + plot_w * (min(max(ts, a), b) - a) / (b - a), 1)

    rows = [
        {"name": n, "y": 20 + i * row_h, "label_y": 20 + i * row_h + row_h // 2 + 4}
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
                "cls": "outage" if o["downtime_seconds"] else "uncounted",
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
        "width": TIMELINE_W,
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


#: A word with hyphens in it: a target name, a date, a span of hours (``08:00-18:00``).
_HYPHENATED = re.compile(r"[\w.:]+(?:-[\w.:]+)+")


def unbroken(text: str) -> Markup:
    """``text`` escaped, with each hyphenated word kept on one line: browsers otherwise
    break after a hyphen, so ``core-switch-1`` would print as ``core-`` / ``switch-1``."""
    return Markup(
        _HYPHENATED.sub(lambda m: f'<span class="name">{m.group(0)}</span>', str(escape(text)))
    )


def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        percent=percent,
        duration=duration,
        status=status,
        status_class=status_class,
        local=local,
        brief=brief,
        labels=labels,
        unbroken=unbroken,
    )
    return env


def _many(many: Doc) -> str:
    docs = many["reports"]
    return (
        _environment()
        .get_template("scorecard.html.j2")
        .render(
            docs=docs,
            labels=[d["period"]["label"] for d in docs],
            period_lines=[many_period_line(d) for d in docs],
            what_if=what_if_line(docs[0]),
            title=docs[0]["title"],
            generated_at=docs[0]["generated_at"],
            groups=scorecard_rows(many, "groups"),
            targets=scorecard_rows(many, "targets"),
            basis=many_basis_lines(many),
        )
    )


def render_html(doc: Doc) -> str:
    if is_many(doc):
        return _many(doc)
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
            prev_groups=previous_by_name(doc, "groups"),
            prev_targets=previous_by_name(doc, "targets"),
            chart=_bar_chart(doc),
            timeline=_timeline(doc),
            basis=basis_lines(doc),
        )
    )
