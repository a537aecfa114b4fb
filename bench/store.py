"""The store on SQLite and on PostgreSQL: the daemon's write path and a financial-year
report, at 10,000 targets, now and at an earlier commit (issue 15, BENCHMARKS.md).

Usage: PYTHONPATH=$PWD .venv/bin/python bench/store.py [--targets N] [--before COMMIT]
       [--backend SQLite|PostgreSQL] [--rounds R] [--no-report]

Starts a throwaway PostgreSQL (tests/postgres.py: initdb into a temp folder, a free
loopback port, removed at the end) and uses temp SQLite files. For each backend, and for
the code now and at ``--before`` (that commit's tree extracted with ``git archive`` into a
temp folder, so no worktree is registered in the shared repository), a worker process
with PYTHONPATH on that tree:

1. loads a year of history (FY 2025/26) through ``Store.load``: one coverage span per
   target per week (a daemon restart a week), 20 detected outages per target, a few
   maintenance windows and isolations;
2. times the daemon's write path on top of it: ``close_stale_coverage`` and
   ``begin_coverage`` for every target (a start), the heartbeat (``extend_coverage``,
   median of K), outage changes through the daemon's writer (``OutageWriter.persist``,
   one commit per change: M targets fail, then recover; median of 3 bursts),
   ``end_coverage`` (a stop), and the report's reads alone (``history.load`` of the
   year, in process).

Then ``availmon report --period 2025/26 --format json`` runs as a subprocess on that
database with a targets.yaml of the N targets: wall time and peak RSS (the child's
ru_maxrss). Prints one Markdown table: with ``--rounds R`` every column is measured R
times, interleaved (so a busy spell on a shared machine hits all columns alike), and each
figure is the median. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
PERIOD = "2025/26"
LONDON = ZoneInfo("Europe/London")
YEAR_START = datetime(2025, 4, 1, tzinfo=LONDON).timestamp()
YEAR_END = datetime(2026, 4, 1, tzinfo=LONDON).timestamp()
DAY = 86400.0
WEEK = 7 * DAY
INSTANCE = "bench"
OUTAGES_PER_TARGET = 20
BURSTS = 3  # outage bursts timed; the median rate is shown
BACKENDS = ("SQLite", "PostgreSQL")


def target_names(n: int) -> list[str]:
    return [f"t{i:05d}" for i in range(n)]


# -- the worker: runs with PYTHONPATH on the tree being measured ------------------------


def history(names: list[str]) -> dict[str, list[dict[str, Any]]]:
    """A year of a daemon's history as rows by table (columns a superset of any version's)."""
    rng = random.Random(15)
    daemon = {"instance": INSTANCE, "vantage": INSTANCE}
    coverage: list[dict[str, Any]] = []
    outages: list[dict[str, Any]] = []
    weeks = int((YEAR_END - YEAR_START) // WEEK) + 1
    slot = (YEAR_END - YEAR_START) / OUTAGES_PER_TARGET
    for name in names:
        for week in range(weeks):  # restarted weekly: ten minutes unmonitored each time
            start = YEAR_START - DAY + week * WEEK
            coverage.append(
                {"id": len(coverage) + 1, "target": name, "start": start,
                 "end": start + WEEK - 600, "all_hours": False, "open": False,
                 "source": None, **daemon}
            )  # fmt: skip
        for k in range(OUTAGES_PER_TARGET):  # one in each twentieth of the year
            start = YEAR_START + k * slot + rng.uniform(0, slot - 4 * 3600)
            outages.append(
                {"id": len(outages) + 1, "target": name, "start": start,
                 "end": start + rng.uniform(60, 4 * 3600), "cause": "connection refused",
                 "source": "detected", "created_at": start + 60, "created_by": "availmon",
                 "excluded": False, "excluded_reason": None, "state": "down", "parent": None,
                 "end_reason": None, "continues": None, **daemon}
            )  # fmt: skip
    windows = [("all", None, YEAR_START + m * 91 * DAY, 4 * 3600.0, None) for m in range(4)]
    windows.append(("group", "g0", YEAR_START, YEAR_END - YEAR_START, "tue 07:00-08:00"))
    maintenance = [
        {"id": i + 1, "scope": scope, "name": name, "start": start, "end": start + length,
         "reason": "bench window", "created_at": YEAR_START, "created_by": "bench",
         "weekly": weekly, "removed_at": None, "removed_by": None}
        for i, (scope, name, start, length, weekly) in enumerate(windows)
    ]  # fmt: skip
    isolations = [
        {"id": i + 1, "start": YEAR_START + (i + 1) * 100 * DAY + 10 * 3600,
         "end": YEAR_START + (i + 1) * 100 * DAY + 10.5 * 3600, "witnesses": "gateway",
         "created_at": YEAR_START + (i + 1) * 100 * DAY + 10 * 3600, **daemon}
        for i in range(3)
    ]  # fmt: skip
    return {
        "outages": outages,
        "coverage": coverage,
        "maintenance": maintenance,
        "corrections": [],
        "isolations": isolations,
    }


def worker(location: str, n: int, heartbeats: int, failing: int) -> dict[str, float]:
    """Load the history, then time the daemon's writes; the figures as a dict."""
    from monitor import config as config_mod
    from monitor.figures import history as history_mod
    from monitor.figures.periods import parse_period
    from monitor.recording.outages import OutageRecord, OutageWriter
    from monitor.store import open_store
    from monitor.store.base import TABLES

    names = target_names(n)
    rows = history(names)
    # The table columns of the version measured (before instances, rows had no instance).
    dump = {
        table: [tuple(row[c] for c in TABLES[table]) for row in rows[table]] for table in TABLES
    }
    figures: dict[str, float] = {"rows": sum(len(r) for r in dump.values())}
    try:
        store = open_store(location, instance=INSTANCE, vantage=INSTANCE)
        store.claim_instance()
    except TypeError:  # a version before instances: one daemon per database, no names
        store = open_store(location)
    started = time.perf_counter()
    store.load(dump)
    figures["load_s"] = time.perf_counter() - started
    del dump, rows

    now = YEAR_END + DAY  # after the year reported on, so the report reads only history
    started = time.perf_counter()
    store.close_stale_coverage()
    store.begin_coverage(((name, False) for name in names), now)
    figures["start_s"] = time.perf_counter() - started
    beats = []
    for i in range(1, heartbeats + 1):
        started = time.perf_counter()
        store.extend_coverage(now + 15 * i)
        beats.append(time.perf_counter() - started)
    figures["heartbeat_ms"] = 1000 * statistics.median(beats)
    figures["heartbeat_max_ms"] = 1000 * max(beats)

    writer = OutageWriter(store)
    rates: dict[str, list[float]] = {
        "opens_per_s": [],
        "closes_per_s": [],
        "changes_per_s": [],
    }
    for burst in range(BURSTS):  # a switch fails, its targets' outages open, then close
        at = now + 1000 * burst
        records = [OutageRecord(name, at + 30, "timeout", at + 60) for name in names[:failing]]
        started = time.perf_counter()
        for record in records:
            writer.persist(record)
        opened = time.perf_counter() - started
        for record in records:
            record.end = at + 600
            writer.persist(record)
        changed = time.perf_counter() - started
        if not writer.health().healthy:
            raise SystemExit(f"an outage write failed on {location.split('@')[-1]}")
        rates["opens_per_s"].append(failing / opened)
        rates["closes_per_s"].append(failing / (changed - opened))
        rates["changes_per_s"].append(2 * failing / changed)
    figures |= {key: statistics.median(values) for key, values in rates.items()}

    started = time.perf_counter()
    store.end_coverage(None, now + 900)
    figures["stop_s"] = time.perf_counter() - started

    config = config_mod.parse(targets_doc(target_names(n)), "bench.yaml", {})
    year = parse_period(PERIOD, config.timezone, config.year_start_month)
    started = time.perf_counter()  # what the report reads from the store, alone
    history_mod.load(store, config.targets, year, now)
    figures["report_read_s"] = time.perf_counter() - started
    store.close()
    return figures


# -- the driver ------------------------------------------------------------------------


def targets_doc(names: list[str]) -> dict[str, Any]:
    """A targets.yaml of tcp targets with these names: office hours with bank holidays,
    20 groups (bench/scrape.py measures the same)."""
    return {
        "timezone": "Europe/London",
        "defaults": {"schedule": "office", "interval": "60s"},
        "reporting": {"year_start_month": 4},
        "schedules": {
            "office": {
                "hours": {"mon-fri": "08:00-18:00"},
                "holidays": {"country": "GB", "subdiv": "ENG"},
            }
        },
        "groups": {f"g{i}": {"objective": "99%"} for i in range(20)},
        "targets": [
            {
                "name": name,
                "group": f"g{i % 20}",
                "type": "tcp",
                "host": "127.0.0.1",
                "port": 9,
            }
            for i, name in enumerate(names)
        ],
    }


def targets_yaml(folder: Path, n: int) -> Path:
    path = folder / "targets.yaml"
    path.write_text(json.dumps(targets_doc(target_names(n))))  # JSON is YAML
    return path


def report(tree: Path, config: Path, location: str, n: int) -> dict[str, float]:
    """Run the real CLI on the database: wall seconds and the child's peak RSS."""
    out = config.parent / "report.json"
    command = [
        sys.executable,
        "-m",
        "monitor",
        "report",
        "-c",
        str(config),
        "--db",
        location,
    ]
    command += ["--period", PERIOD, "--format", "json", "-o", str(out)]
    started = time.perf_counter()
    child = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(tree)}, cwd=tree)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"availmon report failed on {tree} ({location.split('@')[-1]})")
    rows = json.loads(out.read_text())["targets"]
    if len(rows) != n:
        raise SystemExit(f"the report on {tree} holds {len(rows)} targets, not {n}")
    return {
        "report_s": wall,
        "report_rss_mb": usage.ru_maxrss / 1024,
        "report_outages": sum(row["outages"] for row in rows),  # the same in every column
    }


def measure(tree: Path, location: str, args: argparse.Namespace, folder: Path) -> dict[str, float]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", location]
    command += ["--targets", str(args.targets), "--heartbeats", str(args.heartbeats)]
    command += ["--failing", str(args.failing)]
    done = subprocess.run(
        command,
        env={**os.environ, "PYTHONPATH": str(tree)},
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"worker failed on {tree}:\n{done.stderr}")
    figures: dict[str, float] = json.loads(done.stdout)
    if args.no_report:
        return figures
    return figures | report(tree, targets_yaml(folder, args.targets), location, args.targets)


def extract(commit: str, folder: Path) -> Path:
    """The tree of ``commit``, without registering a worktree."""
    tree = folder / f"tree-{commit[:10]}"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


ROWS = [
    ("history rows loaded", "rows", "{:,.0f}"),
    ("load s (Store.load, one transaction)", "load_s", "{:.1f}"),
    ("start s (close stale + begin_coverage, N targets)", "start_s", "{:.3f}"),
    ("heartbeat ms (extend_coverage, median)", "heartbeat_ms", "{:.1f}"),
    ("heartbeat ms (max)", "heartbeat_max_ms", "{:.1f}"),
    ("outage opens/s (writer, one commit each; median of 3)", "opens_per_s", "{:.0f}"),
    ("outage closes/s", "closes_per_s", "{:.0f}"),
    ("outage changes/s sustained", "changes_per_s", "{:.0f}"),
    ("stop s (end_coverage, all)", "stop_s", "{:.3f}"),
    (
        f"report's reads s (history.load, {PERIOD}, in process)",
        "report_read_s",
        "{:.1f}",
    ),
    (f"report {PERIOD} json, wall s (CLI)", "report_s", "{:.1f}"),
    ("report peak RSS MB", "report_rss_mb", "{:.0f}"),
    ("report: outages counted (all targets)", "report_outages", "{:,.0f}"),
]


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", type=int, default=10_000)
    ap.add_argument("--heartbeats", type=int, default=15, help="heartbeats timed (median)")
    ap.add_argument("--failing", type=int, default=1000, help="targets that fail and recover")
    ap.add_argument("--before", metavar="COMMIT", help="also measure this commit's code")
    ap.add_argument(
        "--backend",
        choices=BACKENDS,
        action="append",
        help="only this backend (repeatable)",
    )
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every column R times, interleaved; medians",
    )
    ap.add_argument("--no-report", action="store_true", help="leave out the CLI report")
    ap.add_argument("--worker", metavar="DB", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.targets, args.heartbeats, args.failing)))
        return

    sys.path.insert(0, str(ROOT))
    import psycopg

    from tests.postgres import PostgresServer

    folder = Path(tempfile.mkdtemp(prefix="availmon-bench-store-"))
    server = PostgresServer()
    with psycopg.connect(server.url(), autocommit=True) as admin:  # durable, as SQLite's FULL
        admin.execute("ALTER SYSTEM SET fsync = on")
        admin.execute("ALTER SYSTEM SET full_page_writes = on")
        admin.execute("SELECT pg_reload_conf()")
    columns: dict[str, list[dict[str, float]]] = {}
    print(f"load average at start: {loadavg()}", file=sys.stderr)
    try:
        trees = [("now", ROOT)]
        if args.before:
            trees.insert(0, (f"before ({args.before[:7]})", extract(args.before, folder)))
        for _ in range(args.rounds):
            for backend in args.backend or BACKENDS:
                for version, tree in trees:
                    name = f"{backend} {version}"
                    location = (
                        server.database()
                        if backend == "PostgreSQL"
                        else str(folder / f"{sum(map(len, columns.values()))}.db")
                    )
                    figures = measure(tree, location, args, folder)
                    columns.setdefault(name, []).append(figures)
                    print(f"{name}: {figures} (load {loadavg()})", file=sys.stderr)
    finally:
        server.remove()
        shutil.rmtree(folder, ignore_errors=True)
    print(f"load average at end: {loadavg()}", file=sys.stderr)
    medians = {
        name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for name, runs in columns.items()
    }
    print(f"| {args.targets:,} targets | " + " | ".join(medians) + " |")
    print("| --- " * (len(medians) + 1) + "|")
    for label, key, form in ROWS:
        cells = (form.format(c[key]) if key in c else "-" for c in medians.values())
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
