"""Store faults: a full disk or a read-only database never stops probing or loses outages."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor import config as config_mod
from monitor.daemon import Monitor
from monitor.probes.base import ProbeResult
from monitor.store import Store, StoreError, open_store
from tests.support import FakeClock

T0 = datetime(2024, 3, 6, 10, 0, tzinfo=UTC).timestamp()
UP = ProbeResult(True, 0.01)
DOWN = ProbeResult(False, 0.01, "HTTP 503")
CONFIG = {"targets": [{"name": "web", "type": "tcp", "host": "127.0.0.1", "port": 9}]}


@pytest.fixture
def small_fs(tmp_path) -> Path:
    """A 1 MiB tmpfs of our own, so that 'disk full' is real and harms nothing else."""
    mount = tmp_path / "fs"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs in CI: {made.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    filler = folder / "filler"
    with filler.open("wb") as f:
        try:
            for _ in range(4096):  # bounded: at most 4 GiB, the tmpfs stops us at 1 MiB
                f.write(b"\0" * 1024 * 1024)
                f.flush()
        except OSError:
            pass
    return filler


@pytest.mark.slow
def test_disk_full_holds_outages_and_writes_them_when_space_returns(small_fs):
    store = open_store(small_fs / "a.db")
    clock = FakeClock(T0)
    monitor = Monitor(config_mod.parse(CONFIG, "t.yaml", {}), store, clock)
    monitor.resume()
    filler = fill(small_fs)

    monitor.recorder.record("web", DOWN, T0 + 30)
    monitor.recorder.record("web", DOWN, T0 + 60)  # opens: the write fails, probing goes on
    status = monitor.recorder.status  # a live view: each read is the current status
    outage = monitor.recorder.outage("web")
    assert status["web"].state.down and outage is not None and outage.id is None
    assert not monitor.store_health().healthy and monitor.store_health().errors >= 1
    monitor.recorder.record("web", UP, T0 + 90)  # closes: also held back
    assert not status["web"].state.down
    clock.now = T0 + 95
    monitor.heartbeat()  # still full: still held
    assert store.outages() == [] and not monitor.store_health().healthy

    filler.unlink()
    clock.now = T0 + 100
    monitor.heartbeat()  # space again: everything is written, in order
    assert monitor.store_health().healthy
    [outage] = store.outages()
    assert (outage.start, outage.end, outage.cause) == (T0 + 30, T0 + 90, "HTTP 503")
    assert store.last_coverage_end("web") == T0 + 100


WRITES = frozenset(
    {
        "close_stale_coverage",
        "begin_coverage",
        "extend_coverage",
        "end_coverage",
        "insert_outage",
        "close_outage",
    }
)


class FaultSwitch:
    """A real store whose ``calls`` (None: every call) fail with ``error`` while ``failing``
    is set; with ``after_commit`` each is made first and only its reply is lost."""

    def __init__(
        self,
        store: Store,
        error: str = "attempt to write a readonly database",
        calls: frozenset[str] | None = WRITES,
        after_commit: bool = False,
    ) -> None:
        self.store = store
        self.error = error
        self.calls = calls
        self.after_commit = after_commit
        self.failing = False

    def __getattr__(self, name: str):
        method = getattr(self.store, name)
        if not callable(method) or (self.calls is not None and name not in self.calls):
            return method

        def call(*args, **kwargs):
            if self.failing and not self.after_commit:
                raise StoreError(self.error)
            result = method(*args, **kwargs)
            if self.failing:
                raise StoreError(self.error)
            return result

        return call


def test_read_only_database_then_writable_again(tmp_path):
    store = FaultSwitch(open_store(tmp_path / "a.db"))
    clock = FakeClock(T0)
    monitor = Monitor(config_mod.parse(CONFIG, "t.yaml", {}), store, clock)
    monitor.resume()
    store.failing = True  # every write now fails
    monitor.recorder.record("web", DOWN, T0 + 30)
    monitor.recorder.record("web", DOWN, T0 + 60)
    assert monitor.recorder.status["web"].state.down and not monitor.store_health().healthy
    clock.now = T0 + 65
    monitor.heartbeat()
    assert store.open_outages() == []
    store.failing = False
    clock.now = T0 + 70
    monitor.heartbeat()
    assert monitor.store_health().healthy
    [outage] = store.open_outages()
    assert outage.start == T0 + 30


def test_long_read_never_blocks_recording(tmp_path):
    store = open_store(tmp_path / "a.db", busy_timeout=2.0)
    monitor = Monitor(config_mod.parse(CONFIG, "t.yaml", {}), store, FakeClock(T0))
    monitor.resume()
    reader = sqlite3.connect(tmp_path / "a.db")
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM coverage").fetchall()  # a report mid-read
    try:
        monitor.recorder.record("web", DOWN, T0 + 30)
        monitor.recorder.record("web", DOWN, T0 + 60)
        assert monitor.store_health().healthy and store.open_outages()[0].start == T0 + 30
    finally:
        reader.rollback()
        reader.close()


def test_exclusive_lock_elsewhere_holds_back_then_writes(tmp_path):
    store = open_store(tmp_path / "a.db", busy_timeout=0.2)
    clock = FakeClock(T0)
    monitor = Monitor(config_mod.parse(CONFIG, "t.yaml", {}), store, clock)
    monitor.resume()
    other = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        monitor.recorder.record("web", DOWN, T0 + 30)
        monitor.recorder.record("web", DOWN, T0 + 60)
        assert monitor.recorder.status["web"].state.down and not monitor.store_health().healthy
    finally:
        other.execute("ROLLBACK")
        other.close()
    clock.now = T0 + 70
    monitor.heartbeat()
    assert monitor.store_health().healthy and store.open_outages()[0].start == T0 + 30


def test_health_stays_failed_while_only_heartbeats_fail(tmp_path, caplog):
    """Nothing held back to write proves nothing: only a write that succeeds is recovery."""
    store = open_store(tmp_path / "a.db", busy_timeout=0.05)
    clock = FakeClock(T0)
    monitor = Monitor(config_mod.parse(CONFIG, "t.yaml", {}), store, clock)
    monitor.resume()
    blocker = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # every write waits, then fails
    with caplog.at_level("INFO", logger="availmon"):
        for _ in range(3):
            clock.now += 15
            monitor.heartbeat()
            assert not monitor.store_health().healthy
        assert "writable again" not in caplog.text
        blocker.execute("ROLLBACK")
        clock.now += 15
        monitor.heartbeat()
    assert monitor.store_health() == (True, 3)
    assert "writable again" in caplog.text
    assert [c.end for c in store.coverage("web", 0, T0 + 100)] == [T0 + 60]


def reload_adding_mail_once_failing(store: FaultSwitch) -> tuple[Monitor, FakeClock]:
    """A monitor of CONFIG on ``store``, which then starts failing; at T0 + 60 a reload adds
    the target mail."""
    clock = FakeClock(T0)
    monitor = Monitor(config_mod.parse(CONFIG, "t.yaml", {}), store, clock)
    monitor.resume()
    store.failing = True
    clock.now = T0 + 60
    added = {"name": "mail", "type": "tcp", "host": "127.0.0.1", "port": 25}
    monitor.reload(config_mod.parse({"targets": [*CONFIG["targets"], added]}, "t.yaml", {}))
    return monitor, clock


def test_a_reload_while_replies_are_lost_opens_each_span_once(tmp_path):
    store = FaultSwitch(
        open_store(tmp_path / "a.db"),
        "server closed the connection unexpectedly",
        after_commit=True,
    )
    monitor, clock = reload_adding_mail_once_failing(store)
    assert not monitor.store_health().healthy  # probing goes on; the change is held
    for _ in range(2):  # retried, each time "failing" after its commit
        clock.now += 15
        monitor.heartbeat()
    store.failing = False
    clock.now += 15
    monitor.heartbeat()
    assert monitor.store_health().healthy
    assert [(c.start, c.end) for c in store.coverage("mail", 0, 1e12)] == [(T0 + 60, T0 + 105)]
    assert [(c.start, c.end) for c in store.coverage("web", 0, 1e12)] == [(T0, T0 + 105)]


def test_a_reload_while_the_database_is_away_goes_on(tmp_path):
    store = FaultSwitch(open_store(tmp_path / "a.db"), "connection refused", calls=None)
    monitor, clock = reload_adding_mail_once_failing(store)
    monitor.recorder.record("mail", UP, T0 + 61)  # probing goes on
    assert monitor.recorder.status["mail"].last is not None
    assert monitor.live_figures(clock.now) is None  # no figures this scrape, no failure
    store.failing = False
    clock.now = T0 + 90
    monitor.maintain_totals()  # the held change is written, then totals for both targets
    assert [(c.start, c.end) for c in store.coverage("mail", 0, 1e12)] == [(T0 + 60, T0 + 90)]
    snapshot = monitor.live_figures(clock.now)
    assert snapshot is not None and snapshot.target("mail", "day").monitored == 30
