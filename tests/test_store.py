"""SQLite store: schema, durability rules, refusal to misuse a database.

What every backend must do is in test_store_contract.py; this file holds what is
SQLite's own, checked through a second ``sqlite3`` connection to the file.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from monitor.store import SQLiteStore, StoreError, open_store
from monitor.store.sqlite import MIGRATIONS, SCHEMA_VERSION


def test_new_database_has_schema_version_and_wal(tmp_path):
    open_store(tmp_path / "a.db").close()
    db = sqlite3.connect(tmp_path / "a.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_file_path_opens_sqlite_and_another_url_is_refused(tmp_path):
    store = open_store(tmp_path / "a.db")
    assert isinstance(store, SQLiteStore)
    store.close()
    with pytest.raises(StoreError, match="unsupported database URL") as info:
        open_store("mysql://availmon:secret@db/availmon")
    assert "secret" not in str(info.value)


def test_newer_schema_is_refused_not_reset(tmp_path):
    path = tmp_path / "a.db"
    open_store(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer than this availmon"):
        open_store(path)
    assert sqlite3.connect(path).execute("SELECT count(*) FROM outages").fetchone() == (0,)


def test_garbage_file_is_a_clear_error(tmp_path):
    path = tmp_path / "a.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="cannot use database") as info:
        open_store(path)
    assert "\n" not in str(info.value)
    assert path.read_bytes().startswith(b"this is not sqlite")


def test_foreign_database_is_refused(tmp_path):
    path = tmp_path / "a.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE invoices (id INTEGER)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="not an availmon database"):
        open_store(path)


def test_missing_database_when_not_creating(tmp_path):
    with pytest.raises(StoreError, match=r"^no database at /"):
        open_store(tmp_path / "none.db", create=False)
    assert not (tmp_path / "none.db").exists()


def test_failed_write_is_one_line_and_the_store_carries_on(tmp_path):
    store = open_store(tmp_path / "a.db", busy_timeout=0.1)
    other = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        with pytest.raises(StoreError, match="write failed") as info:
            store.add_manual_outage("web", 100.0, 200.0, "fibre cut", "alice", at=300.0)
        assert "\n" not in str(info.value)
    finally:
        other.execute("ROLLBACK")
    # Nothing was written, and once the lock is released the same correction goes through.
    assert store.outages() == [] and store.corrections() == []
    store.add_manual_outage("web", 100.0, 200.0, "fibre cut", "alice", at=300.0)
    assert other.execute("SELECT count(*) FROM corrections").fetchone() == (1,)
    other.close()
    store.close()


def test_version_1_database_is_upgraded_keeping_its_outages(tmp_path):
    path = tmp_path / "v1.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[1] + "; PRAGMA user_version = 1;")
    db.execute(
        "INSERT INTO outages (target, start, end, cause, created_at) "
        "VALUES ('web', 100, 200, 'HTTP 503', 101)"
    )
    db.commit()
    db.close()
    store = open_store(path)
    [outage] = store.outages()
    assert (outage.target, outage.start, outage.end, outage.cause) == ("web", 100, 200, "HTTP 503")
    assert (outage.state, outage.parent, outage.end_reason, outage.continues) == (
        "down",
        None,
        None,
        None,
    )
    assert store.isolations() == []
    store.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def _open_together(path: Path, openers: int) -> list[str]:
    """Open a store on ``path`` from ``openers`` threads released at once; their errors."""
    start = threading.Barrier(openers)
    errors: list[str] = []

    def open_it() -> None:
        start.wait(timeout=10)
        try:
            SQLiteStore(path).close()
        except StoreError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=open_it) for _ in range(openers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


def test_daemons_starting_together_on_a_new_file_all_get_the_schema(tmp_path: Path) -> None:
    """Shards or an HA pair started at once on a new file race to create it: every one
    opens it (none sees "table already exists" or a locked journal switch)."""
    for round_ in range(10):
        path = tmp_path / f"race{round_}.db"
        assert _open_together(path, 3) == []
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
