"""Store faults: a full disk or a read-only database never stops probing or loses outages."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor import config as config_mod
from monitor.probes.base import ProbeResult
from monitor.runner import Runner
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
    runner = Runner(config_mod.parse(CONFIG, "t.yaml", {}), store, clock)
    runner.resume()
    filler = fill(small_fs)

    runner.record("web", DOWN, T0 + 30)
    runner.record("web", DOWN, T0 + 60)  # opens: the write fails, probing goes on
    live = runner.live["web"]
    assert live.state.down and live.outage is not None and live.outage.id is None
    assert not runner.store_healthy and runner.store_errors >= 1
    runner.record("web", UP, T0 + 90)  # closes: also held back
    assert not live.state.down
    clock.now = T0 + 95
    runner.heartbeat()  # still full: still held
    assert store.outages() == [] and not runner.store_healthy

    filler.unlink()
    clock.now = T0 + 100
    runner.heartbeat()  # space again: everything is written, in order
    assert runner.store_healthy
    [outage] = store.outages()
    assert (outage.start, outage.end, outage.cause) == (T0 + 30, T0 + 90, "HTTP 503")
    assert store.last_coverage_end("web") == T0 + 100


class ReadOnlySwitch:
    """A real store whose writes fail, as on a read-only database, while ``read_only`` is set."""

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

    def __init__(self, store: Store) -> None:
        self.store = store
        self.read_only = False

    def __getattr__(self, name: str):
        method = getattr(self.store, name)
        if name not in self.WRITES:
            return method

        def write(*args, **kwargs):
            if self.read_only:
                raise StoreError("attempt to write a readonly database")
            return method(*args, **kwargs)

        return write


def test_read_only_database_then_writable_again(tmp_path):
    store = ReadOnlySwitch(open_store(tmp_path / "a.db"))
    clock = FakeClock(T0)
    runner = Runner(config_mod.parse(CONFIG, "t.yaml", {}), store, clock)
    runner.resume()
    store.read_only = True  # every write now fails
    runner.record("web", DOWN, T0 + 30)
    runner.record("web", DOWN, T0 + 60)
    assert runner.live["web"].state.down and not runner.store_healthy
    clock.now = T0 + 65
    runner.heartbeat()
    assert store.open_outages() == []
    store.read_only = False
    clock.now = T0 + 70
    runner.heartbeat()
    assert runner.store_healthy
    [outage] = store.open_outages()
    assert outage.start == T0 + 30


def test_long_read_never_blocks_recording(tmp_path):
    store = open_store(tmp_path / "a.db", busy_timeout=2.0)
    runner = Runner(config_mod.parse(CONFIG, "t.yaml", {}), store, FakeClock(T0))
    runner.resume()
    reader = sqlite3.connect(tmp_path / "a.db")
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM coverage").fetchall()  # a report mid-read
    try:
        runner.record("web", DOWN, T0 + 30)
        runner.record("web", DOWN, T0 + 60)
        assert runner.store_healthy and store.open_outages()[0].start == T0 + 30
    finally:
        reader.rollback()
        reader.close()


def test_exclusive_lock_elsewhere_holds_back_then_writes(tmp_path):
    store = open_store(tmp_path / "a.db", busy_timeout=0.2)
    clock = FakeClock(T0)
    runner = Runner(config_mod.parse(CONFIG, "t.yaml", {}), store, clock)
    runner.resume()
    other = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        runner.record("web", DOWN, T0 + 30)
        runner.record("web", DOWN, T0 + 60)
        assert runner.live["web"].state.down and not runner.store_healthy
    finally:
        other.execute("ROLLBACK")
        other.close()
    clock.now = T0 + 70
    runner.heartbeat()
    assert runner.store_healthy and store.open_outages()[0].start == T0 + 30
