"""Load benchmark, whole stack: availmon + its Prometheus vs blackbox_exporter + Prometheus,
and fping; loopback only.

Usage (see BENCHMARKS.md):

    PYTHONPATH=$PWD .venv/bin/python bench/load.py --targets 10000 --interval 60s --duration 120s
    PYTHONPATH=$PWD .venv/bin/python bench/load.py --targets 100000 --interval 60s --shards 4 \\
        --skip blackbox fping

One *case* per --targets value (with the matching --interval, or the single one given).
For each case, one stack after the other on the same workload:

1. availmon + Prometheus: writes a targets.yaml (schedule: always): ICMP targets on
   distinct loopback addresses 127.1.x.y and HTTP targets spread over a few local HTTP
   servers (bench/httpd.py), a share of them answering 503. Starts ``--shards N``
   ``availmon run --shard K/N`` processes (each its own --db and --listen port; one plain
   ``availmon run`` for N = 1) and one Prometheus on the shipped prometheus/prometheus.yml
   and rules, its availmon job pointed at every shard and scraped (rules evaluated) once
   per probe interval. Waits ``--warmup`` (default two intervals + 15 s: rules over
   rate() have made their series by then, so the WAL grows by samples alone), then
   measures for ``--duration``: probe turns taken vs scheduled and lateness quantiles,
   from the ``availmon_probe_lateness_seconds`` bucket deltas of all shards, CPU
   (utime+stime from /proc/PID/stat) and peak RSS (VmHWM) of every shard, database
   growth, APScheduler skip/miss warnings; from Prometheus: its own
   ``scrape_duration_seconds`` and ``up`` for the availmon job over the window, the
   samples per scrape, whether the cross-shard group rules evaluate. With ``--profile S``
   it then runs ``py-spy record`` for S seconds on the first shard.
2. blackbox_exporter + Prometheus on the same targets (one job per module, relabelling,
   scrape interval = probe interval): CPU and VmHWM of both processes, probes performed
   (``count_over_time(up[window])``) vs expected, scrape-interval jitter.
3. fping -c 3 on the same ICMP addresses: CPU per ICMP probe at fping's pacing limit.

For each Prometheus: CPU and VmHWM, head series (``prometheus_tsdb_head_series``),
samples appended per second, series created in the window, and the growth of its data
directory (in the first hours that is the WAL: every
sample as written, before compaction into blocks) extrapolated to a day. Then a table
with the ratios availmon / blackbox and each goal of issue 16 met or not.

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
import sqlite3
import statistics
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

import yaml

ROOT = Path(__file__).resolve().parent.parent
PYTHON = Path(sys.executable)
SHIPPED_PROMETHEUS = ROOT / "prometheus" / "prometheus.yml"
CLK_TCK = os.sysconf("SC_CLK_TCK")
DAY = 86400.0
LATENESS_RE = re.compile(r'^availmon_probe_lateness_seconds_bucket\{le="([^"]+)"\}\s+(\S+)', re.M)


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

    def start_httpd(self, ports: list[int], log: Path) -> subprocess.Popen[Any]:
        """bench/httpd.py serving the HTTP targets on ``ports``, once it says it is ready."""
        httpd = self.start(
            [str(PYTHON), str(ROOT / "bench" / "httpd.py"), *map(str, ports)],
            log,
            stdout=subprocess.PIPE,
        )
        assert httpd.stdout is not None
        if httpd.stdout.readline().strip() != b"ready":
            raise SystemExit("bench/httpd.py did not start")
        return httpd

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


# --------------------------------------------------------------------------- Prometheus


class Prometheus:
    """A stack's own Prometheus: started on a config, queried, measured from outside.

    It does not scrape itself: its own figures are read from its /metrics directly, so
    they cost neither stack a scrape job.
    """

    def __init__(self, binary: str, config: str, work: Path, procs: Procs) -> None:
        self.port = free_port()
        self.data = work / "tsdb"
        (work / "prometheus.yml").write_text(config)
        self.proc = procs.start(
            [
                binary,
                f"--config.file={work / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.data}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1d",
                "--log.level=warn",
            ],
            work / "prometheus.log",
        )
        wait_http(f"http://127.0.0.1:{self.port}/-/ready", self.proc, 120)

    def query(self, expr: str, at: float | None = None) -> list[dict]:
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode(params)
        return json.loads(fetch(url, timeout=120)[0])["data"]["result"]

    def scalar(self, expr: str, at: float | None = None) -> float:
        result = self.query(expr, at)
        return float(result[0]["value"][1]) if result else math.nan

    def samples(self, range_expr: str, at: float) -> list[float]:
        """Every sample value a range selector (``metric[w]``) holds, all series together."""
        return [float(v) for r in self.query(range_expr, at) for _, v in r["values"]]

    def own(self) -> str:
        return fetch(f"http://127.0.0.1:{self.port}/metrics")[0].decode()

    def own_value(self, name: str) -> float:
        """A metric of its own /metrics, summed over its label sets."""
        found = re.findall(rf"^{name}(?:\{{[^}}]*\}})?\s+(\S+)", self.own(), re.M)
        return sum(float(v) for v in found) if found else math.nan

    def mark(self) -> dict[str, float]:
        """CPU, data directory bytes, samples appended and series created so far."""
        return {
            "cpu": cpu_seconds(self.proc.pid),
            "disk": sum(p.stat().st_size for p in self.data.rglob("*") if p.is_file()),
            "appended": self.own_value("prometheus_tsdb_head_samples_appended_total"),
            "created": self.own_value("prometheus_tsdb_head_series_created_total"),
        }

    def figures(
        self,
        a: dict[str, float],
        b: dict[str, float],
        window: float,
        exporter_cpu: float,
        probes: float,
    ) -> dict:
        """Its cost between two marks (per probe, alone and with the exporter's), its size now."""
        cpu = b["cpu"] - a["cpu"]
        return {
            "prom_cpu_s": cpu,
            "prom_cpu_per_1k": 1000 * cpu / probes if probes else math.nan,
            "stack_cpu_per_1k": 1000 * (exporter_cpu + cpu) / probes if probes else math.nan,
            "stack_core_pct": 100 * (exporter_cpu + cpu) / window,
            "prom_rss_mb": status_kb(self.proc.pid, "VmHWM") / 1024,
            "head_series": self.own_value("prometheus_tsdb_head_series"),
            "samples_per_s": (b["appended"] - a["appended"]) / window,
            "series_created": b["created"] - a["created"],
            "tsdb_per_day_mb": (b["disk"] - a["disk"]) / window * DAY / 1e6,
        }


def availmon_prometheus_yml(ports: list[int], interval: float) -> str:
    """The shipped prometheus.yml and its rules, the availmon job pointed at our instances
    and scraped (rules evaluated) once per probe interval, as the blackbox stack is."""
    config = yaml.safe_load(SHIPPED_PROMETHEUS.read_text())
    every = f"{interval:g}s"
    config["global"].update(scrape_interval=every, evaluation_interval=every)
    config["rule_files"] = [str(SHIPPED_PROMETHEUS.parent / f) for f in config["rule_files"]]
    (job,) = (j for j in config["scrape_configs"] if j["job_name"] == "availmon")
    job["scrape_interval"] = every
    job["static_configs"] = [{"targets": [f"127.0.0.1:{port}" for port in ports]}]
    return yaml.safe_dump(config)


# --------------------------------------------------------------------------- availmon


def lateness_buckets(body: bytes) -> dict[float, float]:
    """The cumulative ``availmon_probe_lateness_seconds`` buckets: one observation per
    probe turn taken (the per-target ``availmon_probes_total`` is opt-in, and turning it
    on would add series to the Prometheus being measured)."""
    found = LATENESS_RE.findall(body.decode("utf-8", "replace"))
    return {(math.inf if le == "+Inf" else float(le)): float(v) for le, v in found}


@dataclass
class Shard:
    """One ``availmon run`` (``--shard K/N`` when N > 1): its process, port, db and log."""

    proc: subprocess.Popen[Any]
    port: int
    db: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def db_bytes(self) -> int:
        """Live (non-free) bytes of the database as a reader sees it, WAL included."""
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        try:
            pages, free, size = (
                con.execute(f"PRAGMA {p}").fetchone()[0]
                for p in ("page_count", "freelist_count", "page_size")
            )
        finally:
            con.close()
        return (pages - free) * size


def start_shards(wl: Workload, n: int, work: Path, procs: Procs) -> list[Shard]:
    ports = [free_port() for _ in range(n)]
    cfg = work / "targets.yaml"
    cfg.write_text(wl.availmon_yaml(ports[0]))  # every shard overrides listen:
    shards = []
    for k, port in enumerate(ports, 1):
        db, log = work / f"shard-{k}.db", work / f"shard-{k}.log"
        argv = [str(PYTHON), "-m", "monitor", "run", "-c", str(cfg), "--db", str(db)]
        argv += ["--listen", f"127.0.0.1:{port}"] + (["--shard", f"{k}/{n}"] if n > 1 else [])
        shards.append(Shard(procs.start(argv, log, cwd=work), port, db, log))
    return shards


def run_availmon(wl: Workload, args: argparse.Namespace, work: Path, procs: Procs) -> dict:
    prom_bin = shutil.which("prometheus")
    if not prom_bin:
        return {"na": "prometheus not installed (apt-get install -y prometheus)"}
    res: dict[str, Any] = {"shards": args.shards_n}
    shards = start_shards(wl, args.shards_n, work, procs)
    prom = None
    try:
        t0 = time.monotonic()
        for shard in shards:
            try:
                wait_http(shard.url, shard.proc, 900)
            except RuntimeError:
                print(shard.log.read_text()[-2000:], file=sys.stderr)
                raise
        res["startup_s"] = time.monotonic() - t0
        prom = Prometheus(
            prom_bin, availmon_prometheus_yml([s.port for s in shards], wl.interval), work, procs
        )
        print(
            f"  {len(shards)} availmon + prometheus up after {res['startup_s']:.1f}s; "
            f"warm-up {args.warmup_s:.0f}s",
            flush=True,
        )
        time.sleep(args.warmup_s)

        # Our own scrapes of the shards lie outside the CPU window: before mark a, after b.
        first = [lateness_buckets(fetch(s.url)[0]) for s in shards]
        t_a, wall_a = time.monotonic(), time.time()
        cpu_a = [cpu_seconds(s.proc.pid) for s in shards]
        prom_a, db_a = prom.mark(), sum(s.db_bytes() for s in shards)
        logs_a = [len(s.log.read_bytes()) for s in shards]
        time.sleep(args.duration)
        cpu_b = [cpu_seconds(s.proc.pid) for s in shards]
        prom_b, t_cpu_b = prom.mark(), time.monotonic()
        bodies = [fetch(s.url)[0] for s in shards]
        t_b, wall_b = time.monotonic(), time.time()
        db_b = sum(s.db_bytes() for s in shards)
        window = t_b - t_a
        cpu_window = t_cpu_b - t_a
        lat: dict[float, float] = {}  # bucket deltas over the window, all shards
        for before, body in zip(first, bodies, strict=True):
            for le, count in lateness_buckets(body).items():
                lat[le] = lat.get(le, 0.0) + count - before.get(le, 0.0)
        done = lat.get(math.inf, 0.0)
        new_log = "".join(
            s.log.read_bytes()[n:].decode("utf-8", "replace")
            for s, n in zip(shards, logs_a, strict=True)
        )
        cpu = sum(b - a for a, b in zip(cpu_a, cpu_b, strict=True))
        scheduled = wl.n * window / wl.interval
        res.update(
            window_s=window,
            scheduled=scheduled,
            done=done,
            done_ratio=done / scheduled if scheduled else 0,
            probes_per_s=done / window,
            scheduled_per_s=wl.n / wl.interval,
            lat_p50=quantile_from_buckets(lat, 0.50),
            lat_p99=quantile_from_buckets(lat, 0.99),
            lat_max=max_from_buckets(lat),
            lat_over_1s=(lat.get(math.inf, 0) - lat.get(1.0, 0)) / max(lat.get(math.inf, 0), 1),
            cpu_s=cpu,
            cpu_core_pct=100 * cpu / cpu_window,
            cpu_per_1k=1000 * cpu / done if done else math.nan,
            rss_shard_mb=[status_kb(s.proc.pid, "VmHWM") / 1024 for s in shards],
            threads=max(status_kb(s.proc.pid, "Threads") for s in shards),
            scrape_mb=sum(len(body) for body in bodies) / 1e6,
            db_per_day_mb=(db_b - db_a) / window * DAY / 1e6,
            skipped_max_instances=new_log.count("maximum number of running instances"),
            missed=new_log.count("was missed by"),
            errors=sum(
                1 for line in new_log.splitlines() if " ERROR " in line or "Traceback" in line
            ),
        )
        res.update(prom.figures(prom_a, prom_b, cpu_window, cpu, done))
        time.sleep(min(wl.interval, 15))  # let the last scrapes and evaluations land
        w = f"{int(wall_b - wall_a)}s"
        durations = prom.samples(f'scrape_duration_seconds{{job="availmon"}}[{w}]', wall_b)
        up = prom.samples(f'up{{job="availmon"}}[{w}]', wall_b)
        (job,) = yaml.safe_load((work / "prometheus.yml").read_text())["scrape_configs"]
        res.update(
            scrape_dur_med=statistics.median(durations) if durations else math.nan,
            scrape_dur_max=max(durations, default=math.nan),
            scrapes=len(up),
            scrapes_failed=sum(1 for v in up if v != 1),
            scrapes_expected=len(shards) * (wall_b - wall_a) / wl.interval,
            samples_per_scrape=prom.scalar('sum(scrape_samples_scraped{job="availmon"})', wall_b),
            scrape_timeout=parse_duration(job["scrape_timeout"]),
            group_rule_series=len(prom.query("availmon:group_uptime_ratio:excluded", wall_b)),
        )
        if args.profile > 0:
            res["profile"] = profile(shards[0].proc.pid, args.profile, work, args.keep)
    finally:
        if prom:
            procs.stop(prom.proc)
        for shard in shards:
            procs.stop(shard.proc)
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(shard.log, args.keep / f"availmon-{wl.n}-{shard.log.name}")
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


def blackbox_prometheus_yml(wl: Workload, bb_port: int, work: Path) -> str:
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


def run_blackbox(wl: Workload, args: argparse.Namespace, work: Path, procs: Procs) -> dict:
    bb_bin = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")
    prom_bin = shutil.which("prometheus")
    if not bb_bin or not prom_bin:
        return {
            "na": "prometheus-blackbox-exporter / prometheus not installed "
            "(apt-get install -y prometheus-blackbox-exporter prometheus)"
        }
    res: dict[str, Any] = {}
    bb_port = free_port()
    (work / "blackbox.yml").write_text(BLACKBOX_YML)
    bb = procs.start(
        [
            bb_bin,
            f"--config.file={work / 'blackbox.yml'}",
            f"--web.listen-address=127.0.0.1:{bb_port}",
            "--log.level=warn",
        ],
        work / "blackbox.log",
    )
    prom = None
    try:
        wait_http(f"http://127.0.0.1:{bb_port}/metrics", bb, 60)
        prom = Prometheus(prom_bin, blackbox_prometheus_yml(wl, bb_port, work), work, procs)
        print(f"  blackbox+prometheus up; warm-up {args.warmup_s:.0f}s", flush=True)
        time.sleep(args.warmup_s)

        t_a = time.monotonic()
        cpu_a, prom_a = cpu_seconds(bb.pid), prom.mark()
        time.sleep(args.duration)
        cpu_b, prom_b = cpu_seconds(bb.pid), prom.mark()
        t_b, wall_b = time.monotonic(), time.time()
        window = t_b - t_a
        time.sleep(min(wl.interval, 15))  # let the last scrapes land before querying
        w = f"{int(window)}s"
        done = prom.scalar(f'sum(count_over_time(up{{job=~"blackbox_.*"}}[{w}]))', wall_b)
        ok = prom.scalar(f"sum(sum_over_time(probe_success[{w}]))", wall_b)
        own = prom.own()
        jitter = {  # interval label is Go-style: "30s", "1m"
            q: float(v)
            for q, v in re.findall(
                r'^prometheus_target_interval_length_seconds\{interval="[^"]*",quantile="([0-9.]+)"\}'
                r"\s+(\S+)",
                own,
                re.M,
            )
        }
        scheduled = wl.n * window / wl.interval
        cpu_bb = cpu_b - cpu_a
        res.update(
            window_s=window,
            scheduled=scheduled,
            done=done,
            done_ratio=done / scheduled if scheduled else 0,
            failures=done - ok,
            probes_per_s=done / window,
            cpu_bb_s=cpu_bb,
            cpu_bb_per_1k=1000 * cpu_bb / done if done else math.nan,
            rss_bb_mb=status_kb(bb.pid, "VmHWM") / 1024,
            interval_q01=jitter.get("0.01", math.nan),
            interval_q99=jitter.get("0.99", math.nan),
            scrape_dur_p99=prom.scalar(
                'quantile(0.99, scrape_duration_seconds{job=~"blackbox_.*"})', wall_b
            ),
            samples_per_scrape=prom.scalar(
                'sum(scrape_samples_scraped{job=~"blackbox_.*"})', wall_b
            ),
        )
        res.update(prom.figures(prom_a, prom_b, window, cpu_bb, done))
    except (RuntimeError, OSError, KeyError, ValueError) as exc:
        res["na"] = f"failed: {exc}"
    finally:
        if prom:
            procs.stop(prom.proc)
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


# --------------------------------------------------------------------------- tables


def fmt(v: Any, spec: str = ".2f") -> str:
    if isinstance(v, str):
        return v
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return format(v, spec)


def markdown(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *map(line, rows)])


def cell(f: Any, c: dict) -> str:
    try:
        return f(c)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        for part in ("availmon", "blackbox", "fping"):
            if "na" in c.get(part, {}):
                return "n/a (" + c[part]["na"][:50] + ")"
        return "n/a"


def table(cases: list[dict]) -> str:
    rows: list[tuple[str, Any]] = []

    def row(label: str, f: Any) -> None:
        rows.append((label, f))

    def get(part: str, key: str, spec: str = ".2f") -> Any:
        return lambda c: fmt(c[part][key], spec)

    def mb(values: list[float]) -> str:
        return " / ".join(f"{v:.0f}" for v in values)

    def ratio(key: str) -> Any:
        return lambda c: f"{c['availmon'][key] / c['blackbox'][key]:.2f}x"

    row("measuring window (s)", get("availmon", "window_s", ".0f"))
    row(
        "load average (1 min) at the end: availmon / blackbox",
        lambda c: " / ".join(
            f"{c[part]['load'][0]:.1f}" if "load" in c[part] else "n/a"
            for part in ("availmon", "blackbox")
        ),
    )
    row("— availmon + Prometheus —", None)
    row("availmon shards", get("availmon", "shards", "d"))
    row(
        "probes/s done vs scheduled",
        lambda c: f"{c['availmon']['probes_per_s']:.1f} / {c['availmon']['scheduled_per_s']:.1f}",
    )
    row("probe turns run / scheduled", get("availmon", "done_ratio", ".2%"))
    row(
        "lateness p50 / p99 / max",
        lambda c: " / ".join(c["availmon"][k] for k in ("lat_p50", "lat_p99", "lat_max")),
    )
    row("lateness share > 1 s", get("availmon", "lat_over_1s", ".2%"))
    row(
        "APScheduler skipped / missed",
        lambda c: f"{c['availmon']['skipped_max_instances']} / {c['availmon']['missed']}",
    )
    row("availmon CPU % of one core (all shards)", get("availmon", "cpu_core_pct", ".1f"))
    row("availmon CPU s per 1,000 probes", get("availmon", "cpu_per_1k", ".3f"))
    row("availmon peak RSS MB (per shard)", lambda c: mb(c["availmon"]["rss_shard_mb"]))
    row("availmon threads (most in a shard)", get("availmon", "threads", "d"))
    row("/metrics MB (all shards)", get("availmon", "scrape_mb", ".1f"))
    row("samples per scrape (all shards)", get("availmon", "samples_per_scrape", ",.0f"))
    row(
        "Prometheus scrape_duration_seconds median / max",
        lambda c: (
            f"{c['availmon']['scrape_dur_med']:.3f} / {c['availmon']['scrape_dur_max']:.3f}"
            f" (timeout {c['availmon']['scrape_timeout']:g}s)"
        ),
    )
    row(
        "Prometheus scrapes up / failed / expected",
        lambda c: (
            f"{c['availmon']['scrapes']} / {c['availmon']['scrapes_failed']} /"
            f" {c['availmon']['scrapes_expected']:.1f}"
        ),
    )
    row("availmon:group_uptime_ratio:excluded series", get("availmon", "group_rule_series", "d"))
    row("db growth MB/day (live pages)", get("availmon", "db_per_day_mb", ".2f"))
    row("start-up s (to every /metrics)", get("availmon", "startup_s", ".1f"))
    row("— blackbox + Prometheus —", None)
    row("probes run / expected", get("blackbox", "done_ratio", ".2%"))
    row("blackbox CPU s per 1,000 probes", get("blackbox", "cpu_bb_per_1k", ".3f"))
    row("blackbox peak RSS MB", get("blackbox", "rss_bb_mb", ".0f"))
    row("samples per scrape (all probes)", get("blackbox", "samples_per_scrape", ",.0f"))
    row("scrape_duration_seconds p99 (one probe)", get("blackbox", "scrape_dur_p99", ".3f"))
    row(
        "scrape interval q01 / q99 s",
        lambda c: f"{c['blackbox']['interval_q01']:.3f} / {c['blackbox']['interval_q99']:.3f}",
    )
    row("— each stack's Prometheus: availmon / blackbox —", None)
    for label, key, spec in (
        ("Prometheus CPU s per 1,000 probes", "prom_cpu_per_1k", ".3f"),
        ("whole stack CPU s per 1,000 probes", "stack_cpu_per_1k", ".3f"),
        ("Prometheus peak RSS MB", "prom_rss_mb", ".0f"),
        ("Prometheus head series", "head_series", ",.0f"),
        ("samples appended /s", "samples_per_s", ",.0f"),
        ("series created in the window", "series_created", ",.0f"),
        ("TSDB dir (WAL) growth MB/day", "tsdb_per_day_mb", ",.0f"),
    ):
        row(
            label,
            lambda c, key=key, spec=spec: (
                f"{cell(get('availmon', key, spec), c)} / {cell(get('blackbox', key, spec), c)}"
            ),
        )
    row("— ratios availmon / blackbox stack —", None)
    row("whole stack CPU per probe", ratio("stack_cpu_per_1k"))
    row("Prometheus RSS", ratio("prom_rss_mb"))
    row("Prometheus head series", ratio("head_series"))
    row("TSDB growth", ratio("tsdb_per_day_mb"))
    row("— fping -c 3 (floor) —", None)
    row(
        "ICMP probes / wall s",
        lambda c: f"{c['fping']['probes']} / {c['fping']['wall_s']:.1f}",
    )
    row("CPU s per 1,000 ICMP probes", get("fping", "cpu_per_1k", ".3f"))
    row(
        "ratio availmon / fping (per probe)",
        lambda c: f"{c['availmon']['cpu_per_1k'] / c['fping']['cpu_per_1k']:.1f}x",
    )
    header = [
        "workload",
        *(
            f"{c['n']:,} @ {c['interval']:g}s ({c['n_icmp']:,} icmp, {c['n_http']:,} http,"
            f" {c['n_fail']} failing)"
            for c in cases
        ),
    ]
    return markdown(
        header, [[label, *("" if f is None else cell(f, c) for c in cases)] for label, f in rows]
    )


def goals(case: dict) -> list[tuple[str, Any, bool]]:
    """Issue 16's goals as (goal, measured, met), for the parts this case measured."""
    am, bb, fp = case["availmon"], case.get("blackbox", {}), case.get("fping", {})
    out: list[tuple[str, Any, bool]] = []
    if "na" in am:
        return out
    if "na" not in bb:
        for goal, key, limit in (
            ("whole-stack CPU per probe ≤ 0.5x blackbox's", "stack_cpu_per_1k", 0.5),
            ("Prometheus RSS ≤ 1.0x blackbox's", "prom_rss_mb", 1.0),
            ("TSDB growth ≤ 1.0x blackbox's", "tsdb_per_day_mb", 1.0),
        ):
            r = am[key] / bb[key]
            out.append((goal, f"{r:.2f}x ({am[key]:,.2f} vs {bb[key]:,.2f})", r <= limit))
    out.append(
        (
            "Prometheus' scrape_duration_seconds ≤ 2 s (set at 10,000)",
            f"max {am['scrape_dur_max']:.2f} s",
            am["scrape_dur_max"] <= 2,
        )
    )
    out.append(("probes run ≥ 99.9%", f"{am['done_ratio']:.2%}", am["done_ratio"] >= 0.999))
    p99 = am["lat_p99"]
    out.append(("lateness p99 < 1 s", p99, p99.startswith("≤") and float(p99[1:-1]) <= 1))
    cores = am["cpu_core_pct"] / 100
    out.append(("availmon total CPU < 1 core", f"{cores:.2f} cores", cores < 1))
    rss = max(am["rss_shard_mb"])
    out.append(("RSS per shard < 1 GB", f"{rss:.0f} MB at most", rss < 1024))
    # Prometheus' timeout bounds the fetch; a fetch past it is `up` 0. Its
    # scrape_duration_seconds also counts its own TSDB append afterwards (scrape.go).
    out.append(
        (
            "every scrape succeeds within its timeout",
            f"{am['scrapes']} scrapes, {am['scrapes_failed']} not up (timeout"
            f" {am['scrape_timeout']:g} s; scrape_duration_seconds, with Prometheus' append,"
            f" max {am['scrape_dur_max']:.2f} s)",
            am["scrapes"] > 0 and am["scrapes_failed"] == 0,
        )
    )
    out.append(
        (
            "cross-shard group rules evaluate",
            f"{am['group_rule_series']} availmon:group_uptime_ratio:excluded series",
            am["group_rule_series"] > 0,
        )
    )
    if "na" not in fp:
        r = am["cpu_per_1k"] / fp["cpu_per_1k"]
        mixed = " (mixed workload: HTTP probes included)" if case["n_http"] else ""
        out.append(("per ICMP probe within 3x of fping", f"{r:.1f}x{mixed}", r <= 3))
    return out


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
        "--warmup",
        type=parse_duration,
        default=None,
        help="default: two intervals + 15s (every rule has made its series by then)",
    )
    ap.add_argument("--http-share", type=float, default=0.1, help="share of targets on HTTP")
    ap.add_argument("--fail-share", type=float, default=0.05, help="share of HTTP returning 503")
    ap.add_argument("--http-servers", type=int, default=4)
    ap.add_argument(
        "--shards",
        type=int,
        nargs="+",
        default=[1],
        help="availmon instances (availmon run --shard K/N) scraped by one Prometheus: "
        "one for all cases, or one per --targets value",
    )
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
    intervals, shards = (
        getattr(args, name) * len(args.targets)
        if len(getattr(args, name)) == 1
        else getattr(args, name)
        for name in ("interval", "shards")
    )
    if len(intervals) != len(args.targets) or len(shards) != len(args.targets):
        ap.error("give one --interval and --shards, or one per --targets value")
    if min(shards) < 1:
        ap.error("--shards must be 1 or more")
    load_before = os.getloadavg()
    cases = []
    procs = Procs()
    try:
        for n, interval, n_shards in zip(args.targets, intervals, shards, strict=True):
            args.shards_n = n_shards
            args.warmup_s = args.warmup if args.warmup is not None else 2 * interval + 15
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
                    httpd = procs.start_httpd(wl.http_ports, work / "httpd.log")
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
                        case[part]["load"] = os.getloadavg()  # the box is shared: say how
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
    print(
        f"nproc={os.cpu_count()} load(1,5,15) before={load_before} after={os.getloadavg()}"
        f"  python={sys.version.split()[0]}"
    )
    print(table(cases))
    for case in cases:
        print(f"\nGoals, {case['n']:,} @ {case['interval']:g}s:")
        print(
            markdown(
                ["goal", "measured", ""],
                [[g, str(m), "met" if ok else "**not met**"] for g, m, ok in goals(case)],
            )
        )
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
