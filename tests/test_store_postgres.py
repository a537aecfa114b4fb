"""What only the PostgreSQL store has to get right, against a real server (tests/postgres.py):
URLs and credentials, a newer or foreign schema, and the server going away mid-run.

The behaviour it shares with SQLite is tests/test_store_contract.py's.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import psycopg
import pytest

from monitor import config as config_mod
from monitor.daemon import Monitor
from monitor.probes.base import ProbeResult
from monitor.store import PostgresStore, StoreError, open_store, shown
from monitor.store.postgres import MIGRATIONS
from tests.postgres import PASSWORD, USER
from tests.support import FakeClock, free_port

pytestmark = pytest.mark.slow  # a real PostgreSQL server

T0 = datetime(2024, 3, 6, 10, 0, tzinfo=UTC).timestamp()
UP = ProbeResult(True, 0.01)
DOWN = ProbeResult(False, 0.01, "HTTP 503")
CONFIG = {"targets": [{"name": "web", "type": "tcp", "host": "127.0.0.1", "port": 9}]}


@pytest.fixture
def url(postgres) -> str:
    return postgres.database()


def test_both_url_schemes_open_postgres(url):
    for location in (url, url.replace("postgresql://", "postgres://", 1)):
        store = open_store(location)
        assert isinstance(store, PostgresStore)
        store.close()


def test_password_from_the_environment(url, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    store = open_store(url.replace(f":{PASSWORD}@", "@"))
    store.insert_outage("web", 100.0, "HTTP 503", at=100.0)
    assert [o.target for o in store.open_outages()] == ["web"]
    store.close()


@pytest.mark.parametrize(
    ("location", "problem"),
    [
        ("wrong", "password authentication failed"),
        ("closed-port", "cannot use database"),
    ],
)
def test_the_password_is_never_in_a_message(postgres, location, problem):
    secret = "Wr0ng-but-Secret"
    url = postgres.url(password=secret)
    if location == "closed-port":
        url = url.replace(f":{postgres.port}/", f":{free_port()}/")
    with pytest.raises(StoreError, match=problem) as info:
        open_store(url)
    message = str(info.value)
    assert secret not in message and "\n" not in message
    assert message.startswith(f"postgresql://{USER}@127.0.0.1:")


def test_shown_location_drops_password_and_query():
    assert (
        shown("postgresql://availmon:pa:ss@db.example:5433/fleet?sslmode=require&password=x")
        == "postgresql://availmon@db.example:5433/fleet"
    )
    assert shown("postgres://db.example/fleet") == "postgres://db.example/fleet"
    assert shown("/var/lib/availmon/availmon.db") == "/var/lib/availmon/availmon.db"


def test_newer_schema_is_refused_not_reset(url):
    open_store(url).close()
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("UPDATE availmon_meta SET schema_version = 99")
    with pytest.raises(StoreError, match=r"schema version 99 is newer .*upgrade availmon"):
        open_store(url)


def test_foreign_database_is_refused(url):
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE TABLE invoices (id integer)")
    with pytest.raises(StoreError, match="not an availmon database"):
        open_store(url)


def test_reading_commands_refuse_a_database_the_daemon_never_made(url):
    with pytest.raises(StoreError, match="no availmon database here"):
        open_store(url, create=False)
    open_store(url).close()
    open_store(url, create=False).close()


def test_a_restart_fails_one_write_and_the_next_reconnects(restartable, url):
    store = open_store(url, busy_timeout=2.0, instance="a")
    store.claim_instance()
    first = store.insert_outage("web", 100.0, "HTTP 503", at=100.0)
    restartable.stop()
    with pytest.raises(StoreError, match="write failed") as info:
        store.close_outage(first, 160.0)
    assert PASSWORD not in str(info.value)
    with pytest.raises(StoreError, match="write failed"):  # still down: connecting fails
        store.close_outage(first, 160.0)
    restartable.start()
    store.close_outage(first, 160.0)
    assert [(o.start, o.end) for o in store.outages()] == [(100.0, 160.0)]
    # The daemon's claim came back with the new connection.
    other = open_store(url, instance="a")
    with pytest.raises(StoreError, match="another availmon daemon"):
        other.claim_instance()
    other.close()
    store.close()


def test_outages_are_held_while_postgres_is_down_and_written_once_in_order(
    restartable, url, caplog
):
    store = open_store(url, busy_timeout=2.0, instance="a", vantage="a")
    store.claim_instance()
    clock = FakeClock(T0)
    monitor = Monitor(config_mod.parse(CONFIG, "t.yaml", {}), store, clock)
    monitor.resume()
    monitor.recorder.record("web", DOWN, T0 + 30)
    monitor.recorder.record("web", DOWN, T0 + 60)  # opens: written while the server is up
    monitor.recorder.record("web", UP, T0 + 90)
    restartable.stop()
    with caplog.at_level(logging.INFO, logger="availmon"):
        monitor.recorder.record("web", DOWN, T0 + 120)
        monitor.recorder.record("web", DOWN, T0 + 150)  # opens: held, probing goes on
        assert monitor.recorder.status["web"].state.down
        monitor.recorder.record("web", UP, T0 + 180)  # closes: held too
        clock.now = T0 + 185
        monitor.heartbeat()
        assert not monitor.store_health().healthy and monitor.store_health().errors >= 2
        restartable.start()
        clock.now = T0 + 200
        monitor.heartbeat()
    assert monitor.store_health().healthy
    assert [(o.start, o.end, o.cause) for o in store.outages()] == [
        (T0 + 30, T0 + 90, "HTTP 503"),
        (T0 + 120, T0 + 180, "HTTP 503"),
    ]
    assert store.last_coverage_end("web") == T0 + 200
    assert PASSWORD not in caplog.text
    store.close()


def test_a_version_3_database_is_upgraded_and_adopted_by_the_first_named_instance(url):
    with psycopg.connect(url, autocommit=True) as db, db.transaction():
        for version in (1, 2, 3):
            db.execute(MIGRATIONS[version])
        db.execute("UPDATE availmon_meta SET schema_version = 3")
        db.execute(
            "INSERT INTO outages (target, start, cause, created_at) "
            "VALUES ('web', 100, 'HTTP 503', 101)"
        )
        db.execute(
            'INSERT INTO coverage (target, start, "end", all_hours) '
            "VALUES ('web', 50, 150, false)"
        )
        db.execute("INSERT INTO isolations (start, witnesses, created_at) VALUES (120, 'gw', 121)")
    store = open_store(url, instance="a", vantage="leeds")
    [outage] = store.outages()
    assert (outage.instance, outage.vantage) == ("", "")
    assert store.open_outages() == []  # not its own yet
    assert store.claim_instance() == 3
    [outage] = store.open_outages()
    assert (outage.target, outage.start, outage.instance, outage.vantage) == (
        "web",
        100.0,
        "a",
        "leeds",
    )
    assert store.last_coverage_end("web") == 150.0
    assert [i.vantage for i in store.isolations()] == ["leeds"]
    store.close()
