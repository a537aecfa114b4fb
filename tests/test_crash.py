"""kill -9 at random instants during a run with a flapping target: nothing exported is lost."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import availmon, availmon_argv, free_port, http_server

# Kills a real daemon at random instants, over and over.
pytestmark = pytest.mark.slow

ROUNDS = 10


def scrape(port: int) -> tuple[float, list[float]]:
    """(outages_total, open outage starts) for target 'flap'."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
        text = resp.read().decode()
    total, starts = 0.0, []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.labels.get("target") != "flap":
                continue
            if s.name == "availmon_outages_total":
                total = s.value
            elif s.name == "availmon_outage_start_timestamp_seconds":
                starts.append(s.value)
    return total, starts


@pytest.mark.parametrize("seed", [1])
def test_kill_at_random_instants(tmp_path, seed):
    rng = random.Random(seed)
    port = free_port()
    db = tmp_path / "a.db"
    with http_server() as server:
        stop = threading.Event()

        def flap() -> None:  # the target changes state every 0.7 s
            while not stop.wait(0.7):
                server.status = 503 if server.status == 200 else 200

        flapper = threading.Thread(target=flap, daemon=True)
        flapper.start()
        config = tmp_path / "targets.yaml"
        config.write_text(
            f"listen: 127.0.0.1:{port}\nstorage: {{heartbeat: 500ms}}\n"
            "defaults: {interval: 200ms, timeout: 150ms, failures_before_down: 1}\n"
            f"targets:\n  - {{name: flap, type: http, url: '{server.url}'}}\n"
        )
        seen_total, seen_starts = 0.0, set()
        try:
            for _ in range(ROUNDS):
                proc = subprocess.Popen(
                    availmon_argv("run", "-c", config, "--db", db),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                kill_at = time.monotonic() + 1.5 + rng.random() * 2.5
                while time.monotonic() < kill_at:
                    try:
                        total, starts = scrape(port)
                        seen_total = max(seen_total, total)
                        seen_starts.update(starts)
                    except OSError:
                        pass
                    time.sleep(rng.random() * 0.1)
                proc.send_signal(signal.SIGKILL)
                _, err = proc.communicate(timeout=10)
                assert b"Traceback" not in err, err.decode()
                # Everything exported before the kill is on disk.
                rows = (
                    sqlite3.connect(db)
                    .execute("SELECT start, end FROM outages WHERE target = 'flap'")
                    .fetchall()
                )
                assert len(rows) >= seen_total
                stored_starts = {start for start, _ in rows}
                assert seen_starts <= stored_starts
                assert all(end is None or end >= start for start, end in rows)
        finally:
            stop.set()
    assert seen_total > 0, "the run never saw an outage: the test proved nothing"
    # It starts again without help, and the figures are consistent.
    today = time.strftime("%Y-%m-%d")
    report = availmon("report", "-c", config, "--db", db, "--period", today, "--format", "json")
    assert report.returncode == 0, report.stderr
    [target] = json.loads(report.stdout)["targets"]
    assert (
        0
        <= target["downtime_seconds"]
        <= target["monitored_seconds"]
        <= target["scheduled_seconds"]
    )
