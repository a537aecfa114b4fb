"""The ``availmon`` command.

Every user mistake ends in one ``availmon: error: ...`` line per problem and
exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from monitor import __version__
from monitor import config as config_mod
from monitor.probes.base import ProbeSetupError
from monitor.runner import run_probe
from monitor.store import Outage, Store, StoreError

USAGE_ERROR = 2


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit 2."""


def _add_common(parser: argparse.ArgumentParser, db: bool = True) -> None:
    parser.add_argument("-c", "--config",
                        default=os.environ.get("AVAILMON_CONFIG", "targets.yaml"),
                        help="targets file (default: $AVAILMON_CONFIG or ./targets.yaml)")
    if db:
        parser.add_argument("--db", help="SQLite database (default: $STATE_DIRECTORY/availmon.db "
                            "under systemd, else storage.path, else ./availmon.db)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="availmon", description="Working-hours availability monitoring.")
    parser.add_argument("--version", action="version", version=f"availmon {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the monitoring daemon")
    _add_common(run)
    run.add_argument("--listen", help="HOST:PORT for /metrics (default: listen in the config, "
                     f"else 0.0.0.0:{config_mod.DEFAULT_PORT})")

    check = commands.add_parser("check", help="validate the targets file")
    _add_common(check, db=False)

    probe = commands.add_parser("probe", help="probe targets once now and print the results")
    _add_common(probe, db=False)
    probe.add_argument("names", nargs="+", metavar="NAME")

    outages = commands.add_parser("outages", help="recorded outages")
    outage_commands = outages.add_subparsers(dest="outages_command", required=True,
                                             metavar="COMMAND")
    listing = outage_commands.add_parser("list", help="list outages")
    _add_common(listing)
    listing.add_argument("--target")
    listing.add_argument("--since", help="date or date-time (local time unless it has an offset)")
    listing.add_argument("--format", choices=["text", "json"], default="text")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        # journald stamps lines itself; elsewhere a timestamp helps.
        format="%(levelname)s %(message)s" if os.environ.get("JOURNAL_STREAM")
        else "%(asctime)s %(levelname)s %(message)s",
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per job run is noise
    try:
        return COMMANDS[args.command](args)
    except config_mod.ConfigError as exc:
        for line in exc.problems:
            print(f"availmon: error: {line}", file=sys.stderr)
    except (UserError, StoreError, ProbeSetupError) as exc:
        print(f"availmon: error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    return USAGE_ERROR


def _load(args: argparse.Namespace) -> config_mod.Config:
    return config_mod.load(args.config)


def db_path(args: argparse.Namespace, config: config_mod.Config | None) -> str:
    """--db, else $STATE_DIRECTORY/availmon.db, else storage.path, else ./availmon.db."""
    if args.db:
        return str(args.db)
    state_dir = os.environ.get("STATE_DIRECTORY")
    if state_dir:
        return os.path.join(state_dir.split(":")[0], "availmon.db")
    if config is not None and config.storage_path:
        return config.storage_path
    return "availmon.db"


def cmd_run(args: argparse.Namespace) -> int:
    from monitor.daemon import Daemon, DaemonError

    config = _load(args)
    listen = (config.listen_host, config.listen_port)
    if args.listen:
        try:
            listen = config_mod.parse_listen(args.listen)
        except ValueError as exc:
            raise UserError(f"--listen: {exc}") from None
    try:
        return Daemon(args.config, config, db_path(args, config), listen).serve()
    except DaemonError as exc:
        raise UserError(str(exc)) from None


def cmd_check(args: argparse.Namespace) -> int:
    config = _load(args)
    by_group: dict[str, int] = {}
    by_type: dict[str, int] = {}
    for t in config.targets:
        by_group[t.group] = by_group.get(t.group, 0) + 1
        by_type[t.type] = by_type.get(t.type, 0) + 1
    groups = ", ".join(f"{g}: {n}" for g, n in sorted(by_group.items()))
    types = ", ".join(f"{k}: {n}" for k, n in sorted(by_type.items()))
    print(f"{args.config}: OK: {len(config.targets)} targets ({groups}; {types}), "
          f"{len(config.schedules) - 1} schedules, {len(config.maintenance)} maintenance windows")
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    config = _load(args)
    unknown = [n for n in args.names if config.target(n) is None]
    if unknown:
        raise UserError(f"unknown target(s): {', '.join(unknown)} (see {args.config})")
    ok = True
    for name in args.names:
        target = config.target(name)
        assert target is not None
        result = run_probe(target)
        ok &= result.success
        state = "UP" if result.success else f"DOWN ({result.cause})"
        extra = " ".join(f"{k}={v:g}" for k, v in result.details.items())
        print(f"{name} [{target.type} {target.describe}]: {state} in "
              f"{result.duration_seconds:.3f}s {extra}".rstrip())
    return 0 if ok else 1


def _local(ts: float | None, tz: ZoneInfo) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds")


def _outage_json(o: Outage, tz: ZoneInfo, now: float) -> dict[str, object]:
    return {
        "id": o.id, "target": o.target, "start": _local(o.start, tz), "end": _local(o.end, tz),
        "duration_seconds": round((o.end if o.end is not None else now) - o.start, 3),
        "cause": o.cause, "source": o.source, "excluded": o.excluded,
        "excluded_reason": o.excluded_reason,
    }


def cmd_outages(args: argparse.Namespace) -> int:
    config = None
    try:
        config = _load(args)
    except config_mod.ConfigError:
        if not args.db:
            raise
    timezone = config.timezone if config else "Europe/London"
    tz = ZoneInfo(timezone)
    since = None
    if args.since:
        try:
            since = config_mod.parse_local_datetime(args.since, timezone)
        except ValueError as exc:
            raise UserError(f"--since: {exc}") from None
    store = Store(db_path(args, config), create=False)
    rows = store.outages(target=args.target, since=since)
    now = datetime.now(UTC).timestamp()
    records = [_outage_json(o, tz, now) for o in rows]
    if args.format == "json":
        print(json.dumps(records, indent=2, ensure_ascii=False))
        return 0
    header = ("ID", "TARGET", "START", "END", "DURATION", "CAUSE", "EXCLUDED")
    table = [header] + [
        (str(r["id"]), str(r["target"]), str(r["start"]), str(r["end"] or "(open)"),
         f"{r['duration_seconds']:.0f}s", str(r["cause"]),
         f"yes: {r['excluded_reason']}" if r["excluded"] else "no")
        for r in records
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if not records:
        print("(no outages)")
    return 0


COMMANDS = {"run": cmd_run, "check": cmd_check, "probe": cmd_probe, "outages": cmd_outages}
