"""``availmon db copy``: a whole history moved SQLite -> PostgreSQL -> SQLite without losing
a row, a column or an id, and the report over the copy the same as over the original; and
every refusal in one line (a destination with history, a missing source, a daemon on the
destination), never showing a password.

The tables are read back with plain SELECTs of every column, not through the store, so a
column the copy forgot shows here.
"""

from __future__ import annotations

import json
import sqlite3

import psycopg
import pytest

from monitor.store import ISOLATION, PARENT_RECOVERED, open_store
from monitor.store.base import TABLES
from tests.postgres import PASSWORD
from tests.support import at, in_process

CONFIG = """
timezone: Europe/London
schedules:
  office:
    hours: {mon-fri: "08:00-18:00"}
defaults: {schedule: office}
targets:
  - {name: web, type: http, url: "http://127.0.0.1:9/"}
  - {name: app, type: tcp, host: 127.0.0.1, port: 9, depends_on: [web]}
"""


@pytest.fixture
def config(tmp_path, alice):
    path = tmp_path / "targets.yaml"
    path.write_text(CONFIG)
    return str(path)


@pytest.fixture
def original(tmp_path, config, capsys) -> str:
    """A SQLite history with every kind of row, written as the daemon and people write it."""
    db = str(tmp_path / "original.db")
    store = open_store(db)
    store.begin_coverage([("web", False), ("app", True)], at("2024-03-04T07:00"))
    store.extend_coverage(at("2024-03-06T12:00"))
    store.end_coverage(None, at("2024-03-06T12:00"))
    store.begin_coverage([("web", False), ("app", True)], at("2024-03-07T07:00"))
    store.extend_coverage(at("2024-03-08T17:00"))  # still open: the daemon is running
    down = store.insert_outage("web", at("2024-03-04T09:00"), "HTTP 503", at("2024-03-04T09:00"))
    store.close_outage(down, at("2024-03-04T09:30"))
    behind = store.insert_outage(
        "app", at("2024-03-04T09:01"), "timeout", at("2024-03-04T09:01"), parent="web"
    )
    store.close_outage(behind, at("2024-03-04T09:30"), PARENT_RECOVERED)
    cut = store.insert_outage("web", at("2024-03-05T10:00"), "timeout", at("2024-03-05T10:00"))
    store.close_outage(cut, at("2024-03-05T10:20"), ISOLATION)
    later = store.insert_outage(
        "web", at("2024-03-05T10:40"), "timeout", at("2024-03-05T10:40"), continues=cut
    )
    store.close_outage(later, at("2024-03-05T11:00"))
    store.insert_outage("app", at("2024-03-08T16:00"), "refused", at("2024-03-08T16:00"))
    isolation = store.insert_isolation(at("2024-03-05T10:20"), ["w1", "w2"], at("2024-03-05T10:20"))
    store.close_isolation(isolation, at("2024-03-05T10:40"))
    store.insert_isolation(at("2024-03-08T16:30"), ["w1"], at("2024-03-08T16:30"))
    store.close()

    files = ["-c", config, "--db", db]
    for argv in (
        ["outages", "exclude", str(down), "--reason", "probe host rebooted"],
        ["outages", "add", "--target", "app", "--start", "2024-03-06T14:00",
         "--end", "2024-03-06T15:00", "--cause", "power"],
        ["outages", "edit", "6", "--end", "2024-03-06T14:30", "--reason", "UPS log"],
        ["outages", "add", "--target", "web", "--start", "2024-03-06T14:00",
         "--end", "2024-03-06T15:00", "--cause", "typo"],
        ["outages", "delete", "7", "--reason", "duplicate"],
        ["coverage", "add", "--target", "web", "--start", "2024-02-01T00:00",
         "--end", "2024-03-01T00:00", "--source", "Nagios"],
        ["maintenance", "add", "--target", "web", "--start", "2024-03-06T08:00",
         "--end", "2024-03-06T09:00", "--reason", "patching"],
        ["maintenance", "add", "--all", "--weekly", "tue 07:00-08:00", "--reason", "backups"],
        ["maintenance", "add", "--target", "app", "--start", "2024-03-07T08:00",
         "--end", "2024-03-07T09:00", "--reason", "cancelled"],
        ["maintenance", "remove", "3", "--reason", "change withdrawn"],
    ):  # fmt: skip
        code, out, err = in_process(capsys, *argv, *files)
        assert (code, err) == (0, ""), (argv, out, err)
    return db


def sqlite_rows(db: str) -> dict[str, list[str]]:
    """Every column of every row, by id, as repr: 1 and 1.0 or None and '' differ."""
    with sqlite3.connect(db) as connection:
        return {
            table: [repr(r) for r in connection.execute(f"SELECT * FROM {table} ORDER BY id")]
            for table in TABLES
        }


def report(capsys, config: str, db: str) -> dict:
    code, out, err = in_process(
        capsys, "report", "-c", config, "--db", db, "--period", "2024-03", "--format", "json"
    )
    assert (code, err) == (0, "")
    document = json.loads(out)
    del document["generated_at"]  # the time the command ran
    return document


def copy(capsys, source: str, destination: str, *flags: str) -> tuple[int, str, str]:
    return in_process(capsys, "db", "copy", source, destination, *flags)


def test_the_original_has_every_kind_of_row(original):
    rows = sqlite_rows(original)
    with sqlite3.connect(original) as db:
        outages = db.execute(
            "SELECT source, excluded, state, end_reason, continues IS NOT NULL, end IS NULL "
            "FROM outages"
        ).fetchall()
        assert {o[0] for o in outages} == {"detected", "manual"}
        assert {o[2] for o in outages} == {"down", "unreachable"}
        assert {o[3] for o in outages} >= {ISOLATION, PARENT_RECOVERED}
        assert all(any(o[i] for o in outages) for i in (1, 4, 5))  # excluded, continued, open
        assert db.execute("SELECT count(*) FROM coverage WHERE open").fetchone() == (2,)
        assert db.execute("SELECT source FROM coverage WHERE source IS NOT NULL").fetchall() == [
            ("Nagios",)
        ]
        assert db.execute(
            "SELECT count(weekly), count(removed_at), count(*) FROM maintenance"
        ).fetchone() == (1, 1, 3)
        assert db.execute("SELECT count(detail) FROM corrections").fetchone() == (2,)
        assert db.execute("SELECT count(end), count(*) FROM isolations").fetchone() == (1, 2)
    assert all(rows.values())


def test_every_column_is_copied(original):
    """TABLES (what the copy carries) names every column SQLite has: a new migration's
    column cannot be left behind."""
    with sqlite3.connect(original) as db:
        for table, columns in TABLES.items():
            assert tuple(r[1] for r in db.execute(f"PRAGMA table_info({table})")) == columns


def test_sqlite_to_sqlite_is_the_same_history(original, config, capsys, tmp_path):
    copied = str(tmp_path / "copy.db")
    code, out, err = copy(capsys, original, copied)
    assert (code, err) == (0, "")
    assert out == (
        f"copied 6 outages, 5 coverage, 3 maintenance, 10 corrections, 2 isolations "
        f"from {original} to {copied}\n"
    )
    assert sqlite_rows(copied) == sqlite_rows(original)
    assert report(capsys, config, copied) == report(capsys, config, original)


def test_a_destination_with_history_is_refused_unless_forced(original, capsys, tmp_path):
    other = str(tmp_path / "other.db")
    store = open_store(other)
    store.insert_outage("db", 1.0, "timeout", 1.0)
    store.close()
    before = sqlite_rows(other)
    code, out, err = copy(capsys, original, other)
    assert (code, out) == (2, "")
    assert err == (
        f"availmon: error: {other}: already holds 1 rows of history; copy only into an empty "
        "database (or give --force to replace them)\n"
    )
    assert sqlite_rows(other) == before
    code, _, err = copy(capsys, original, other, "--force")
    assert (code, err) == (0, "")
    assert sqlite_rows(other) == sqlite_rows(original)  # replaced, not merged


def test_an_empty_database_is_a_fine_destination(original, capsys, tmp_path):
    empty = str(tmp_path / "empty.db")
    open_store(empty).close()
    assert copy(capsys, original, empty)[0] == 0
    assert sqlite_rows(empty) == sqlite_rows(original)


def test_a_missing_source_is_one_line_and_creates_nothing(capsys, tmp_path):
    missing, destination = tmp_path / "missing.db", tmp_path / "new.db"
    code, out, err = copy(capsys, str(missing), str(destination))
    assert (code, out) == (2, "")
    assert err == f"availmon: error: no database at {missing}\n"
    assert not missing.exists() and not destination.exists()


def test_the_same_database_twice_is_refused(original, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = copy(capsys, original, "./original.db", "--force")
    assert code == 2
    assert err == "availmon: error: the source and the destination are the same database\n"


def test_a_daemon_on_the_destination_refuses_the_copy(original, capsys, tmp_path):
    destination = str(tmp_path / "running.db")
    daemon = open_store(destination, instance="monitor-a")
    daemon.claim_instance()
    try:
        code, out, err = copy(capsys, original, destination)
    finally:
        daemon.close()
    assert (code, out) == (2, "")
    assert err == (
        f"availmon: error: {destination}: another availmon daemon is already using this database\n"
    )
    assert not any(sqlite_rows(destination).values())


# -- through PostgreSQL ------------------------------------------------------


def postgres_rows(url: str) -> dict[str, list[str]]:
    """As ``sqlite_rows``, with PostgreSQL's booleans as SQLite's 0 and 1."""
    with psycopg.connect(url) as connection:
        tables = {}
        for table in TABLES:
            cursor = connection.execute(f"SELECT * FROM {table} ORDER BY id")
            names = [c.name for c in cursor.description or ()]
            assert tuple(names) == TABLES[table]  # every column, the same order
            tables[table] = [
                repr(tuple(int(v) if isinstance(v, bool) else v for v in row)) for row in cursor
            ]
        return tables


@pytest.mark.slow  # a real PostgreSQL server
def test_round_trip_through_postgres_is_the_same_history(
    original, config, capsys, tmp_path, postgres
):
    url = postgres.database()
    code, out, err = copy(capsys, original, url)
    assert (code, err) == (0, "")
    assert PASSWORD not in out and out.endswith(f" to {url.replace(f':{PASSWORD}', '')}\n")
    assert postgres_rows(url) == sqlite_rows(original)

    back = str(tmp_path / "back.db")
    assert copy(capsys, url, back)[0] == 0
    assert sqlite_rows(back) == sqlite_rows(original)  # byte for byte, ids included

    expected = report(capsys, config, original)
    assert report(capsys, config, url) == expected
    assert report(capsys, config, back) == expected

    # The next row PostgreSQL makes follows the copied ids.
    store = open_store(url)
    try:
        assert store.add_maintenance("all", None, 0.0, 1.0, "next", "alice", 2.0) == 4
        assert store.corrections()[-1].id == 11
    finally:
        store.close()


@pytest.mark.slow  # a real PostgreSQL server
def test_postgres_refusals_never_show_the_password(original, capsys, postgres):
    url = postgres.database()
    assert copy(capsys, original, url)[0] == 0
    shown = url.replace(f":{PASSWORD}", "")

    code, out, err = copy(capsys, original, url)  # it holds history now
    assert (code, out) == (2, "")
    assert err.startswith(f"availmon: error: {shown}: already holds 26 rows of history;")

    empty = postgres.database()
    code, out, err = copy(capsys, empty, original, "--force")  # no availmon database there
    assert (code, out) == (2, "")
    assert err.startswith(f"availmon: error: {empty.replace(f':{PASSWORD}', '')}: no availmon")
    assert PASSWORD not in err

    daemon = open_store(url, instance="monitor-a")
    daemon.claim_instance()
    try:
        code, _, err = copy(capsys, original, url, "--force")
    finally:
        daemon.close()
    assert code == 2 and "another availmon daemon is already using this database" in err
    assert PASSWORD not in err
