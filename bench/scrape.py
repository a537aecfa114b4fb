"""How long a /metrics scrape and a full rebuild of the live figures take, by target count.

Usage: .venv/bin/python bench/scrape.py [N ...]   (default: 1000 10000)

Builds a database with 30 days of coverage (a restart a week) and a few outages per
target, then times: the start-up rebuild of the running totals, a full scrape
(collect + exposition) as Prometheus would see it, and its gzip at level 1 as web.py
sends it (Prometheus always asks for gzip). Nothing is probed; no network.
"""

from __future__ import annotations

import gzip
import sys
import tempfile
import time
from pathlib import Path

from monitor import config as config_mod
from monitor.metrics import DaemonStatus, build_registry, exposition
from monitor.runner import Runner
from monitor.store import Store

DAY = 86400.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


def build(n: int, folder: Path) -> tuple[config_mod.Config, Store, float]:
    doc = {
        "defaults": {"schedule": "office", "interval": "60s"},
        "reporting": {"year_start_month": 4},
        "schedules": {"office": {"hours": {"mon-fri": "08:00-18:00"},
                                 "holidays": {"country": "GB", "subdiv": "ENG"}}},
        "groups": {f"g{i}": {"objective": "99%"} for i in range(20)},
        "targets": [{"name": f"t{i}", "group": f"g{i % 20}", "type": "tcp",
                     "host": "127.0.0.1", "port": 9} for i in range(n)],
    }
    config = config_mod.parse(doc, "bench.yaml", {})
    store = Store(folder / "bench.db")
    now = 1_732_000_000.0  # a Tuesday in November 2024
    names = [t.name for t in config.targets]
    for week in range(4, 0, -1):  # a restart a week: one coverage span per target per week
        start = now - week * 7 * DAY
        store.begin_coverage(((name, False) for name in names), start)
        store.end_coverage(None, start + 7 * DAY - 600)
    for i, name in enumerate(names):
        for k in range(3):
            s = now - (k + 1) * 5 * DAY + (i % 97) * 60
            store.close_outage(store.open_outage(name, s, "HTTP 503", s), s + 1800)
    return config, store, now


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [1000, 10000]
    print(f"{'targets':>8} {'rebuild s':>10} {'scrape s':>9} {'gzip s':>7} {'scrape MB':>10}"
          f" {'gzip MB':>8} {'series':>8}")
    for n in sizes:
        with tempfile.TemporaryDirectory() as folder:
            config, store, now = build(n, Path(folder))
            runner = Runner(config, store, Clock(now))
            t0 = time.perf_counter()
            runner.resume()
            rebuild = time.perf_counter() - t0
            registry = build_registry(runner, DaemonStatus())
            exposition(runner, registry)  # warm
            runner.clock.now += 30  # type: ignore[attr-defined]
            t0 = time.perf_counter()
            body = exposition(runner, registry)
            scrape = time.perf_counter() - t0
            t0 = time.perf_counter()
            packed = gzip.compress(body, compresslevel=1)  # as monitor/web.py does
            packing = time.perf_counter() - t0
            series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
            print(f"{n:>8} {rebuild:>10.2f} {scrape:>9.3f} {packing:>7.3f} {len(body) / 1e6:>10.1f}"
                  f" {len(packed) / 1e6:>8.2f} {series:>8}")
            store.close()


if __name__ == "__main__":
    main()
