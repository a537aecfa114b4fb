"""The report document: one period's computed figures as the JSON-able reference
representation (the ``--format json`` machine contract) that every renderer reads.

Pure: it is built from a :class:`~monitor.figures.history.History` (plain data the CLI
loaded from the store) through ``history.compute``, never from the database.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import holidays

from monitor.config import Config
from monitor.figures import history
from monitor.figures.history import History, PeriodFigures
from monitor.figures.schedule import DAY_NAMES, Schedule
from monitor.figures.sla import Figures, GroupFigures, Status, judge
from monitor.report.formatting import Doc, iso_instant
from monitor.store import ISOLATION, PARENT_RECOVERED, Correction, Isolation, Outage


def gather(
    config: Config,
    recorded: History,
    previous: History | None = None,
    what_if_schedule: str | None = None,
) -> Doc:
    """The document of ``recorded``'s period, with ``previous`` as its baseline.

    ``what_if_schedule``: every figure as if each target had that schedule.
    """
    doc = document(config, history.compute(config, recorded, what_if_schedule))
    if previous is not None:
        doc["previous"] = with_baselines(
            config, document(config, history.compute(config, previous, what_if_schedule))
        )
    return doc


TYPED_IN = "typed in"  # figures_from: a reporting.baselines figure, not recorded data


def with_baselines(config: Config, doc: Doc) -> Doc:
    """A baseline period's document where each group without enough coverage takes the
    figure typed in for its reporting year (``reporting.baselines``), marked as typed in;
    a group with enough recorded data keeps its recorded figure."""
    typed = config.baselines.get(doc["basis"]["objective_year"], {})
    for g in doc["groups"]:
        ratio = typed.get(g["name"])
        if ratio is not None and g["status"] in (Status.INSUFFICIENT, Status.NO_DATA):
            met = ratio >= g["objective"]
            g.update(
                uptime_ratio=ratio,
                met=met,
                status=str(Status.MET if met else Status.MISSED),
                figures_from=TYPED_IN,
            )
    return doc


def gather_many(
    config: Config, recorded: Sequence[History], what_if_schedule: str | None = None
) -> Doc:
    """Several periods side by side: one period is exactly :func:`gather`'s document;
    several are ``{"reports": [one document per period, in the order given]}``."""
    docs = [gather(config, r, what_if_schedule=what_if_schedule) for r in recorded]
    return docs[0] if len(docs) == 1 else {"reports": docs}


def is_many(doc: Doc) -> bool:
    """Whether ``doc`` holds several periods (``{"reports": [...]}``)."""
    return "reports" in doc


def singles(doc: Doc) -> list[Doc]:
    """The single-period documents inside ``doc`` (itself, or its ``reports``)."""
    return list(doc["reports"]) if is_many(doc) else [doc]


def with_previous(doc: Doc) -> list[Doc]:
    """A single-period document and its baseline (if any), in that order."""
    return [doc] + ([doc["previous"]] if doc.get("previous") else [])


def _seconds(value: float) -> float | int:
    """Rounded to the millisecond; whole seconds as integers."""
    value = round(float(value), 3)
    return int(value) if value.is_integer() else value


def _ratio(value: float | None) -> float | None:
    """A coverage ratio to six decimals (0.0001%: finer than any report shows)."""
    return None if value is None else round(value, 6)


def describe_hours(schedule: Schedule) -> str:
    """``mon-fri 08:00-18:00; sat 09:00-12:00`` (consecutive days with equal hours joined)."""
    if schedule.always:
        return "24x7"
    by_day: list[list[str]] = [[] for _ in range(7)]
    for r in sorted(schedule.ranges):
        by_day[r.weekday].append(r.clock)
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


def _holidays_removed(schedule: Schedule, figures: PeriodFigures) -> list[Doc]:
    """The public holidays that removed working hours of ``schedule`` in the period so far
    (local dates in the schedule's zone)."""
    upto = min(figures.period.end, figures.now)
    if upto <= figures.period.start:
        return []
    first = datetime.fromtimestamp(figures.period.start, schedule.tz).date()
    last = datetime.fromtimestamp(upto - 1, schedule.tz).date()
    return [
        {"date": day.isoformat(), "name": name}
        for day, name in schedule.holidays_removed(first, last)
    ]


def _basis(config: Config, figures: PeriodFigures) -> Doc:
    """The basis of calculation (``objective_year``: the reporting year whose objectives --
    and so ``met`` and error budgets -- apply: the one containing the period's start;
    ``holidays_version``: the ``holidays`` package that said which days were holidays)."""
    schedules: dict[str, Doc] = {}
    for r in figures.targets:
        schedule = (
            config.schedules[figures.what_if_schedule]
            if figures.what_if_schedule
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
                "holidays_removed": _holidays_removed(schedule, figures),
                "closed": sorted(d.isoformat() for d in schedule.closed),
                "targets": [],
            },
        )
        entry["targets"].append(r.target.name)
    # Only with several vantages, so that a one-instance report is as it was.
    several = (
        {"vantages": list(figures.vantages), "vantage_quorum": config.vantage_quorum}
        if len(figures.vantages) > 1
        else {}
    )
    return {
        "schedules": list(schedules.values()),
        "excluded_outages": sum(1 for o in figures.outages if o.excluded),
        "maintenance_windows": len(figures.maintenance),
        "objective_year": history.objective_year(config, figures.period.start),
        "unreachable_policy": config.unreachable,
        "unreachable_outages": sum(1 for o in figures.outages if o.unreachable),
        "isolations": len(figures.isolations),
        "isolated_working_seconds": _seconds(figures.isolated_working_seconds),
        "holidays_version": holidays.__version__,
        **several,
    }


def parent_outage(outage: Outage, outages: Sequence[Outage]) -> int | None:
    """The parent's outage that made ``outage`` unreachable: the one open at its start
    (None when the parent is not in the report or had only begun failing)."""
    if not outage.unreachable:
        return None
    return next(
        (
            p.id
            for p in outages
            if p.target == outage.parent
            and p.start <= outage.start
            and (p.end is None or p.end > outage.start)
        ),
        None,
    )


def outage_record(outage: Outage, tz: ZoneInfo, shown: Sequence[Outage]) -> Doc:
    """An outage as reports and ``outages list`` show it, with why it is what it is
    (``shown``: the outages beside it, where its parent's may be)."""
    parent = parent_outage(outage, shown)
    return {
        "id": outage.id,
        "target": outage.target,
        "start": iso_instant(outage.start, tz),
        "end": iso_instant(outage.end, tz),
        "cause": outage.cause,
        "source": outage.source,
        "excluded": outage.excluded,
        "excluded_reason": outage.excluded_reason,
        "state": outage.state,
        "parent": outage.parent,
        "parent_outage": parent,
        "end_reason": outage.end_reason,
        "continues": outage.continues,
        "note": outage_note(outage, parent),
    }


def correction_record(correction: Correction, tz: ZoneInfo) -> Doc:
    """One entry of the audit trail: who did what to which outage or window, when and why,
    and what an edited or deleted outage was."""
    was = json.loads(correction.detail) if correction.detail else None
    if was is not None:
        was.update(start=iso_instant(was["start"], tz), end=iso_instant(was["end"], tz))
    return {
        "at": iso_instant(correction.at, tz),
        "user": correction.user,
        "action": correction.action,
        "subject": correction.subject_id,
        "reason": correction.reason,
        "was": was,
    }


def outage_note(outage: Outage, parent_outage: int | None) -> str | None:
    """Why an outage is what it is, for a reader: unreachable behind which parent outage,
    cut short by the monitor's isolation, or the continuation of an earlier one."""
    notes = []
    if outage.unreachable:
        which = f" (outage {parent_outage})" if parent_outage is not None else ""
        notes.append(f"unreachable: {outage.parent} was down{which}")
    if outage.continues is not None:
        notes.append(f"continues outage {outage.continues}")
    if outage.end_reason == ISOLATION:
        notes.append("ended where the monitor was cut off (isolated)")
    elif outage.end_reason == PARENT_RECOVERED:
        notes.append(f"ended when {outage.parent} answered again")
    return "; ".join(notes) or None


def document(config: Config, figures: PeriodFigures) -> Doc:
    """The JSON-able report document of one period (``previous`` is set by :func:`gather`).

    Field names are the machine contract of ``availmon report --format json``. ``basis``
    (schedules, exclusions) is an addition so every renderer can state the basis of
    calculation from the document alone.
    """
    tz = ZoneInfo(config.timezone)
    downtime = figures.outage_downtimes
    several = len(figures.vantages) > 1  # then each outage and isolation says where from

    def seen_from(record: Outage | Isolation) -> Doc:
        return {"vantage": record.vantage} if several else {}

    def judged(f: Figures | GroupFigures) -> Doc:
        return {
            "coverage_ratio": _ratio(f.coverage_ratio),
            "status": str(judge(f, figures.complete, config.minimum_coverage)),
        }

    return {
        "period": {
            "label": figures.period.label,
            "start": iso_instant(figures.period.start, tz),
            "end": iso_instant(figures.period.end, tz),
            "timezone": config.timezone,
            "complete": figures.complete,
        },
        "title": config.title,
        "generated_at": iso_instant(figures.now, tz),
        "unmonitored_policy": str(figures.policy),
        "what_if_schedule": figures.what_if_schedule,
        "groups": [
            {
                "name": g.name,
                "objective": g.figures.objective,
                "uptime_ratio": g.figures.uptime_ratio,
                "met": g.figures.met,
                **judged(g.figures),
                "figures_from": "recorded",
                "scheduled_seconds": _seconds(g.figures.scheduled_seconds),
                "monitored_seconds": _seconds(g.figures.monitored_seconds),
                "downtime_seconds": _seconds(g.figures.downtime_seconds),
                "isolated_seconds": _seconds(g.figures.isolated_seconds),
                "unreachable_seconds": _seconds(g.figures.unreachable_seconds),
                "error_budget_remaining_seconds": _seconds(
                    g.figures.error_budget_remaining_seconds
                ),
                "targets": list(g.targets),
            }
            for g in figures.groups
        ],
        "targets": [
            {
                "name": r.target.name,
                "group": r.target.group,
                # Only with labels, so that a report without any is as it was.
                **({"labels": dict(r.target.labels)} if r.target.labels else {}),
                "objective": r.figures.objective,
                "uptime_ratio": r.figures.uptime_ratio,
                "met": r.figures.met,
                **judged(r.figures),
                "scheduled_seconds": _seconds(r.figures.scheduled_seconds),
                "monitored_seconds": _seconds(r.figures.monitored_seconds),
                "unmonitored_seconds": _seconds(r.figures.unmonitored_seconds),
                "downtime_seconds": _seconds(r.figures.downtime_seconds),
                "maintenance_seconds": _seconds(r.figures.maintenance_seconds),
                "isolated_seconds": _seconds(r.figures.isolated_seconds),
                "unreachable_seconds": _seconds(r.figures.unreachable_seconds),
                "outages": r.figures.outages,
                "longest_outage_seconds": _seconds(r.figures.longest_outage_seconds),
                "error_budget_remaining_seconds": _seconds(
                    r.figures.error_budget_remaining_seconds
                ),
            }
            for r in figures.targets
        ],
        "outages": [
            {
                **outage_record(o, tz, figures.outages),
                **seen_from(o),
                "downtime_seconds": _seconds(downtime.get(o.id, 0.0)),
            }
            for o in figures.outages
        ],
        "isolations": [
            {
                "id": i.id,
                "start": iso_instant(i.start, tz),
                "end": iso_instant(i.end, tz),
                "witnesses": list(i.witnesses),
                **seen_from(i),
            }
            for i in figures.isolations
        ],
        "maintenance": [
            {
                "id": m.id,
                "scope": m.scope,
                "start": iso_instant(m.start, tz),
                "end": iso_instant(m.end, tz),
                "reason": m.reason,
            }
            for m in figures.maintenance
        ],
        "corrections": [correction_record(c, tz) for c in figures.corrections],
        "basis": _basis(config, figures),
        "minimum_coverage": config.minimum_coverage,
        "previous": None,
    }
