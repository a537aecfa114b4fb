"""How figures are written for people: percentages, durations, instants, plain-text tables.

One definition of each, shared by every renderer and by ``availmon outages list`` /
``maintenance list``, so a value reads the same wherever it is shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any
from zoneinfo import ZoneInfo

Doc = dict[str, Any]  # a report document (or part of one): JSON-able


def iso_instant(ts: float | None, tz: ZoneInfo) -> str | None:
    """ISO 8601 to the second, with the offset of ``tz``; None stays None (open end)."""
    return None if ts is None else datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds")


def local(iso: str | None) -> str:
    """``2024-01-10 09:00:00`` from an ISO instant (the zone is stated once, in the basis)."""
    return "(open)" if iso is None else iso[:19].replace("T", " ")


def percent(ratio: float | None) -> str:
    """``99.60%``, rounded down to two decimals; ``no data`` for no figure."""
    if ratio is None:
        return "no data"
    shown = (Decimal(repr(float(ratio))) * 100).quantize(Decimal("0.01"), rounding=ROUND_FLOOR)
    return f"{shown}%"


def duration(seconds: float | None) -> str:
    """``H:MM:SS`` (hours unbounded), rounded to the second; a leading ``-`` if negative,
    even when it rounds to nothing (a budget overrun by 0.4 s is ``-0:00:00``, not zero)."""
    if seconds is None:
        return ""
    sign, whole = ("-" if seconds < 0 else ""), abs(round(seconds))
    return f"{sign}{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def trail_line(correction: Doc) -> str:
    """``#7 outage-edit at ... by alice: why (was web ... to ..., cause)``: one correction."""
    was = correction["was"]
    return (
        f"#{correction['subject']} {correction['action']} at {correction['at']} by "
        f"{correction['user']}"
        + (f": {correction['reason']}" if correction["reason"] else "")
        + (f" (was {was['target']} {was['start']} to {was['end']}, {was['cause']})" if was else "")
    )


def status(item: Doc) -> str:
    """``met``, ``MISSED``, ``insufficient data``, ``on track``, ``at risk`` or ``no data``."""
    return str(item["status"])


def status_class(item: Doc) -> str:
    """The CSS class of a status: good news, bad news, or nothing to judge by."""
    return {"met": "met", "on track": "met", "MISSED": "missed", "at risk": "missed"}.get(
        item["status"], "nodata"
    )


def labels(target: Doc) -> str:
    """A target's labels from targets.yaml as ``owner=networks site=Depot`` ("" without)."""
    return " ".join(f"{name}={value}" for name, value in target.get("labels", {}).items())


def brief(item: Doc | None) -> str:
    """``99.92% met`` / ``98.88% MISSED`` / ``99.60% met (typed in)`` / ``no data``
    (a baseline cell)."""
    if item is None:
        return ""
    if item["uptime_ratio"] is None:
        return percent(None)
    typed = " (typed in)" if item.get("figures_from") == "typed in" else ""
    return f"{percent(item['uptime_ratio'])} {status(item)}{typed}"


def table(
    header: Sequence[str], rows: Iterable[Sequence[str]], right: Iterable[int] = ()
) -> list[str]:
    """Aligned plain-text lines: columns padded to their widest cell, ``right`` ones
    right-aligned, trailing spaces trimmed."""
    cells = [list(header), *(list(r) for r in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    right = set(right)
    return [
        "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in cells
    ]
