"""Load benchmark: availmon vs blackbox_exporter+Prometheus vs fping, loopback only.

Usage (see BENCHMARKS.md):

    .venv/bin/python bench/load.py --targets 1000 5000 --interval 30s 60s --duration 150s

One *case* per --targets value (with the matching --interval, or the single one given).
For each case:

1. availmon: writes a targets.yaml (schedule: always, listen on a free loopback port,
   temp db): ICMP targets on distinct loopback addresses 127.1.x.y and HTTP targets
   spread over a few local HTTP servers (bench/httpd.py), a share of them answering 503.
   Starts ``availmon run``, waits ``--warmup`` (default one interval + 15 s), then measures
   for ``--duration``: probes completed (``availmon_probes_total`` delta) vs scheduled,
   lateness quantiles from the ``availmon_probe_lateness_seconds`` bucket deltas, CPU
   (utime+stime from /proc/PID/stat), peak RSS (VmHWM), /metrics scrape time and size (it
   is scraped once per probe interval during the window, as Prometheus would), database
   growth (db + WAL size delta, extrapolated to a day), APScheduler skip/miss warnings.
   With ``--profile S`` it then runs ``py-spy record`` for S seconds on the daemon.
2. blackbox_exporter + Prometheus on the same targets (one job per module, relabelling,
   scrape interval = probe interval): CPU and VmHWM of both processes, probes performed
   (``count_over_time(up[window])``) vs expected, scrape-interval jitter.
3. fping -c 3 on the same ICMP addresses: CPU per ICMP probe at fping's pacing limit.

Missing tools give "n/a (reason)". Every process started here runs in its own process
group and is killed in ``finally``. Only 127.0.0.0/8 is ever contacted.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = Path(sys.executable)
AVAILMON = ROOT / ".venv" / "bin" / "availmon"
CLK_TCK = os.sysconf("SC_CLK_TCK")
DAY = 86400.0
LATENESS_RE = re.compile(r'^availmon_probe_lateness_seconds_bucket\{le="([^"]+)"\}\s+(\S+)', re.M)
PROBES_RE = re.compile(r"^availmon_probes_total\{[^}]*result=\"(success|failure)\"\}\s+(\S+)", re.M)


# --------------------------------------------------------------------------- helpers


def parse_duration(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"bad duration {text!r} (e.g. 90s, 2m)")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loopback(i: int) -> str:
    """The i-th distinct loopback address, 127.1.1.1 upwards (no .0/.255 octets)."""
    x, rest = divmod(i, 254 * 254)
    y, z = divmod(rest, 254)
    if x > 253:
        raise ValueError("too many targets for 127.0.0.0/8")
    return f"127.{x + 1}.{y + 1}.{z + 1}"


def assert_loopback(url_or_host: str) -> None:
    host = urllib.parse.urlsplit(url_or_host).hostname if "//" in url_or_host else url_or_host
    if not (host or "").startswith("127."):
        raise SystemExit(f"refusing non-loopback address {url_or_host!r}")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK  # fields 14, 15: utime, stime


def status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def fetch(url: str, timeout: float = 30.0) -> tuple[bytes, float]:
    """GET url as Prometheus scrapes (asking for gzip); the body and the seconds it took."""
    assert_loopback(url)
    t0 = time.perf_counter()
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        body = resp.read()
        if resp.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
    return body, time.perf_counter() - t0


def wait_http(url: str, proc: subprocess.Popen[Any], limit: float) -> float:
    """Poll until url answers 200; returns the seconds it took."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if proc.poll() is not None:
            raise RuntimeError(
                f"process exited with {proc.returncode} before {url} answered (see its log)"
            )
        try:
            fetch(url, timeout=5)
            return time.monotonic() - t0
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {limit:.0f}s")


class Procs:
    """Every child in its own process group; stop_all() kills the groups."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[Any]] = []

    def start(self, argv: list[str], log: Path, **kw: Any) -> subprocess.Popen[Any]:
        out = open(log, "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            argv, stdout=kw.pop("stdout", out), stderr=out, start_new_session=True, **kw
        )
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[Any], grace: float = 15.0) -> None:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
            except ProcessLookupError:
                pass
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs)):
            try:
                self.stop(proc)
            except Exception as exc:  # keep stopping the others
                print(f"warning: could not stop pid {proc.pid}: {exc}", file=sys.stderr)


def quantile_from_buckets(buckets: dict[float, float], q: float) -> str:
    """Upper bound of the bucket holding the q-quantile, as '≤X s' (or '>X s')."""
    bounds = sorted(buckets)
    total = buckets.get(math.inf, 0)
    if total <= 0:
        return "n/a (no samples)"
    rank = q * total
    prev = 0.0
    for le in bounds:
        if buckets[le] >= rank - 1e-9:
            if le == math.inf:
                return f">{prev:g}s"
            return f"≤{le:g}s"
        prev = le
    return "?"


def max_from_buckets(buckets: dict[float, float]) -> str:
    bounds = sorted(buckets)
    total = buckets.get(math.inf, 0)
    if total <= 0:
        return "n/a"
    prev = 0.0
    for le in bounds:
        if buckets[le] >= total:
            return f">{prev:g}s" if le == math.inf else f"≤{le:g}s"
        prev = le
    return "?"


# --------------------------------------------------------------------------- workload


@dataclass
class Workload:
    n: int
    interval: float
    icmp: list[str]
    http: list[tuple[str, bool]]  # (url, expected to fail)
    http_ports: list[int]

    @classmethod
    def make(
        cls, n: int, interval: float, http_share: float, fail_share: float, servers: int
    ) -> Workload:
        n_http = round(n * http_share)
        ports = [free_port() for _ in range(servers)] if n_http else []
        n_fail = round(n_http * fail_share)
        http = []
        for i in range(n_http):
            fail = i < n_fail
            url = f"http://127.0.0.1:{ports[i % servers]}/{'fail' if fail else 'ok'}/{i}"
            http.append((url, fail))
        icmp = [loopback(i) for i in range(n - n_http)]
        return cls(n, interval, icmp, http, ports)

    def availmon_yaml(self, port: int) -> str:
        lines = [
            "defaults:",
            f"  interval: {self.interval:g}s",
            f"  timeout: {min(5.0, self.interval / 2):g}s",
            "  schedule: always",
            "groups:",
            "  network: {objective: 99%}",
            "  systems: {objective: 99%}",
            "storage: {path: availmon.db, heartbeat: 15s}",
            f'listen: "127.0.0.1:{port}"',
            "targets:",
        ]
        for i, addr in enumerate(self.icmp):
            lines.append(f"  - {{name: ping-{i}, group: network, type: icmp, host: {addr}}}")
        for i, (url, _) in enumerate(self.http):
            lines.append(f'  - {{name: web-{i}, group: systems, type: http, url: "{url}"}}')
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- availmon


def parse_availmon(body: bytes) -> tuple[float, dict[float, float], Counter[str]]:
    text = body.decode("utf-8", "replace")
    probes: Counter[str] = Counter()
    for result, value in PROBES_RE.findall(text):
        probes[result] += float(value)
    buckets = {
        (math.inf if le == "+Inf" else float(le)): float(v) for le, v in LATENESS_RE.findall(text)
    }
    return sum(probes.values()), buckets, probes


def run_availmon(wl: Workload, args: argparse.Namespace, work: Path, procs: Procs) -> dict:
    res: dict[str, Any] = {}
    port = free_port()
    cfg = work / "targets.yaml"
    cfg.write_text(wl.availmon_yaml(port))
    db = work / "availmon.db"
    log = work / "availmon.log"
    url = f"http://127.0.0.1:{port}/metrics"
    proc = procs.start(
        [str(AVAILMON), "run", "-c", str(cfg), "--db", str(db), "--listen", f"127.0.0.1:{port}"],
        log,
        cwd=work,
    )
    try:
        try:
            res["startup_s"] = wait_http(url, proc, 300)
        except RuntimeError:
            print(log.read_text()[-2000:], file=sys.stderr)
            raise
        print(
            f"  availmon up after {res['startup_s']:.1f}s; warm-up {args.warmup_s:.0f}s", flush=True
        )
        time.sleep(args.warmup_s)

        def db_bytes() -> int:
            """Live (non-free) bytes of the database as a reader sees it, WAL included."""
            import sqlite3

            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
            try:
                pages, free, size = (
                    con.execute(f"PRAGMA {p}").fetchone()[0]
                    for p in ("page_count", "freelist_count", "page_size")
                )
            finally:
                con.close()
            return (pages - free) * size

        body, _ = fetch(url)
        t_a, cpu_a, db_a = time.monotonic(), cpu_seconds(proc.pid), db_bytes()
        probes_a, buckets_a, res_a = parse_availmon(body)
        log_a = log.read_bytes()
        scrape_times, scrape_sizes = [], []
        end = t_a + args.duration
        every = min(wl.interval, 60.0)
        next_scrape = t_a + every
        while True:  # bounded by the window
            now = time.monotonic()
            if now >= end:
                break
            if now >= next_scrape and now + 5 < end:
                body, secs = fetch(url)
                scrape_times.append(secs)
                scrape_sizes.append(len(body))
                next_scrape += every
            time.sleep(min(1.0, max(0.0, end - now)))
        cpu_b_pre = cpu_seconds(proc.pid)  # before our last scrape
        body, secs = fetch(url)
        t_b, db_b = time.monotonic(), db_bytes()
        scrape_times.append(secs)
        scrape_sizes.append(len(body))
        probes_b, buckets_b, res_b = parse_availmon(body)
        window = t_b - t_a
        done = probes_b - probes_a
        scheduled = wl.n * window / wl.interval
        lat = {le: buckets_b.get(le, 0) - buckets_a.get(le, 0) for le in buckets_b}
        new_log = log.read_bytes()[len(log_a) :].decode("utf-8", "replace")
        cpu = cpu_b_pre - cpu_a
        res.update(
            window_s=window,
            scheduled=scheduled,
            done=done,
            done_ratio=done / scheduled if scheduled else 0,
            probes_per_s=done / window,
            scheduled_per_s=wl.n / wl.interval,
            failures=res_b["failure"] - res_a["failure"],
            lateness_n=lat.get(math.inf, 0),
            lat_p50=quantile_from_buckets(lat, 0.50),
            lat_p99=quantile_from_buckets(lat, 0.99),
            lat_max=max_from_buckets(lat),
            lat_over_1s=(lat.get(math.inf, 0) - lat.get(1.0, 0)) / max(lat.get(math.inf, 0), 1),
            cpu_s=cpu,
            cpu_core_pct=100 * cpu / window,
            cpu_per_1k=1000 * cpu / done if done else math.nan,
            rss_peak_mb=status_kb(proc.pid, "VmHWM") / 1024,
            rss_now_mb=status_kb(proc.pid, "VmRSS") / 1024,
            threads=status_kb(proc.pid, "Threads"),
            scrape_s_max=max(scrape_times),
            scrape_s_med=sorted(scrape_times)[len(scrape_times) // 2],
            scrape_mb=scrape_sizes[-1] / 1e6,
            scrapes=len(scrape_times),
            db_per_day_mb=(db_b - db_a) / window * DAY / 1e6,
            db_end_mb=db_b / 1e6,
            skipped_max_instances=new_log.count("maximum number of running instances"),
            missed=new_log.count("was missed by"),
            errors=sum(
                1 for line in new_log.splitlines() if " ERROR " in line or "Traceback" in line
            ),
        )
        if args.profile > 0:
            res["profile"] = profile(proc.pid, args.profile, work, args.keep)
        res["rss_peak_mb"] = status_kb(proc.pid, "VmHWM") / 1024
    finally:
        procs.stop(proc)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(log, args.keep / f"availmon-{wl.n}-{wl.interval:g}s.log")
    return res


def profile(pid: int, seconds: float, work: Path, keep: Path | None) -> dict:
    """py-spy record (raw folded stacks) -> self and inclusive shares by function.

    ``--gil`` keeps only samples of the thread holding the GIL: Python CPU time. Without
    it, threads blocked in recvfrom() are counted too (py-spy's idle detection misses them),
    which shows where threads *wait*, not where CPU goes.
    """
    spy = shutil.which("py-spy", path=str(PYTHON.parent)) or shutil.which("py-spy")
    if not spy:
        return {"error": "py-spy not installed (.venv/bin/pip install py-spy)"}
    out = work / "profile.txt"
    try:
        subprocess.run(
            [
                spy,
                "record",
                "-p",
                str(pid),
                "-d",
                str(int(seconds)),
                "-r",
                "50",
                "--gil",
                "--format",
                "raw",
                "-o",
                str(out),
            ],
            capture_output=True,
            timeout=seconds + 60,
            check=True,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        return {"error": str(exc)}
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = [re.sub(r" \((.*/)?([^/]+):\d+\)$", r" (\2)", f) for f in stack.split(";")]
        self_c[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(out, keep / f"profile-{pid}.txt")
    return {"samples": total, "self": self_c.most_common(25), "inclusive": incl.most_common(40)}


# --------------------------------------------------------------------------- blackbox


BLACKBOX_YML = """modules:
  icmp:
    prober: icmp
    timeout: 5s
    icmp:
      preferred_ip_protocol: ip4
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
"""


def prometheus_yml(wl: Workload, bb_port: int, work: Path) -> str:
    (work / "icmp.json").write_text(json.dumps([{"targets": wl.icmp}]))
    (work / "http.json").write_text(json.dumps([{"targets": [u for u, _ in wl.http]}]))
    jobs = []
    for module, sd in (("icmp", "icmp.json"), ("http_2xx", "http.json")):
        if module == "http_2xx" and not wl.http:
            continue
        jobs.append(f"""  - job_name: blackbox_{module}
    metrics_path: /probe
    params: {{module: [{module}]}}
    file_sd_configs: [{{files: ["{work / sd}"]}}]
    relabel_configs:
      - {{source_labels: [__address__], target_label: __param_target}}
      - {{source_labels: [__param_target], target_label: instance}}
      - {{target_label: __address__, replacement: "127.0.0.1:{bb_port}"}}
""")
    iv = f"{wl.interval:g}s"
    timeout = f"{min(wl.interval, 10):g}s"
    return (
        f"global: {{scrape_interval: {iv}, scrape_timeout: {timeout}, "
        f"evaluation_interval: {iv}}}\nscrape_configs:\n" + "".join(jobs)
    )


def prom_query(port: int, expr: str, at: float | None = None) -> list[dict]:
    params = {"query": expr}
    if at is not None:
        params["time"] = f"{at:.3f}"
    body, _ = fetch(f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode(params))
    data = json.loads(body)
    return data["data"]["result"]


def prom_scalar(port: int, expr: str, at: float | None = None) -> float:
    result = prom_query(port, expr, at)
    return float(result[0]["value"][1]) if result else math.nan


def run_blackbox(wl: Workload, args: argparse.Namespace, work: Path, procs: Procs) -> dict:
    bb_bin = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")
    prom_bin = shutil.which("prometheus")
    if not bb_bin or not prom_bin:
        return {
            "na": "prometheus-blackbox-exporter / prometheus not installed "
            "(apt-get install -y prometheus-blackbox-exporter prometheus)"
        }
    res: dict[str, Any] = {}
    bb_port, prom_port = free_port(), free_port()
    (work / "blackbox.yml").write_text(BLACKBOX_YML)
    (work / "prometheus.yml").write_text(prometheus_yml(wl, bb_port, work))
    bb = procs.start(
        [
            bb_bin,
            f"--config.file={work / 'blackbox.yml'}",
            f"--web.listen-address=127.0.0.1:{bb_port}",
            "--log.level=warn",
        ],
        work / "blackbox.log",
    )
    prom = procs.start(
        [
            prom_bin,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
            "--storage.tsdb.retention.time=1d",
            "--log.level=warn",
        ],
        work / "prometheus.log",
    )
    try:
        wait_http(f"http://127.0.0.1:{bb_port}/metrics", bb, 60)
        wait_http(f"http://127.0.0.1:{prom_port}/-/ready", prom, 120)
        print(f"  blackbox+prometheus up; warm-up {args.warmup_s:.0f}s", flush=True)
        time.sleep(args.warmup_s)

        def tsdb_bytes() -> int:
            return sum(p.stat().st_size for p in (work / "tsdb").rglob("*") if p.is_file())

        t_a = time.monotonic()
        wall_a = time.time()
        cpu_a = (cpu_seconds(bb.pid), cpu_seconds(prom.pid))
        disk_a = tsdb_bytes()
        time.sleep(args.duration)
        cpu_b = (cpu_seconds(bb.pid), cpu_seconds(prom.pid))
        t_b = time.monotonic()
        wall_b = time.time()
        disk_b = tsdb_bytes()
        window = t_b - t_a
        time.sleep(min(wl.interval, 15))  # let the last scrapes land before querying
        w = f"{int(window)}s"
        done = prom_scalar(
            prom_port, f'sum(count_over_time(up{{job=~"blackbox_.*"}}[{w}]))', wall_b
        )
        ok = prom_scalar(prom_port, f"sum(sum_over_time(probe_success[{w}]))", wall_b)
        # Prometheus does not scrape itself here: read its own /metrics for the jitter.
        own, _ = fetch(f"http://127.0.0.1:{prom_port}/metrics")
        jitter = dict(
            re.findall(
                r'^prometheus_target_interval_length_seconds\{interval="[^"]*",quantile="([0-9.]+)"\}'
                r"\s+(\S+)",
                own.decode(),
                re.M,
            )
        )  # interval label is Go-style: "30s", "1m"
        jitter = {k: float(v) for k, v in jitter.items()}
        dur_p99 = prom_scalar(
            prom_port, 'quantile(0.99, scrape_duration_seconds{job=~"blackbox_.*"})'
        )
        scheduled = wl.n * window / wl.interval
        cpu_bb, cpu_prom = cpu_b[0] - cpu_a[0], cpu_b[1] - cpu_a[1]
        res.update(
            window_s=window,
            scheduled=scheduled,
            done=done,
            done_ratio=done / scheduled if scheduled else 0,
            failures=done - ok,
            probes_per_s=done / window,
            cpu_bb_s=cpu_bb,
            cpu_prom_s=cpu_prom,
            cpu_core_pct=100 * (cpu_bb + cpu_prom) / window,
            cpu_per_1k=1000 * (cpu_bb + cpu_prom) / done if done else math.nan,
            cpu_bb_per_1k=1000 * cpu_bb / done if done else math.nan,
            rss_bb_mb=status_kb(bb.pid, "VmHWM") / 1024,
            rss_prom_mb=status_kb(prom.pid, "VmHWM") / 1024,
            interval_q01=jitter.get("0.01", math.nan),
            interval_q99=jitter.get("0.99", math.nan),
            scrape_dur_p99=dur_p99,
            tsdb_per_day_mb=(disk_b - disk_a) / window * DAY / 1e6,
            _wall=(wall_a, wall_b),
        )
    except (RuntimeError, OSError, KeyError, ValueError) as exc:
        res["na"] = f"failed: {exc}"
    finally:
        procs.stop(prom)
        procs.stop(bb)
    return res


# --------------------------------------------------------------------------- fping


def run_fping(wl: Workload, work: Path) -> dict:
    fping = shutil.which("fping")
    if not fping:
        return {"na": "fping not installed (apt-get install -y fping)"}
    if not wl.icmp:
        return {"na": "no ICMP targets"}
    for addr in wl.icmp:
        assert_loopback(addr)
    hosts = work / "fping-hosts.txt"
    hosts.write_text("\n".join(wl.icmp) + "\n")
    # -c 3 like availmon's default count; -i 1 ms between any two packets (fping's pacing
    # floor), -p 200 ms between packets to one host like availmon, -t 1 s reply timeout.
    argv = [fping, "-c", "3", "-q", "-i", "1", "-p", "200", "-t", "1000", "-f", str(hosts)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            argv, capture_output=True, timeout=max(120, len(wl.icmp) * 0.01), start_new_session=True
        )
    except subprocess.TimeoutExpired:
        return {"na": "fping timed out"}
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summaries = [ln for ln in proc.stderr.decode().splitlines() if "xmt/rcv/%loss" in ln]
    full = sum(1 for ln in summaries if "3/3/0%" in ln)
    return {
        "probes": len(summaries),
        "replied": full,
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_per_1k": 1000 * cpu / max(len(summaries), 1),
        "probes_per_s_limit": len(summaries) / wall if wall else math.nan,
    }


# --------------------------------------------------------------------------- table


def fmt(v: Any, spec: str = ".2f") -> str:
    if isinstance(v, str):
        return v
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return format(v, spec)


def table(cases: list[dict]) -> str:
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, f) -> None:
        cells = []
        for c in cases:
            try:
                cells.append(f(c))
            except (KeyError, TypeError, ValueError, ZeroDivisionError):
                cells.append("n/a")
        rows.append((label, cells))

    def na(part: str, key: str, spec: str = ".2f", scale: float = 1.0):
        def get(c: dict) -> str:
            d = c[part]
            if "na" in d:
                return "n/a (" + d["na"][:40] + ")"
            v = d[key]
            return fmt(v * scale if isinstance(v, float | int) else v, spec)

        return get

    row(
        "workload",
        lambda c: (
            f"{c['n']} @ {c['interval']:g}s ({c['n_icmp']} icmp, "
            f"{c['n_http']} http, {c['n_fail']} failing)"
        ),
    )
    row("measuring window (s)", na("availmon", "window_s", ".0f"))
    rows.append(("— availmon —", ["" for _ in cases]))
    row(
        "probes/s done vs scheduled",
        lambda c: f"{c['availmon']['probes_per_s']:.1f} / {c['availmon']['scheduled_per_s']:.1f}",
    )
    row("probes run / scheduled", na("availmon", "done_ratio", ".2%", 1.0))
    row(
        "lateness p50 / p99 / max",
        lambda c: (
            f"{c['availmon']['lat_p50']} / {c['availmon']['lat_p99']} / {c['availmon']['lat_max']}"
        ),
    )
    row("lateness share > 1 s", na("availmon", "lat_over_1s", ".2%"))
    row(
        "APScheduler skipped / missed",
        lambda c: f"{c['availmon']['skipped_max_instances']} / {c['availmon']['missed']}",
    )
    row("CPU % of one core", na("availmon", "cpu_core_pct", ".1f"))
    row("CPU s per 1,000 probes", na("availmon", "cpu_per_1k", ".3f"))
    row("peak RSS (VmHWM) MB", na("availmon", "rss_peak_mb", ".0f"))
    row("threads", na("availmon", "threads", ".0f"))
    row(
        "/metrics scrape s (median / max)",
        lambda c: f"{c['availmon']['scrape_s_med']:.3f} / {c['availmon']['scrape_s_max']:.3f}",
    )
    row("/metrics size MB", na("availmon", "scrape_mb", ".1f"))
    row("db growth MB/day (live pages)", na("availmon", "db_per_day_mb", ".2f"))
    row("start-up s (to first /metrics)", na("availmon", "startup_s", ".1f"))
    rows.append(("— blackbox + Prometheus —", ["" for _ in cases]))
    row("probes run / expected", na("blackbox", "done_ratio", ".2%"))
    row("CPU % of one core (bb+prom)", na("blackbox", "cpu_core_pct", ".1f"))
    row("CPU s per 1,000 probes (bb+prom)", na("blackbox", "cpu_per_1k", ".3f"))
    row("  of which blackbox", na("blackbox", "cpu_bb_per_1k", ".3f"))
    row(
        "peak RSS MB blackbox / prom",
        lambda c: (
            f"{c['blackbox']['rss_bb_mb']:.0f} / {c['blackbox']['rss_prom_mb']:.0f}"
            if "na" not in c["blackbox"]
            else "n/a (" + c["blackbox"]["na"][:40] + ")"
        ),
    )
    row(
        "scrape interval q01 / q99 s",
        lambda c: f"{c['blackbox']['interval_q01']:.3f} / {c['blackbox']['interval_q99']:.3f}",
    )
    row("TSDB growth MB/day", na("blackbox", "tsdb_per_day_mb", ".1f"))
    row(
        "ratio CPU availmon / (bb+prom)",
        lambda c: f"{c['availmon']['cpu_per_1k'] / c['blackbox']['cpu_per_1k']:.2f}x",
    )

    def rss_ratio(c: dict) -> str:
        bb = c["blackbox"]
        return f"{c['availmon']['rss_peak_mb'] / (bb['rss_bb_mb'] + bb['rss_prom_mb']):.2f}x"

    row("ratio RSS availmon / (bb+prom)", rss_ratio)
    rows.append(("— fping -c 3 (floor) —", ["" for _ in cases]))
    row(
        "ICMP probes / wall s",
        lambda c: (
            f"{c['fping']['probes']} / {c['fping']['wall_s']:.1f}"
            if "na" not in c["fping"]
            else "n/a (" + c["fping"]["na"] + ")"
        ),
    )
    row("CPU s per 1,000 ICMP probes", na("fping", "cpu_per_1k", ".3f"))
    row(
        "ratio availmon / fping (all probes)",
        lambda c: f"{c['availmon']['cpu_per_1k'] / c['fping']['cpu_per_1k']:.1f}x",
    )
    width = max(len(r[0]) for r in rows)
    colw = [max(len(r[1][i]) for r in rows) for i in range(len(cases))]
    lines = []
    for label, cells in rows:
        lines.append(
            "| "
            + label.ljust(width)
            + " | "
            + " | ".join(c.ljust(colw[i]) for i, c in enumerate(cells))
            + " |"
        )
        if label == "workload":
            lines.append(
                "|" + "-" * (width + 2) + "|" + "|".join("-" * (w + 2) for w in colw) + "|"
            )
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", type=int, nargs="+", default=[1000])
    ap.add_argument(
        "--interval",
        type=parse_duration,
        nargs="+",
        default=[30.0],
        help="one for all cases, or one per --targets value",
    )
    ap.add_argument(
        "--duration",
        type=parse_duration,
        default=180.0,
        help="measuring window per system (after warm-up), e.g. 90s, 3m",
    )
    ap.add_argument(
        "--warmup", type=parse_duration, default=None, help="default: one interval + 15s"
    )
    ap.add_argument("--http-share", type=float, default=0.1, help="share of targets on HTTP")
    ap.add_argument("--fail-share", type=float, default=0.05, help="share of HTTP returning 503")
    ap.add_argument("--http-servers", type=int, default=4)
    ap.add_argument(
        "--profile",
        type=parse_duration,
        default=0.0,
        help="py-spy record this long on availmon after its window (0: off)",
    )
    ap.add_argument("--skip", nargs="*", default=[], choices=["availmon", "blackbox", "fping"])
    ap.add_argument("--json", type=Path, help="also write all results here")
    ap.add_argument("--keep", type=Path, help="copy py-spy folded stacks and logs here")
    args = ap.parse_args()
    if len(args.interval) not in (1, len(args.targets)):
        ap.error("give one --interval, or one per --targets value")
    intervals = args.interval * len(args.targets) if len(args.interval) == 1 else args.interval
    cases = []
    procs = Procs()
    try:
        for n, interval in zip(args.targets, intervals, strict=True):
            args.warmup_s = args.warmup if args.warmup is not None else interval + 15
            wl = Workload.make(n, interval, args.http_share, args.fail_share, args.http_servers)
            case: dict[str, Any] = {
                "n": n,
                "interval": interval,
                "n_icmp": len(wl.icmp),
                "n_http": len(wl.http),
                "n_fail": sum(f for _, f in wl.http),
            }
            with tempfile.TemporaryDirectory(prefix="availmon-load-") as tmp:
                work = Path(tmp)
                httpd = None
                if wl.http_ports:
                    httpd = procs.start(
                        [str(PYTHON), str(ROOT / "bench" / "httpd.py"), *map(str, wl.http_ports)],
                        work / "httpd.log",
                        stdout=subprocess.PIPE,
                    )
                    assert httpd.stdout is not None
                    if httpd.stdout.readline().strip() != b"ready":
                        raise SystemExit("bench/httpd.py did not start")
                    case["httpd_pid"] = httpd.pid
                try:
                    for part, fn in (("availmon", run_availmon), ("blackbox", run_blackbox)):
                        if part in args.skip:
                            case[part] = {"na": "skipped"}
                            continue
                        print(f"[{n} @ {interval:g}s] {part} ...", flush=True)
                        (work / part).mkdir()
                        h0 = cpu_seconds(httpd.pid) if httpd else 0.0
                        case[part] = fn(wl, args, work / part, procs)
                        if httpd:
                            case[part]["httpd_cpu_s"] = cpu_seconds(httpd.pid) - h0
                    if "fping" in args.skip:
                        case["fping"] = {"na": "skipped"}
                    else:
                        print(f"[{n} @ {interval:g}s] fping ...", flush=True)
                        case["fping"] = run_fping(wl, work)
                finally:
                    if httpd:
                        procs.stop(httpd)
            cases.append(case)
            print(json.dumps(case, default=str)[:2000], file=sys.stderr, flush=True)
    finally:
        procs.stop_all()
    print()
    print(f"nproc={os.cpu_count()} load(1,5,15)={os.getloadavg()}  python={sys.version.split()[0]}")
    print(table(cases))
    for case in cases:
        prof = case.get("availmon", {}).get("profile")
        if prof and "self" in prof:
            print(
                f"\npy-spy ({case['n']} @ {case['interval']:g}s, {prof['samples']} samples, "
                "GIL holder): top self time"
            )
            for name, count in prof["self"][:15]:
                print(f"  {100 * count / prof['samples']:5.1f}%  {name}")
            print("  top inclusive")
            for name, count in prof["inclusive"][:25]:
                print(f"  {100 * count / prof['samples']:5.1f}%  {name}")
    if args.json:
        args.json.write_text(json.dumps(cases, indent=1, default=str))


if __name__ == "__main__":
    main()
