"""A document as table rows: the long form (one row per period and group, target, outage
or maintenance window; CSV and XLSX) and the side-by-side scorecard (text, HTML, XLSX).

Columns carry the JSON names, so a column means exactly what the JSON field means.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monitor.report.document import singles, with_previous
from monitor.report.formatting import Doc, labels

# The figures a group row and a target row both carry, in this order.
FIGURE_COLUMNS = (
    "objective",
    "uptime_ratio",
    "coverage_ratio",
    "met",
    "status",
    "figures_from",
    "scheduled_seconds",
    "monitored_seconds",
)
TARGET_COLUMNS = (
    "period",
    "kind",
    "name",
    "group",
    *FIGURE_COLUMNS,
    "unmonitored_seconds",
    "downtime_seconds",
    "maintenance_seconds",
    "isolated_seconds",
    "unreachable_seconds",
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
    "state",
    "parent",
    "parent_outage",
    "end_reason",
    "continues",
    "note",
    "what_if_schedule",
)
MAINTENANCE_COLUMNS = ("period", "id", "scope", "start", "end", "reason")
GROUP_COLUMNS = (
    "period",
    "name",
    *FIGURE_COLUMNS,
    "downtime_seconds",
    "isolated_seconds",
    "unreachable_seconds",
    "error_budget_remaining_seconds",
)
SECONDS_COLUMNS = frozenset(c for c in (*TARGET_COLUMNS, *OUTAGE_COLUMNS) if c.endswith("_seconds"))
RATIO_COLUMNS = frozenset({"objective", "uptime_ratio", "coverage_ratio"})
# One column group per period.
SCORECARD_SUB = ("uptime_ratio", "coverage_ratio", "objective", "status")

Row = dict[str, Any]


def target_rows(doc: Doc) -> list[Row]:
    """Group rows then target rows, for the document and its baseline (CSV and XLSX)."""
    rows = []
    for d in with_previous(doc):
        label = d["period"]["label"]
        what_if = {"what_if_schedule": d["what_if_schedule"]}
        rows += [
            {"period": label, "kind": "group", "group": g["name"], **g, **what_if}
            for g in d["groups"]
        ]
        rows += [{"period": label, "kind": "target", **t, **what_if} for t in d["targets"]]
    # A target's labels (targets.yaml) as text, on the rows of targets that have some.
    return [
        {c: r.get(c) for c in TARGET_COLUMNS} | ({"labels": labels(r)} if r.get("labels") else {})
        for r in rows
    ]


def outage_rows(doc: Doc) -> list[Row]:
    return [
        {
            "period": d["period"]["label"],
            **{c: o[c] for c in OUTAGE_COLUMNS[1:-1]},
            # Only in periods recorded from several vantages (document.seen_from).
            **({"vantage": o["vantage"]} if "vantage" in o else {}),
            "what_if_schedule": d["what_if_schedule"],
        }
        for d in with_previous(doc)
        for o in d["outages"]
    ]


def outage_table(doc: Doc) -> tuple[tuple[str, ...], list[Row]]:
    """The outage columns and rows of every period in ``doc``, with a vantage column
    (after the target) only when some period was recorded from several vantages."""
    rows = all_rows(doc, outage_rows)
    if not any("vantage" in r for r in rows):
        return OUTAGE_COLUMNS, rows
    at = OUTAGE_COLUMNS.index("target") + 1
    return (*OUTAGE_COLUMNS[:at], "vantage", *OUTAGE_COLUMNS[at:]), [
        {"vantage": "", **r} for r in rows
    ]


def maintenance_rows(doc: Doc) -> list[Row]:
    return [
        {"period": d["period"]["label"], **{c: m[c] for c in MAINTENANCE_COLUMNS[1:]}}
        for d in with_previous(doc)
        for m in d["maintenance"]
    ]


def all_rows(doc: Doc, rows_of: Callable[[Doc], list[Row]]) -> list[Row]:
    """``rows_of`` every single-period document in ``doc``, in order."""
    return [row for d in singles(doc) for row in rows_of(d)]


def previous_by_name(doc: Doc, key: str) -> dict[str, Doc]:
    """The baseline's ``key`` ("groups" or "targets") by name (empty without one)."""
    previous = doc.get("previous")
    return {item["name"]: item for item in previous[key]} if previous else {}


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
