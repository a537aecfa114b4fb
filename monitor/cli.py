"""The ``availmon`` command.

Every user mistake ends in one ``availmon: error: ...`` line per problem and
exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import logging
import math
import os
import sys
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from monitor import __version__, webconfig
from monitor import config as config_mod
from monitor.daemon import check_probe_types
from monitor.figures.history import MAINTENANCE_ACTIONS, OUTAGE_ACTIONS, describe_scope
from monitor.figures.schedule import ScheduleError, parse_weekly
from monitor.probes import probe_once
from monitor.probes._common import show
from monitor.probes.base import ProbeSetupError
from monitor.report.document import correction_record, outage_record
from monitor.report.formatting import duration, iso_instant, table, trail_line
from monitor.shard import owned_targets, parse_shard
from monitor.store import (
    DETECTED_IS_EVIDENCE,
    Correction,
    Outage,
    Store,
    StoreError,
    open_store,
    shown,
)
from monitor.store.copy import copy_history

USAGE_ERROR = 2


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit 2."""


DATE_TIME_HELP = (
    "date or date-time, 2024-05-15T09:00 or 15/05/2024 09:00 (day first); local time "
    "unless it has an offset"
)


def _add_common(parser: argparse.ArgumentParser, db: bool = True) -> None:
    parser.add_argument(
        "-c",
        "--config",
        default=os.environ.get("AVAILMON_CONFIG", "targets.yaml"),
        help="targets file (default: $AVAILMON_CONFIG or ./targets.yaml)",
    )
    if db:
        parser.add_argument(
            "--db",
            help="SQLite database file or postgresql:// URL (default: storage.url, else "
            "$STATE_DIRECTORY/availmon.db under systemd, else storage.path, else ./availmon.db)",
        )


def _add_create(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--create",
        action="store_true",
        help="start a new database if there is none (without it a mistyped --db is refused)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="availmon", description="Working-hours availability monitoring."
    )
    parser.add_argument("--version", action="version", version=f"availmon {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the monitoring daemon")
    _add_common(run)
    run.add_argument(
        "--listen",
        help="HOST:PORT for /metrics (default: listen in the config, "
        f"else 0.0.0.0:{config_mod.DEFAULT_PORT})",
    )
    run.add_argument(
        "--shard", metavar="K/N", help="probe only this instance's share of the targets (K of N)"
    )
    run.add_argument(
        "--instance",
        metavar="NAME",
        help="this daemon's name on a shared database, unique among them (default: the host name)",
    )
    run.add_argument(
        "--vantage",
        metavar="NAME",
        help="where this daemon probes from; daemons probing the same targets from "
        "elsewhere give other names (default: the instance name)",
    )
    run.add_argument(
        "--fleet-figures",
        action="store_true",
        help="also export the whole fleet's combined figures (every target, every vantage) "
        "from the shared database, recomputed every two probe intervals",
    )
    run.add_argument(
        "--web-config",
        metavar="FILE",
        help="TLS and basic auth for /metrics, in the Prometheus exporters' "
        "web configuration format",
    )

    check = commands.add_parser("check", help="validate the targets file")
    _add_common(check, db=False)
    check.add_argument("--shard", metavar="K/N", help="list the targets instance K of N owns")

    probe = commands.add_parser("probe", help="probe targets once now and print the results")
    _add_common(probe, db=False)
    probe.add_argument("names", nargs="*", metavar="NAME")
    probe.add_argument("--all", action="store_true", help="probe every target")
    probe.add_argument(
        "--group", action="append", default=[], metavar="G", help="probe every target in G"
    )

    outages = commands.add_parser("outages", help="recorded outages")
    outage_commands = outages.add_subparsers(
        dest="outages_command", required=True, metavar="COMMAND"
    )
    listing = outage_commands.add_parser("list", help="list outages")
    _add_common(listing)
    listing.add_argument("--target")
    listing.add_argument("--since", help=DATE_TIME_HELP)
    listing.add_argument("--format", choices=["text", "json"], default="text")
    add = outage_commands.add_parser("add", help="record an outage known from elsewhere")
    _add_common(add)
    add.add_argument("--target", required=True)
    add.add_argument("--start", required=True, help=DATE_TIME_HELP)
    add.add_argument("--end", required=True, help=DATE_TIME_HELP)
    add.add_argument("--cause", required=True)
    _add_create(add)
    exclude = outage_commands.add_parser("exclude", help="mark an outage as a false positive")
    _add_common(exclude)
    exclude.add_argument("id", type=int)
    exclude.add_argument("--reason", required=True)
    include = outage_commands.add_parser("include", help="undo an exclusion")
    _add_common(include)
    include.add_argument("id", type=int)
    edit = outage_commands.add_parser("edit", help="correct an outage added by hand")
    _add_common(edit)
    edit.add_argument("id", type=int)
    edit.add_argument("--start", help=DATE_TIME_HELP)
    edit.add_argument("--end", help=DATE_TIME_HELP)
    edit.add_argument("--cause")
    edit.add_argument("--reason", required=True, help="why, for the audit trail")
    delete = outage_commands.add_parser("delete", help="delete an outage added by hand")
    _add_common(delete)
    delete.add_argument("id", type=int)
    delete.add_argument("--reason", required=True, help="why, for the audit trail")

    maintenance = commands.add_parser("maintenance", help="planned maintenance windows")
    maintenance_commands = maintenance.add_subparsers(
        dest="maintenance_command", required=True, metavar="COMMAND"
    )
    madd = maintenance_commands.add_parser("add", help="add a maintenance window")
    _add_common(madd)
    scope = madd.add_mutually_exclusive_group(required=True)
    scope.add_argument("--target")
    scope.add_argument("--group")
    scope.add_argument("--all", action="store_true")
    madd.add_argument(
        "--weekly",
        metavar="'DAYS HH:MM-HH:MM'",
        help='recurring, e.g. "tue 07:00-08:00" (then --start/--end bound it; both optional)',
    )
    madd.add_argument("--start", help=DATE_TIME_HELP)
    madd.add_argument("--end", help=DATE_TIME_HELP)
    madd.add_argument("--reason", required=True)
    _add_create(madd)
    mlist = maintenance_commands.add_parser("list", help="list maintenance windows")
    _add_common(mlist)
    mlist.add_argument("--format", choices=["text", "json"], default="text")
    mremove = maintenance_commands.add_parser(
        "remove", help="take a maintenance window out of the figures (the trail keeps it)"
    )
    _add_common(mremove)
    mremove.add_argument("id", type=int)
    mremove.add_argument("--reason", required=True, help="why, for the audit trail")

    coverage = commands.add_parser(
        "coverage", help="time another source watched (history from before availmon)"
    )
    coverage_commands = coverage.add_subparsers(
        dest="coverage_command", required=True, metavar="COMMAND"
    )
    cadd = coverage_commands.add_parser(
        "add", help="declare a span watched by another source, during working hours"
    )
    _add_common(cadd)
    scope = cadd.add_mutually_exclusive_group(required=True)
    scope.add_argument("--target")
    scope.add_argument("--group")
    scope.add_argument("--all", action="store_true")
    cadd.add_argument("--start", required=True, help=DATE_TIME_HELP)
    cadd.add_argument("--end", required=True, help=DATE_TIME_HELP)
    cadd.add_argument("--source", required=True, help='who watched, e.g. "Nagios"')
    _add_create(cadd)
    clist = coverage_commands.add_parser("list", help="list declared spans with their audit")
    _add_common(clist)
    clist.add_argument("--format", choices=["text", "json"], default="text")
    cremove = coverage_commands.add_parser("remove", help="withdraw a declared span")
    _add_common(cremove)
    cremove.add_argument("id", type=int)

    db = commands.add_parser("db", help="the database as a whole")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    dcopy = db_commands.add_parser(
        "copy",
        help="copy the whole history into another database (SQLite to PostgreSQL or back)",
    )
    dcopy.add_argument("source", metavar="SRC", help="SQLite file or postgresql:// URL")
    dcopy.add_argument(
        "destination", metavar="DST", help="SQLite file or postgresql:// URL, new or empty"
    )
    dcopy.add_argument(
        "--force", action="store_true", help="replace a destination that already holds history"
    )

    report = commands.add_parser("report", help="availability figures for a period")
    _add_common(report)
    report.add_argument(
        "--period",
        metavar="LABEL",
        action="append",
        default=[],
        help="2024-Q1, 2024-03, 2023/24, 2023/24-H2, 2024-W10, 2024-03-05 ... "
        "(repeat it for several periods side by side)",
    )
    report.add_argument(
        "--years",
        type=int,
        metavar="N",
        help="the current reporting year to date and the N before it, side by side",
    )
    report.add_argument(
        "--schedule",
        metavar="NAME",
        help="what-if: figures as if every target had this schedule (a named schedule or 'always')",
    )
    report.add_argument(
        "--from",
        dest="from_date",
        metavar="DATE",
        help="first local day, 2024-04-01 or 01/04/2024 (day first; with --to)",
    )
    report.add_argument(
        "--to",
        dest="to_date",
        metavar="DATE",
        help="last local day, inclusive (with --from)",
    )
    report.add_argument(
        "--group",
        action="append",
        default=[],
        metavar="G",
        help="only this group's targets (repeatable)",
    )
    report.add_argument(
        "--target", action="append", default=[], metavar="T", help="only this target (repeatable)"
    )
    report.add_argument(
        "--compare",
        choices=["previous"],
        help="add the previous period of the same kind as a baseline",
    )
    report.add_argument("--format", choices=["text", "csv", "json", "html", "xlsx"], default="text")
    report.add_argument(
        "--section",
        choices=["targets", "outages"],
        help="CSV only: the targets table (default) or the outage list",
    )
    report.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        # journald stamps lines itself; elsewhere a timestamp helps.
        format="%(levelname)s %(message)s"
        if os.environ.get("JOURNAL_STREAM")
        else "%(asctime)s %(levelname)s %(message)s",
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per job run is noise
    try:
        return COMMANDS[args.command](args)
    except config_mod.ConfigError as exc:
        for line in exc.problems:
            print(f"availmon: error: {line}", file=sys.stderr)
    except (UserError, StoreError, ProbeSetupError) as exc:
        one_line = str(exc).replace("\r", "\\r").replace("\n", "\\n")
        print(f"availmon: error: {one_line}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    return USAGE_ERROR


def _load(args: argparse.Namespace) -> config_mod.Config:
    return config_mod.load(args.config)


def db_path(args: argparse.Namespace, config: config_mod.Config | None) -> str:
    """--db, else storage.url, else $STATE_DIRECTORY/availmon.db, else storage.path, else
    ./availmon.db (a shared database named in the config wins over systemd's state folder)."""
    if args.db:
        return str(args.db)
    if config is not None and config.storage_url:
        return config.storage_url
    state_dir = os.environ.get("STATE_DIRECTORY")
    if state_dir:
        return os.path.join(state_dir.split(":")[0], "availmon.db")
    if config is not None and config.storage_path:
        return config.storage_path
    return "availmon.db"


def _sharded(args: argparse.Namespace) -> Callable[[], config_mod.Config]:
    """A loader of this instance's config: the targets file, cut to --shard if given."""
    if not args.shard:
        return lambda: _load(args)
    try:
        shard = parse_shard(args.shard)
    except ValueError as exc:
        raise UserError(f"--shard: {exc}") from None

    def load() -> config_mod.Config:
        config = _load(args)
        return dataclasses.replace(config, targets=owned_targets(config, shard))

    return load


def cmd_run(args: argparse.Namespace) -> int:
    from monitor.daemon import Daemon, DaemonError

    load = _sharded(args)
    config = load()
    listen = (config.listen_host, config.listen_port)
    if args.listen:
        try:
            listen = config_mod.parse_listen(args.listen)
        except ValueError as exc:
            raise UserError(f"--listen: {exc}") from None
    web = None
    if args.web_config:
        try:
            web = webconfig.load(args.web_config)
        except webconfig.WebConfigError as exc:
            raise UserError(f"--web-config: {exc}") from None
    for flag, name in (("--instance", args.instance), ("--vantage", args.vantage)):
        if name is not None and (not name.strip() or not name.isprintable()):
            raise UserError(f"{flag} {show(name)}: give a name, e.g. {flag} monitor-a")
    try:
        return Daemon(
            load,
            config,
            db_path(args, config),
            listen,
            web,
            args.instance,
            args.vantage,
            (lambda: _load(args)) if args.fleet_figures else None,
        ).serve()
    except DaemonError as exc:
        raise UserError(str(exc)) from None


def cmd_check(args: argparse.Namespace) -> int:
    config = _sharded(args)()
    if args.shard:
        print(f"{args.config}: OK: shard {args.shard} owns {len(config.targets)} targets:")
        for t in config.targets:
            print(t.name)
        return 0
    by_group: dict[str, int] = {}
    by_type: dict[str, int] = {}
    for t in config.targets:
        by_group[t.group] = by_group.get(t.group, 0) + 1
        by_type[t.type] = by_type.get(t.type, 0) + 1
    groups = ", ".join(f"{g}: {n}" for g, n in sorted(by_group.items()))
    types = ", ".join(f"{k}: {n}" for k, n in sorted(by_type.items()))
    print(
        f"{args.config}: OK: {len(config.targets)} targets ({groups}; {types}), "
        f"{len(config.schedules) - 1} schedules, {len(config.maintenance)} maintenance windows"
    )
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    config = _load(args)
    targets = _probe_selection(args, config)
    check_probe_types(config)
    # Side by side, so that --all takes one timeout rather than one per target; printed in
    # the order asked for.
    with ThreadPoolExecutor(max_workers=min(PROBE_WORKERS, len(targets))) as pool:
        results = pool.map(lambda t: probe_once(t.type, t.settings, t.timeout), targets)
        ok = True
        for target, result in zip(targets, results, strict=True):
            ok &= result.success
            state = "UP" if result.success else f"DOWN ({result.cause})"
            extra = " ".join(f"{k}={v:g}" for k, v in result.details.items())
            print(
                f"{target.name} [{target.type} {target.describe}]: {state} in "
                f"{result.duration_seconds:.3f}s {extra}".rstrip(),
                flush=True,
            )
    return 0 if ok else 1


PROBE_WORKERS = 32  # probes at once for `probe --all`: each mostly waits on the network


def _probe_selection(
    args: argparse.Namespace, config: config_mod.Config
) -> list[config_mod.Target]:
    """The targets `probe` was asked for: NAME..., --all or --group G (exactly one way)."""
    if sum(map(bool, (args.names, args.all, args.group))) != 1:
        raise UserError("probe: give target NAMEs, --all or --group G (one of them)")
    if args.all:
        return list(config.targets)
    if args.group:
        unknown = [g for g in args.group if g not in config.groups]
        if unknown:
            raise UserError(
                f"unknown group(s): {', '.join(map(repr, unknown))} (see {args.config})"
            )
        chosen = [t for t in config.targets if t.group in args.group]
        if not chosen:
            raise UserError(f"no targets in group(s) {', '.join(map(repr, args.group))}")
        return chosen
    unknown = [n for n in args.names if config.target(n) is None]
    if unknown:
        raise UserError(f"unknown target(s): {', '.join(map(repr, unknown))} (see {args.config})")
    return [t for n in args.names if (t := config.target(n)) is not None]


def _config_for_reading(args: argparse.Namespace) -> config_mod.Config | None:
    """Reading commands work from --db alone when there is no targets file."""
    try:
        return _load(args)
    except config_mod.ConfigError:
        if not args.db:
            raise
        return None


def _existing_store(args: argparse.Namespace) -> Store:
    """The database a correction is made in: it must exist (no new one from a mistyped --db)."""
    return open_store(db_path(args, _config_for_reading(args)), create=False)


def _instant(value: str, flag: str, timezone: str) -> float:
    try:
        return config_mod.parse_local_datetime(value, timezone)
    except ValueError as exc:
        raise UserError(f"{flag}: {exc}") from None


def _day(value: str, flag: str) -> date:
    from monitor.figures.periods import PeriodError, parse_day

    try:
        return parse_day(value)
    except PeriodError as exc:
        raise UserError(f"{flag} {show(value)}: {exc}") from None


def _span(args: argparse.Namespace, timezone: str) -> tuple[float, float]:
    start = _instant(args.start, "--start", timezone)
    end = _instant(args.end, "--end", timezone)
    if end <= start:
        raise UserError("--end must be after --start")
    return start, end


def _user() -> str:
    """Who made a correction, for the audit trail (the person behind sudo, if any)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}"
    sudo = os.environ.get("SUDO_USER")
    return f"{sudo} (as {user})" if sudo and sudo != user else user


def _now() -> float:
    return datetime.now(UTC).timestamp()


def _print_table(header: Sequence[str], rows: list[Sequence[str]]) -> None:
    print("\n".join(table(header, rows)))


def _print_listing(
    header: Sequence[str], rows: list[Sequence[str]], trail: Iterable[str], empty: str
) -> None:
    """A list command's text: the table, then the corrections trail indented under it, and
    ``empty`` when there is nothing to list."""
    _print_table(header, rows)
    for line in trail:
        print(f"  {line}")
    if not rows:
        print(empty)


def _trail(
    corrections: Sequence[Correction], actions: Collection[str], tz: ZoneInfo
) -> dict[int, list[dict[str, Any]]]:
    """Who did what, when and why, per subject id (an outage's or a window's)."""
    trail: dict[int, list[dict[str, Any]]] = {}
    for c in corrections:
        if c.action in actions and c.subject_id is not None:
            trail.setdefault(c.subject_id, []).append(correction_record(c, tz))
    return trail


def _wall_clock(store: Store, outage: Outage) -> float:
    """Start to end; an open outage stops at the last instant the daemon that recorded it
    was monitoring its target, not now (that daemon may have stopped)."""
    if outage.end is not None:
        return outage.end - outage.start
    ends = [
        c.end
        for c in store.coverage(outage.target, outage.start, math.inf)
        if c.source is None and c.instance == outage.instance
    ]
    return max(0.0, max(ends, default=outage.start) - outage.start)


def cmd_outages(args: argparse.Namespace) -> int:
    return {
        "list": outages_list,
        "add": outages_add,
        "edit": outages_edit,
        "delete": outages_delete,
        "exclude": outages_exclude,
        "include": outages_include,
    }[args.outages_command](args)


def outages_list(args: argparse.Namespace) -> int:
    from monitor.figures.history import counted_downtimes

    config = _config_for_reading(args)
    timezone = config.timezone if config else "Europe/London"
    tz = ZoneInfo(timezone)
    since = _instant(args.since, "--since", timezone) if args.since else None
    store = open_store(db_path(args, config), create=False)
    trail = _trail(store.corrections(), OUTAGE_ACTIONS, tz)
    shown = store.outages(target=args.target, since=since)
    counted = counted_downtimes(config, store, shown, _now()) if config else {}
    records: list[dict[str, Any]] = [
        {
            **outage_record(o, tz, shown),
            "instance": o.instance,
            "vantage": o.vantage,
            "duration_seconds": round(_wall_clock(store, o), 3),
            "counted_seconds": round(counted[o.id], 3) if o.id in counted else None,
            "corrections": trail.get(o.id, []),
        }
        for o in shown
    ]
    if args.format == "json":
        print(json.dumps(records, indent=2, ensure_ascii=False))
        return 0
    # A fleet's outages say which daemon saw them, from where; one daemon's need not.
    fleet = len({o.instance for o in shown if o.source == "detected"}) > 1
    _print_listing(
        ("ID", "TARGET", "START", "END", "DURATION", "COUNTED", "SOURCE", "CAUSE", "EXCLUDED")
        + (("INSTANCE", "VANTAGE") if fleet else ()),
        [
            (
                str(r["id"]),
                str(r["target"]),
                str(r["start"]),
                str(r["end"] or "(open)"),
                duration(r["duration_seconds"]),
                duration(r["counted_seconds"]) or "-",
                str(r["source"]),
                f"{r['cause']} [{r['note']}]" if r["note"] else str(r["cause"]),
                f"yes: {r['excluded_reason']}" if r["excluded"] else "no",
            )
            + ((r["instance"] or "-", r["vantage"] or "-") if fleet else ())
            for r in records
        ],
        (trail_line(c) for r in records for c in r["corrections"]),
        "(no outages)",
    )
    listed = {r["id"] for r in records}
    for subject, changes in trail.items():
        gone = [c for c in changes if c["action"] == "outage-delete"]
        if subject not in listed and gone and _would_list(gone[-1]["was"], args.target, since):
            for c in changes:
                print(f"  {trail_line(c)}")
    return 0


def _would_list(was: dict[str, Any], target: str | None, since: float | None) -> bool:
    """Whether a deleted outage, as it was, would have been listed by these filters."""
    ended = datetime.fromisoformat(was["end"]).timestamp()
    return (target is None or was["target"] == target) and (since is None or ended > since)


def _warn(message: str) -> None:
    print(f"availmon: warning: {message}", file=sys.stderr)


def _warn_if_suspicious(
    config: config_mod.Config, outage_id: int, target: str, start: float, end: float
) -> None:
    """Accepted, but said: an outage that cannot count, or that has not ended yet."""
    tz = ZoneInfo(config.timezone)
    if end > _now():
        _warn(f"outage {outage_id} ends in the future ({iso_instant(end, tz)}); check --end")
    known = config.target(target)
    if known is None:
        return
    schedule = config.schedule_of(known)
    if not schedule.open_intervals(start, end):
        _warn(
            f"outage {outage_id} is wholly outside {target}'s working hours (schedule "
            f"{schedule.name}, public holidays and closures included): it counts 0:00:00"
        )


def outages_add(args: argparse.Namespace) -> int:
    config = _load(args)
    if config.target(args.target) is None:
        raise UserError(f"unknown target {args.target!r} (see {args.config})")
    start, end = _span(args, config.timezone)
    store = open_store(db_path(args, config), create=args.create)
    outage_id = store.add_manual_outage(args.target, start, end, args.cause, _user(), _now())
    print(f"recorded outage {outage_id} for {args.target}")
    _warn_if_suspicious(config, outage_id, args.target, start, end)
    return 0


def outages_edit(args: argparse.Namespace) -> int:
    if args.start is None and args.end is None and args.cause is None:
        raise UserError("give what to change: --start, --end or --cause")
    config = _load(args)
    store = open_store(db_path(args, config), create=False)
    found = [o for o in store.outages() if o.id == args.id]
    if not found:
        raise UserError(f"no outage with id {args.id}")
    was = found[0]
    if was.source != "manual" or was.end is None:
        raise UserError(DETECTED_IS_EVIDENCE)
    start = _instant(args.start, "--start", config.timezone) if args.start else was.start
    end = _instant(args.end, "--end", config.timezone) if args.end else was.end
    if end <= start:
        raise UserError("--end must be after --start")
    cause = args.cause if args.cause is not None else was.cause
    store.edit_manual_outage(args.id, start, end, cause, args.reason, _user(), _now())
    print(f"corrected outage {args.id} ({was.target})")
    _warn_if_suspicious(config, args.id, was.target, start, end)
    return 0


def outages_delete(args: argparse.Namespace) -> int:
    store = _existing_store(args)
    was = store.delete_manual_outage(args.id, args.reason, _user(), _now())
    print(f"deleted outage {was.id} ({was.target}); outages list shows what it was")
    return 0


def outages_exclude(args: argparse.Namespace) -> int:
    return _set_excluded(args, True, args.reason)


def outages_include(args: argparse.Namespace) -> int:
    return _set_excluded(args, False, None)


def _set_excluded(args: argparse.Namespace, excluded: bool, reason: str | None) -> int:
    store = _existing_store(args)
    outage = store.set_excluded(args.id, excluded, reason, _user(), _now())
    print(
        f"outage {outage.id} ({outage.target}) "
        + ("excluded from the figures" if excluded else "counts again")
    )
    return 0


def cmd_maintenance(args: argparse.Namespace) -> int:
    return {"add": maintenance_add, "list": maintenance_list, "remove": maintenance_remove}[
        args.maintenance_command
    ](args)


def _window_bounds(args: argparse.Namespace, timezone: str) -> tuple[float, float]:
    """A one-off window's span, or the bounds a weekly one recurs within (all time if none)."""
    if not args.weekly:
        if args.start is None or args.end is None:
            raise UserError("give --start and --end, or --weekly 'DAYS HH:MM-HH:MM'")
        return _span(args, timezone)
    try:
        parse_weekly(args.weekly)
    except ScheduleError as exc:
        raise UserError(f"--weekly: {exc}") from None
    start = _instant(args.start, "--start", timezone) if args.start else -math.inf
    end = _instant(args.end, "--end", timezone) if args.end else math.inf
    if end <= start:
        raise UserError("--end must be after --start")
    return start, end


def _load_for_scope(args: argparse.Namespace) -> config_mod.Config:
    """The config, which must know the --target or --group a command is scoped to."""
    config = _load(args)
    if args.target and config.target(args.target) is None:
        raise UserError(f"unknown target {args.target!r} (see {args.config})")
    if args.group and args.group not in config.groups:
        raise UserError(f"unknown group {args.group!r} (see {args.config})")
    return config


def maintenance_add(args: argparse.Namespace) -> int:
    config = _load_for_scope(args)
    scope, name = (
        ("target", args.target)
        if args.target
        else (("group", args.group) if args.group else ("all", None))
    )
    start, end = _window_bounds(args, config.timezone)
    store = open_store(db_path(args, config), create=args.create)
    window_id = store.add_maintenance(
        scope, name, start, end, args.reason, _user(), _now(), weekly=args.weekly
    )
    print(f"added maintenance window {window_id}")
    return 0


def _bound(instant: float, tz: ZoneInfo) -> str | None:
    """A window's start or end; None for a weekly window's open bound."""
    return iso_instant(instant, tz) if math.isfinite(instant) else None


def _when(r: dict[str, Any]) -> str:
    if not r.get("weekly"):
        return f"{r['start']} to {r['end']}"
    bounds = (f" from {r['start']}" if r["start"] else "") + (f" to {r['end']}" if r["end"] else "")
    return f"weekly {r['weekly']}{bounds}"


def maintenance_list(args: argparse.Namespace) -> int:
    config = _config_for_reading(args)
    tz = ZoneInfo(config.timezone if config else "Europe/London")
    store = open_store(db_path(args, config), create=False)
    trail = _trail(store.corrections(), MAINTENANCE_ACTIONS, tz)
    records: list[dict[str, Any]] = [
        {
            "id": m.id,
            "scope": m.scope if m.name is None else f"{m.scope}:{m.name}",
            "start": _bound(m.start, tz),
            "end": _bound(m.end, tz),
            "weekly": m.weekly,
            "reason": m.reason,
            "source": "database",
            "removed": m.removed_at is not None,
            "corrections": trail.get(m.id, []),
        }
        for m in store.maintenance(include_removed=True)
    ]
    if config is not None:
        records += [
            {
                "id": None,
                "scope": describe_scope(w.all, w.targets, w.groups),
                "start": iso_instant(w.start, tz),
                "end": iso_instant(w.end, tz),
                "weekly": " ".join(str(r) for r in w.weekly) or None,
                "reason": w.reason,
                "source": config.path,
                "removed": False,
                "corrections": [],
            }
            for w in config.maintenance
        ]
    if args.format == "json":
        print(json.dumps(records, indent=2, ensure_ascii=False))
        return 0
    _print_listing(
        ("ID", "SCOPE", "WHEN", "REASON", "SOURCE"),
        [
            (
                str(r["id"] or "-"),
                str(r["scope"]),
                _when(r),
                str(r["reason"]),
                str(r["source"]) + (" (removed)" if r["removed"] else ""),
            )
            for r in records
        ],
        (trail_line(c) for r in records for c in r["corrections"]),
        "(no maintenance windows)",
    )
    return 0


def maintenance_remove(args: argparse.Namespace) -> int:
    store = _existing_store(args)
    store.remove_maintenance(args.id, _user(), _now(), args.reason)
    print(f"removed maintenance window {args.id} (maintenance list still shows it, marked)")
    return 0


def cmd_coverage(args: argparse.Namespace) -> int:
    return {"add": coverage_add, "list": coverage_list, "remove": coverage_remove}[
        args.coverage_command
    ](args)


def coverage_add(args: argparse.Namespace) -> int:
    """Coverage of the targets named now (a group's or everyone's members at this moment)."""
    config = _load_for_scope(args)
    if not args.source.strip():
        raise UserError("--source must name who watched")
    start, end = _span(args, config.timezone)
    now = _now()
    if end > now:
        raise UserError("--end is in the future: declare only time that was watched")
    names = [
        t.name
        for t in config.targets
        if args.all or t.name == args.target or (args.group and t.group == args.group)
    ]
    store = open_store(db_path(args, config), create=args.create)
    ids = store.add_coverage(names, start, end, args.source.strip(), _user(), now)
    print(
        f"declared {len(ids)} coverage span(s) watched by {args.source.strip()} "
        f"(ids {ids[0]}-{ids[-1]}): {', '.join(names)}"
        if len(ids) > 1
        else f"declared coverage span {ids[0]} for {names[0]} watched by {args.source.strip()}"
    )
    return 0


def coverage_list(args: argparse.Namespace) -> int:
    config = _config_for_reading(args)
    tz = ZoneInfo(config.timezone if config else "Europe/London")
    store = open_store(db_path(args, config), create=False)
    spans = store.added_coverage()
    trail: dict[int, list[dict[str, str | None]]] = {}
    for c in store.corrections():
        if c.action.startswith("coverage-") and c.subject_id is not None:
            trail.setdefault(c.subject_id, []).append(
                {"at": iso_instant(c.at, tz), "user": c.user, "action": c.action}
            )
    records = [
        {
            "id": span.id,
            "target": span.target,
            "start": iso_instant(span.start, tz),
            "end": iso_instant(span.end, tz),
            "source": span.source,
            "hours": "working hours",
            "corrections": trail.get(span.id or 0, []),
        }
        for span in spans
    ]
    if args.format == "json":
        print(json.dumps(records, indent=2, ensure_ascii=False))
        return 0
    _print_listing(
        ("ID", "TARGET", "START", "END", "SOURCE"),
        [
            (str(r["id"]), str(r["target"]), str(r["start"]), str(r["end"]), str(r["source"]))
            for r in records
        ],
        (
            f"#{span.id} {entry['action']} at {entry['at']} by {entry['user']}"
            for span in spans
            for entry in trail.get(span.id or 0, [])
        ),
        "(no declared coverage)",
    )
    return 0


def coverage_remove(args: argparse.Namespace) -> int:
    store = _existing_store(args)
    store.remove_coverage(args.id, _user(), _now())
    print(f"removed coverage span {args.id}")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    return {"copy": db_copy}[args.db_command](args)


def db_copy(args: argparse.Namespace) -> int:
    copied = copy_history(args.source, args.destination, replace=args.force)
    counts = ", ".join(f"{rows} {table}" for table, rows in copied.items())
    print(f"copied {counts} from {shown(args.source)} to {shown(args.destination)}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from monitor import report
    from monitor.figures import history
    from monitor.figures.periods import (
        PeriodError,
        current_period,
        date_range,
        parse_period,
        previous_period,
    )

    ways = [bool(args.period), bool(args.from_date or args.to_date), args.years is not None]
    if sum(ways) > 1:
        raise UserError("give either --period, --from/--to or --years, not more than one")
    if not args.period and args.years is None and not (args.from_date and args.to_date):
        raise UserError("give --period LABEL, or both --from DATE and --to DATE, or --years N")
    if args.years is not None and not 0 <= args.years <= 100:
        raise UserError("--years must be a whole number 0-100")
    if args.format == "xlsx" and not args.output:
        raise UserError("xlsx needs -o FILE")
    if args.section and args.format != "csv":
        raise UserError("--section applies to --format csv only")
    config = _load(args)
    if args.schedule is not None and args.schedule not in config.schedules:
        raise UserError(
            f"unknown schedule {args.schedule!r} (expected one of: {', '.join(config.schedules)})"
        )
    now = _now()
    try:
        if args.period:
            periods = [
                parse_period(label, config.timezone, config.year_start_month)
                for label in args.period
            ]
        elif args.years is not None:
            periods = [current_period("year", now, config.timezone, config.year_start_month)]
            for _ in range(args.years):
                periods.insert(
                    0, previous_period(periods[0], config.timezone, config.year_start_month)
                )
        else:
            first, last = _day(args.from_date, "--from"), _day(args.to_date, "--to")
            if first > last:
                raise UserError(f"--from {show(args.from_date)} is after --to {show(args.to_date)}")
            periods = [date_range(first, last, config.timezone)]
        if args.compare and len(periods) > 1:
            raise UserError(
                "--compare previous works with a single period; give the "
                "periods to compare with --period instead"
            )
        previous = (
            previous_period(periods[0], config.timezone, config.year_start_month)
            if args.compare
            else None
        )
    except PeriodError as exc:
        raise UserError(str(exc)) from None
    unknown = [g for g in args.group if g not in config.groups]
    if unknown:
        raise UserError(f"unknown group(s): {', '.join(map(repr, unknown))} (see {args.config})")
    unknown = [t for t in args.target if config.target(t) is None]
    if unknown:
        raise UserError(f"unknown target(s): {', '.join(map(repr, unknown))} (see {args.config})")
    targets = config.targets
    if args.group or args.target:
        targets = tuple(t for t in config.targets if t.group in args.group or t.name in args.target)
        if not targets:
            raise UserError(f"no targets in group(s) {', '.join(args.group)}")
    store = open_store(db_path(args, config), create=False)
    try:
        recorded = [history.load(store, targets, p, now) for p in periods]
        baseline = history.load(store, targets, previous, now) if previous else None
    finally:
        store.close()
    if len(recorded) == 1:
        doc = report.gather(config, recorded[0], baseline, what_if_schedule=args.schedule)
    else:
        doc = report.gather_many(config, recorded, what_if_schedule=args.schedule)
    data = report.render(doc, args.format, args.section or "targets")
    if args.output:
        try:
            with open(args.output, "wb") as out:
                out.write(data)
        except OSError as exc:
            raise UserError(f"{args.output}: cannot write: {exc.strerror}") from None
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    return 0


COMMANDS = {
    "run": cmd_run,
    "check": cmd_check,
    "probe": cmd_probe,
    "outages": cmd_outages,
    "maintenance": cmd_maintenance,
    "coverage": cmd_coverage,
    "db": cmd_db,
    "report": cmd_report,
}
