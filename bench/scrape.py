"""How long a /metrics scrape and a full rebuild of the live figures take, by target count.

Usage: .venv/bin/python bench/scrape.py [N ...] [--scrapes K] [--glibc-default] [--all-series]
(default: 1000 10000, 20 scrapes, the default series budget per target)

Builds a database with 30 days of coverage (a restart a week) and a few outages per
target, then times: the start-up rebuild of the running totals, rendering the
/metrics body, and a scrape as Prometheus does it (HTTP GET on loopback asking for
gzip, through monitor/web.py; the median of K); and measures the most memory one
rendering holds at once (tracemalloc peak) and how much the process's RSS grew over
the K scrapes. Nothing is probed; only loopback.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from functools import partial
from pathlib import Path

from monitor import config as config_mod
from monitor.daemon import Monitor, tune_malloc
from monitor.figures.periods import LIVE_PERIODS
from monitor.metrics import CONTENT_TYPE, DaemonStatus, build_registry, exposition
from monitor.store import Store, open_store
from monitor.web import MetricsServer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from store import targets_doc  # bench/store.py: the same targets.yaml

DAY = 86400.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


def build(n: int, folder: Path, all_series: bool) -> tuple[config_mod.Config, Store, float]:
    doc = targets_doc([f"t{i}" for i in range(n)])
    if all_series:  # every figure of every period and every extra, per target
        doc["metrics"] = {
            "target_figures": dict.fromkeys(LIVE_PERIODS, "all"),
            "target_extras": list(config_mod.TARGET_EXTRAS),
        }
    config = config_mod.parse(doc, "bench.yaml", {})
    store = open_store(folder / "bench.db")
    now = 1_732_000_000.0  # a Tuesday in November 2024
    names = [t.name for t in config.targets]
    for week in range(4, 0, -1):  # a restart a week: one coverage span per target per week
        start = now - week * 7 * DAY
        store.begin_coverage(((name, False) for name in names), start)
        store.end_coverage(None, start + 7 * DAY - 600)
    for i, name in enumerate(names):
        for k in range(3):
            s = now - (k + 1) * 5 * DAY + (i % 97) * 60
            store.close_outage(store.insert_outage(name, s, "HTTP 503", s), s + 1800)
    return config, store, now


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sizes", type=int, nargs="*", default=[1000, 10000])
    ap.add_argument("--scrapes", type=int, default=20, help="HTTP scrapes per size")
    ap.add_argument(
        "--glibc-default",
        action="store_true",
        help="leave malloc as glibc sets it (as before the daemon tuned it)",
    )
    ap.add_argument(
        "--all-series",
        action="store_true",
        help="export every per-target series (metrics.target_figures: all, every extra)",
    )
    args = ap.parse_args()
    if not args.glibc_default:
        tune_malloc()  # as the daemon does
    print(
        f"{'targets':>8} {'rebuild s':>10} {'render s':>9} {'scrape s':>9} {'MB':>6}"
        f" {'gzip MB':>8} {'series':>8} {'alloc peak MB':>14} {'RSS growth MB':>14}"
    )
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as folder:
            config, store, now = build(n, Path(folder), args.all_series)
            monitor = Monitor(config, store, Clock(now))
            t0 = time.perf_counter()
            monitor.resume()
            rebuild = time.perf_counter() - t0
            registry = build_registry(monitor, DaemonStatus())
            exposition(monitor, registry)  # warm
            monitor.clock.now += 30  # type: ignore[attr-defined]
            t0 = time.perf_counter()
            body = b"".join(exposition(monitor, registry))
            render = time.perf_counter() - t0
            server = MetricsServer(
                ("127.0.0.1", 0), partial(exposition, monitor, registry), CONTENT_TYPE
            )
            server.start()
            url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
            times, packed, rss_before = [], 0, rss_mb()
            try:  # as Prometheus scrapes: over HTTP, asking for gzip (and some without)
                for k in range(args.scrapes):
                    monitor.clock.now += 7.3  # type: ignore[attr-defined]
                    gzip = k % 4 != 3
                    request = urllib.request.Request(
                        url, headers={"Accept-Encoding": "gzip" if gzip else "identity"}
                    )
                    t0 = time.perf_counter()
                    with urllib.request.urlopen(request, timeout=60) as resp:
                        size = len(resp.read())  # the body is not kept: RSS is the server's
                    if gzip:
                        times.append(time.perf_counter() - t0)
                        packed = size
            finally:
                server.shutdown()
                server.server_close()
            growth = rss_mb() - rss_before
            tracemalloc.start()  # the most memory one scrape holds at once
            exposition(monitor, registry)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
            print(
                f"{n:>8} {rebuild:>10.2f} {render:>9.3f} {statistics.median(times):>9.3f}"
                f" {len(body) / 1e6:>6.1f} {packed / 1e6:>8.2f} {series:>8}"
                f" {peak / 1e6:>14.1f} {growth:>14.1f}"
            )
            store.close()


if __name__ == "__main__":
    main()
