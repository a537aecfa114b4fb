"""The sentences that state how a report's figures were reached (text, HTML and XLSX share
them): the period line, the what-if warning and the basis of calculation."""

from __future__ import annotations

from monitor.report.formatting import Doc, duration, local, percent

POLICY_TEXT = {
    "excluded": "unmonitored scheduled time is left out: uptime = 1 - downtime / monitored time",
    "up": "unmonitored scheduled time counts as up: uptime = 1 - downtime / scheduled time",
    "down": "unmonitored scheduled time counts as down: "
    "uptime = 1 - (downtime + unmonitored) / scheduled time",
}


def period_line(doc: Doc) -> str:
    p = doc["period"]
    span = f"{local(p['start'])[:16]} to {local(p['end'])[:16]} ({p['timezone']})"
    if p["complete"]:
        return f"{p['label']}: {span}, complete"
    return (
        f"{p['label']}: {span}, NOT COMPLETE: figures to date ({local(doc['generated_at'])[:16]})"
    )


def many_period_line(doc: Doc) -> str:
    """One period of several: its span plus the facts :func:`basis_lines` gives once."""
    basis = doc["basis"]
    return (
        f"{period_line(doc)}; objectives of {basis['objective_year']}; "
        f"{basis['maintenance_windows']} maintenance window(s); "
        f"{basis['excluded_outages']} excluded outage(s)"
    )


def what_if_line(doc: Doc) -> str | None:
    """The what-if warning (None for actual figures)."""
    name = doc["what_if_schedule"]
    if not name:
        return None
    return (
        f"WHAT-IF: figures as if every target had schedule '{name}' instead of its own; "
        "these are not the actual figures."
    )


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


def holiday_lines(doc: Doc) -> list[str]:
    """Which public holidays removed working hours in the period, schedule by schedule, and
    the ``holidays`` release that said so: the calendar an auditor rebuilds scheduled time
    from."""
    return [
        f"Public holidays that removed working hours of schedule '{s['name']}' in "
        f"{doc['period']['label']} (holidays {doc['basis']['holidays_version']}): "
        + (", ".join(f"{h['date']} {h['name']}" for h in s["holidays_removed"]) or "none")
        + "."
        for s in doc["basis"]["schedules"]
        if s["holidays"]
    ]


def _lines(docs: list[Doc], per_period: list[str]) -> list[str]:
    """The basis of ``docs`` (one or several periods of one report): schedules, what-if,
    zone and policy, then ``per_period`` (objectives, maintenance, exclusions), then the
    rules every report shares."""
    first = docs[0]
    lines = list(
        dict.fromkeys(line for d in docs for line in [*_schedule_lines(d), *holiday_lines(d)])
    )
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
    return [
        *lines,
        *per_period,
        "Detected outages count only while the monitor was probing; outages "
        "recorded by hand count over their whole span.",
        "Uptime is rounded down to two decimals; 'no data' means no monitored time. "
        "Durations are working time as hours:minutes:seconds.",
        f"Coverage is monitored / scheduled time; below {percent(first['minimum_coverage'])} "
        "a figure reads 'insufficient data', never met or MISSED, unless its downtime alone "
        "spent the budget. An unfinished period reads 'on track' or 'at risk' (the budget "
        "left against the allowance for the scheduled time still to come).",
        *(
            [
                "Previous-period figures marked '(typed in)' are baselines from before availmon "
                "(reporting.baselines), used where too little was recorded."
            ]
            if any(
                g.get("figures_from") == "typed in"
                for d in docs
                for g in (d.get("previous") or {}).get("groups", [])
            )
            else []
        ),
    ]


UNREACHABLE_TEXT = {
    "down": "counts as downtime (the users behind the parent lost the service)",
    "unmonitored": "is unmonitored (the monitor could not see the target)",
}


def vantage_lines(doc: Doc) -> list[str]:
    """How several vantages' views were made one (nothing for one vantage)."""
    names = doc["basis"].get("vantages")
    if not names:
        return []
    quorum = doc["basis"]["vantage_quorum"]
    agree = (
        "all of the vantages monitoring it then saw it fail"
        if quorum is None
        else f"at least {quorum} of the vantages monitoring it then saw it fail (all of "
        f"them, when fewer than {quorum} were monitoring)"
    )
    return [
        f"Figures combine {len(names)} vantages ({', '.join(names)}): a second is monitored "
        f"when any of them was monitoring the target, and down only when {agree}; a "
        "vantage stopped or isolated is not monitoring. Each outage names the vantage that "
        "recorded it; one failure recorded from several vantages is one outage in the "
        "targets' counts."
    ]


def fault_lines(doc: Doc) -> list[str]:
    """The monitor's own faults in the period, when there were any: isolations (unmonitored
    time) and unreachable outages (behind a failed parent)."""
    basis = doc["basis"]
    lines = []
    if basis["isolations"] and basis.get("vantages"):
        lines.append(
            f"A vantage was isolated {basis['isolations']} time(s), for "
            f"{duration(basis['isolated_working_seconds'])} of working hours (its witness "
            "targets failed): its view is left out then, and time no other vantage "
            "monitored is unmonitored, never down."
        )
    elif basis["isolations"]:
        lines.append(
            f"The monitor was isolated {basis['isolations']} time(s), for "
            f"{duration(basis['isolated_working_seconds'])} of working hours (its witness "
            "targets failed, so it could see nothing): that time is unmonitored, never down, "
            "and no outage was opened in it."
        )
    if basis["unreachable_outages"]:
        lines.append(
            f"Unreachable outages: {basis['unreachable_outages']} (the target failed while "
            "a target it depends on was down; each names that parent). Unreachable time "
            f"{UNREACHABLE_TEXT[basis['unreachable_policy']]}."
        )
    return lines


def basis_lines(doc: Doc) -> list[str]:
    """The basis of calculation of one period, as sentences."""
    basis = doc["basis"]
    return _lines(
        [doc],
        [
            f"Objectives and error budgets are those in force at the start of the period "
            f"(reporting year {basis['objective_year']}).",
            f"Maintenance windows ({basis['maintenance_windows']}) are planned downtime, "
            "not scheduled time.",
            f"Excluded outages: {basis['excluded_outages']} "
            "(marked false positives by an administrator; not counted).",
            *vantage_lines(doc),
            *fault_lines(doc),
        ],
    )


def many_basis_lines(many: Doc) -> list[str]:
    """The basis of several periods side by side; per-period facts are in the period lines."""
    return _lines(
        many["reports"],
        [
            "Each period is judged against the objectives in force at its start (its "
            "reporting year, given with the period); so are its error budgets.",
            "Maintenance windows are planned downtime, not scheduled time; excluded "
            "outages (false positives marked by an administrator) are not counted.",
        ],
    )
