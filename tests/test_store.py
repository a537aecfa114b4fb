"""SQLite store: schema, durability rules, refusal to misuse a database."""

from __future__ import annotations

import sqlite3

import pytest

from monitor.store import SCHEMA_VERSION, Store, StoreError


def test_new_database_has_schema_version_and_wal(tmp_path):
    store = Store(tmp_path / "a.db")
    store.close()
    db = sqlite3.connect(tmp_path / "a.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_schema_is_refused_not_reset(tmp_path):
    path = tmp_path / "a.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer than this availmon"):
        Store(path)
    assert sqlite3.connect(path).execute("SELECT count(*) FROM outages").fetchone() == (0,)


def test_garbage_file_is_a_clear_error(tmp_path):
    path = tmp_path / "a.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="cannot use database") as info:
        Store(path)
    assert "\n" not in str(info.value)
    assert path.read_bytes().startswith(b"this is not sqlite")


def test_foreign_database_is_refused(tmp_path):
    path = tmp_path / "a.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE invoices (id INTEGER)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="not an availmon database"):
        Store(path)


def test_missing_database_when_not_creating(tmp_path):
    with pytest.raises(StoreError, match="no database here"):
        Store(tmp_path / "none.db", create=False)


def test_second_daemon_lock_refused(tmp_path):
    first = Store(tmp_path / "a.db")
    first.lock_exclusive()
    second = Store(tmp_path / "a.db")
    with pytest.raises(StoreError, match="another availmon daemon"):
        second.lock_exclusive()
    first.close()
    second.lock_exclusive()  # free again once the first has gone
    second.close()


def test_outages_roundtrip_and_filters(tmp_path):
    store = Store(tmp_path / "a.db")
    a = store.open_outage("web", 100.0, "HTTP 503", at=130.0)
    b = store.open_outage("sw1", 200.0, "100% packet loss", at=230.0)
    store.close_outage(a, 160.0)
    assert [o.id for o in store.open_outages()] == [b]
    assert [(o.target, o.start, o.end) for o in store.outages()] == [
        ("web", 100.0, 160.0),
        ("sw1", 200.0, None),
    ]
    assert [o.id for o in store.outages(target="web")] == [a]
    assert [o.id for o in store.outages(since=170.0)] == [b]  # open outages reach "now"
    assert [o.id for o in store.outages(until=150.0)] == [a]
    assert store.outage_counts() == {"web": 1, "sw1": 1}
    store.close_outage(a, 999.0)  # closing twice keeps the first end
    assert store.outages(target="web")[0].end == 160.0


def test_coverage_heartbeat_and_stale_spans(tmp_path):
    store = Store(tmp_path / "a.db")
    store.begin_coverage([("web", False), ("sw1", True)], 1000.0)
    store.extend_coverage(1015.0)
    store.end_coverage(["sw1"], 1020.0)
    store.extend_coverage(1030.0)
    assert [(c.target, c.start, c.end, c.all_hours) for c in store.coverage("web", 0, 2000)] == [
        ("web", 1000.0, 1030.0, False)
    ]
    assert store.last_coverage_end("sw1") == 1020.0
    store.close()
    # A daemon that died: its open span stays at its last heartbeat and is closed at start-up.
    again = Store(tmp_path / "a.db")
    again.close_stale_coverage()
    again.extend_coverage(5000.0)
    assert again.last_coverage_end("web") == 1030.0
