"""CPU per probe of availmon's own probe functions, by concurrency (no daemon, no scheduler).

Usage: .venv/bin/python bench/probe_cost.py [--probes 600] [--conc 1 8 32 64]

Calls ``monitor.probes.icmp.run`` (distinct loopback addresses 127.2.x.y, count 3) and
``monitor.probes.http.run`` (a local bench/httpd.py server on 127.0.0.1) from a thread
pool of each size and prints process CPU (user+sys) per probe and wall time. Shows how the
per-probe cost of ICMP grows with the number of probes in flight: with raw sockets every
open socket receives (and icmplib parses) every ICMP packet on the host. Loopback only;
bounded by --probes.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.probes import http as http_probe  # noqa: E402
from monitor.probes import icmp as icmp_probe  # noqa: E402


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(fn, settings: list, conc: int) -> tuple[float, float, int]:
    c0, t0 = cpu(), time.monotonic()
    with ThreadPoolExecutor(conc) as pool:
        results = list(pool.map(lambda s: fn(s, 5.0), settings))
    ok = sum(r.success for r in results)
    return (cpu() - c0) / len(settings), time.monotonic() - t0, ok


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--probes", type=int, default=600)
    ap.add_argument("--conc", type=int, nargs="+", default=[1, 8, 32, 64])
    args = ap.parse_args()
    n = min(args.probes, 5000)
    privileged = icmp_probe.detect_privileged()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    httpd = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "httpd.py"), str(port)],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert httpd.stdout is not None and httpd.stdout.readline().strip() == b"ready"
        icmp_settings = [
            icmp_probe.Settings(host=f"127.2.{i // 254 + 1}.{i % 254 + 1}") for i in range(n)
        ]
        http_settings = [
            http_probe.parse_settings({"url": f"http://127.0.0.1:{port}/ok/{i}"}, {})
            for i in range(n)
        ]
        print(f"icmp privileged (raw socket) = {privileged}; {n} probes per row")
        print(f"{'probe':>5} {'threads':>7} {'ms CPU/probe':>12} {'wall s':>7} {'ok':>5}")
        for conc in args.conc:
            for name, fn, settings in (
                ("icmp", icmp_probe.run, icmp_settings),
                ("http", http_probe.run, http_settings),
            ):
                per, wall, ok = measure(fn, settings, conc)
                print(f"{name:>5} {conc:>7} {1000 * per:>12.2f} {wall:>7.1f} {ok:>5}", flush=True)
    finally:
        os.killpg(httpd.pid, signal.SIGTERM)
        httpd.wait(10)


if __name__ == "__main__":
    main()
