"""The daemon as a real process: scraped over HTTP, killed with SIGKILL, restarted."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import SwitchableServer, availmon, availmon_argv, free_port, scrape

# Every test runs the daemon as a real process.
pytestmark = pytest.mark.slow

DEADLINE = 30.0  # bound on every wait in this file


class Daemon:
    def __init__(self, tmp_path: Path, url: str) -> None:
        self.port = free_port()
        self.config = tmp_path / "targets.yaml"
        self.db = tmp_path / "availmon.db"
        self.log = tmp_path / "daemon.log"
        self.write_config(url)
        self.proc: subprocess.Popen[bytes] | None = None

    def write_config(self, url: str, extra: str = "") -> None:
        self.config.write_text(
            f"listen: 127.0.0.1:{self.port}\n"
            "storage: {heartbeat: 500ms}\n"
            "defaults: {interval: 1s, timeout: 500ms, failures_before_down: 2}\n"
            f"targets:\n  - {{name: web, group: systems, type: http, url: '{url}'}}\n{extra}"
        )

    def start(self) -> None:
        self.proc = subprocess.Popen(
            availmon_argv("run", "-c", self.config, "--db", self.db),
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
        )

    def scrape(self) -> dict[str, float]:
        return scrape(self.port)

    def wait_for(self, what: str, predicate: Callable[[dict[str, float]], bool]) -> dict:
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
            try:
                samples = self.scrape()
                if predicate(samples):
                    return samples
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}\n{self.log.read_text()}")

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=10)

    def outages(self) -> list[tuple[int, float, float | None, str]]:
        db = sqlite3.connect(self.db)
        try:
            return db.execute("SELECT id, start, end, cause FROM outages ORDER BY id").fetchall()
        finally:
            db.close()

    def last_heartbeat(self) -> float:
        db = sqlite3.connect(self.db)
        try:
            return db.execute("SELECT max(end) FROM coverage").fetchone()[0]
        finally:
            db.close()


@pytest.fixture
def daemon(tmp_path, server) -> Iterator[Daemon]:
    d = Daemon(tmp_path, server.url)
    yield d
    if d.proc is not None and d.proc.poll() is None:
        d.kill()


UP = "availmon_target_up{group=systems,target=web}"
SUCCESS = "probe_success{group=systems,target=web}"


def go_down_and_get_killed(daemon: Daemon, server: SwitchableServer) -> tuple[int, float]:
    daemon.start()
    daemon.wait_for("first successful probe", lambda s: s.get(SUCCESS) == 1)
    server.status = 503
    samples = daemon.wait_for("outage open", lambda s: s.get(UP) == 0)
    # Exported, therefore already committed:
    [(outage_id, start, end, cause)] = daemon.outages()
    assert end is None and cause == "HTTP 503"
    start_metric = next(
        v for k, v in samples.items() if k.startswith("availmon_outage_start_timestamp_seconds")
    )
    assert start_metric == pytest.approx(start)
    time.sleep(1.2)  # let a heartbeat or two pass during the outage
    assert daemon.kill() == -signal.SIGKILL
    return outage_id, start


def test_sigkill_mid_outage_then_target_recovers(daemon, server):
    outage_id, start = go_down_and_get_killed(daemon, server)
    last_heartbeat = daemon.last_heartbeat()
    server.status = 200
    time.sleep(1.0)  # an unmonitored gap while the daemon is dead
    daemon.start()
    daemon.wait_for("recovered", lambda s: s.get(UP) == 1 and s.get(SUCCESS) == 1)
    [(oid, ostart, oend, _)] = daemon.outages()
    # The outage ends where monitoring was last known, not when probing resumed.
    assert (oid, ostart, oend) == (outage_id, start, last_heartbeat)
    assert daemon.kill(signal.SIGTERM) == 0


def test_sigkill_mid_outage_target_still_failing(daemon, server):
    outage_id, start = go_down_and_get_killed(daemon, server)
    restarted = time.time()
    daemon.start()
    samples = daemon.wait_for(
        "probing again",
        lambda s: s.get(SUCCESS) == 0,  # absent until the new process's first probe
    )
    assert samples[UP] == 0  # the same outage continues
    [(oid, _, oend, _)] = daemon.outages()
    assert (oid, oend) == (outage_id, None)
    server.status = 200
    daemon.wait_for("recovered", lambda s: s.get(UP) == 1)
    [(oid, ostart, oend, _)] = daemon.outages()
    assert oid == outage_id and ostart == start and oend >= restarted


def test_sigterm_exits_cleanly_and_closes_coverage(daemon, server):
    daemon.start()
    daemon.wait_for("first probe", lambda s: s.get(SUCCESS) == 1)
    began = time.monotonic()
    assert daemon.kill(signal.SIGTERM) == 0
    assert time.monotonic() - began < 5
    db = sqlite3.connect(daemon.db)
    assert db.execute("SELECT count(*) FROM coverage WHERE open = 1").fetchone() == (0,)


def test_sighup_reload_good_and_bad(daemon, server):
    daemon.start()
    daemon.wait_for("first probe", lambda s: s.get(SUCCESS) == 1)
    daemon.write_config(
        server.url,
        f"  - {{name: loop, group: systems, type: tcp, host: 127.0.0.1, port: {daemon.port}}}\n",
    )
    assert daemon.proc is not None
    os.kill(daemon.proc.pid, signal.SIGHUP)
    daemon.wait_for("new target", lambda s: s.get("probe_success{group=systems,target=loop}") == 1)
    daemon.config.write_text("targets: [\n  - broken")
    os.kill(daemon.proc.pid, signal.SIGHUP)
    samples = daemon.wait_for(
        "reload failure", lambda s: s.get("availmon_config_last_reload_successful{}") == 0
    )
    assert samples["availmon_targets{group=systems}"] == 2  # the running config stays
    assert "reload failed, keeping the running config" in daemon.log.read_text()


def test_second_daemon_on_same_database_refuses(daemon, tmp_path):
    daemon.start()
    daemon.wait_for("first probe", lambda s: s.get(SUCCESS) == 1)
    listen = f"127.0.0.1:{free_port()}"
    second = availmon("run", "-c", daemon.config, "--db", daemon.db, "--listen", listen, timeout=30)
    assert second.returncode == 2
    assert "another availmon daemon is already using this database" in second.stderr
    assert "Traceback" not in second.stderr


def test_probe_command(tmp_path, server):
    daemon = Daemon(tmp_path, server.url)
    ok = availmon("probe", "-c", str(daemon.config), "web", timeout=30)
    assert ok.returncode == 0 and "web [http" in ok.stdout and "UP" in ok.stdout
    server.status = 503
    bad = availmon("probe", "-c", str(daemon.config), "web", timeout=30)
    assert bad.returncode == 1 and "DOWN (HTTP 503)" in bad.stdout
    unknown = availmon("probe", "-c", str(daemon.config), "nope", timeout=30)
    assert unknown.returncode == 2 and "unknown target(s): 'nope'" in unknown.stderr
