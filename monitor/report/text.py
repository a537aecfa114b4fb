"""Plain text: one period (with its baseline) or several side by side."""

from __future__ import annotations

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
    table,
    trail_line,
)
from monitor.report.rows import previous_by_name, scorecard_rows

# The figures every group and target row shows, in this order (_figures).
FIGURES = ["OBJECTIVE", "UPTIME", "COVERAGE", "STATUS", "SCHEDULED", "MONITORED"]


def _figures(item: Doc) -> list[str]:
    return [
        percent(item["objective"]),
        percent(item["uptime_ratio"]),
        percent(item["coverage_ratio"]),
        status(item),
        duration(item["scheduled_seconds"]),
        duration(item["monitored_seconds"]),
    ]


def render_text(doc: Doc) -> str:
    return _many(doc) if is_many(doc) else _single(doc)


def _single(doc: Doc) -> str:
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
        before = previous_by_name(doc, key)
        header = [*header, "PREVIOUS"]
        rows = [[*row, brief(before.get(i["name"]))] for row, i in zip(rows, items, strict=True)]
        return header, rows

    header = ["GROUP", *FIGURES, "DOWNTIME", "BUDGET LEFT"]
    rows = [
        [
            g["name"],
            *_figures(g),
            duration(g["downtime_seconds"]),
            duration(g["error_budget_remaining_seconds"]),
        ]
        for g in doc["groups"]
    ]
    header, rows = with_previous(header, rows, doc["groups"], "groups")
    out += ["", "GROUPS", *table(header, rows, right=[1, 2, 3, 5, 6, 7, 8])]

    # Isolated and unreachable time get columns only in periods that had some.
    faults = [
        (title, key)
        for title, key in (("ISOLATED", "isolated_seconds"), ("UNREACHABLE", "unreachable_seconds"))
        if any(t[key] for t in doc["targets"])
    ]
    # A labels column only when some target has labels (targets.yaml `labels:`).
    with_labels = any(t.get("labels") for t in doc["targets"])
    header = [
        "TARGET",
        "GROUP",
        *(["LABELS"] if with_labels else []),
        *FIGURES,
        "UNMONITORED",
        "DOWNTIME",
        *(title for title, _ in faults),
        "MAINTENANCE",
        "OUTAGES",
        "LONGEST",
        "BUDGET LEFT",
    ]
    rows = [
        [
            t["name"],
            t["group"],
            *([labels(t)] if with_labels else []),
            *_figures(t),
            duration(t["unmonitored_seconds"]),
            duration(t["downtime_seconds"]),
            *(duration(t[key]) for _, key in faults),
            duration(t["maintenance_seconds"]),
            str(t["outages"]),
            duration(t["longest_outage_seconds"]),
            duration(t["error_budget_remaining_seconds"]),
        ]
        for t in doc["targets"]
    ]
    header, rows = with_previous(header, rows, doc["targets"], "targets")
    shift = int(with_labels)
    right = [2 + shift, 3 + shift, 4 + shift, *range(6 + shift, 14 + shift + len(faults))]
    out += ["", "TARGETS", *table(header, rows, right=right)]

    # A vantage column only when the period's records came from several (basis).
    several = bool(doc["basis"].get("vantages"))
    out += ["", "OUTAGES"]
    if doc["outages"]:
        out += table(
            [
                "ID",
                "TARGET",
                *(["VANTAGE"] if several else []),
                "START",
                "END",
                "COUNTED",
                "SOURCE",
                "CAUSE",
                "EXCLUDED",
            ],
            [
                [
                    str(o["id"]),
                    o["target"],
                    *([o["vantage"]] if several else []),
                    local(o["start"]),
                    local(o["end"]),
                    duration(o["downtime_seconds"]),
                    o["source"],
                    f"{o['cause']} [{o['note']}]" if o["note"] else o["cause"],
                    f"yes: {o['excluded_reason'] or ''}".rstrip() if o["excluded"] else "no",
                ]
                for o in doc["outages"]
            ],
            right=[0, 4 + several],
        )
    else:
        out.append("(no outages in this period)")

    if doc["isolations"]:
        out += [
            "",
            "MONITOR ISOLATED (unmonitored from that vantage)"
            if several
            else "MONITOR ISOLATED (unmonitored for every target)",
            *table(
                ["ID", *(["VANTAGE"] if several else []), "START", "END", "WITNESSES"],
                [
                    [
                        str(i["id"]),
                        *([i["vantage"]] if several else []),
                        local(i["start"]),
                        local(i["end"]),
                        ", ".join(i["witnesses"]),
                    ]
                    for i in doc["isolations"]
                ],
                right=[0],
            ),
        ]

    out += ["", "MAINTENANCE"]
    if doc["maintenance"]:
        out += table(
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

    if doc["corrections"]:
        out += ["", "CORRECTIONS", *(trail_line(c) for c in doc["corrections"])]

    out += ["", "BASIS OF CALCULATION", *(f"- {line}" for line in basis_lines(doc))]
    return "\n".join(out) + "\n"


def _cells(item: Doc | None) -> list[str]:
    if item is None:
        return ["", "", "", ""]
    return [
        percent(item["uptime_ratio"]),
        percent(item["coverage_ratio"]),
        percent(item["objective"]),
        status(item),
    ]


def _many(many: Doc) -> str:
    docs = many["reports"]
    labels = [d["period"]["label"] for d in docs]
    out = [f"Availability scorecard {', '.join(labels)}", f"Generated {docs[0]['generated_at']}"]
    if warning := what_if_line(docs[0]):
        out.append(warning)
    out += ["", "PERIODS", *(f"- {many_period_line(d)}" for d in docs)]
    sub = ["UPTIME", "COVERAGE", "OBJECTIVE", "STATUS"]
    for key, title, lead in (
        ("groups", "GROUPS", ["GROUP"]),
        ("targets", "TARGETS", ["TARGET", "GROUP"]),
    ):
        header = [""] * len(lead) + [c for label in labels for c in (label, "", "", "")]
        rows = [lead + sub * len(labels)]
        for name, group, items in scorecard_rows(many, key):
            first = [name] if key == "groups" else [name, group or ""]
            rows.append(first + [c for item in items for c in _cells(item)])
        out += ["", title, *table(header, rows)]
    out += ["", "BASIS OF CALCULATION", *(f"- {line}" for line in many_basis_lines(many))]
    return "\n".join(out) + "\n"
