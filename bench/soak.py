"""Soak run (issue 6): availmon on N loopback targets for a long time, a share flapping.

Usage (see BENCHMARKS.md, "Soak (issue 6)"):

    .venv/bin/python bench/soak.py --targets 10000 --interval 60s --duration 30m

Workload (built with bench/load.py's ``Workload``): 90% ICMP targets on distinct loopback
addresses 127.x.y.z, 10% HTTP targets spread over a few local ``bench/httpd.py`` servers;
no target fails permanently. ``--flap-share`` of all targets (default 2%, i.e. 20% of the
HTTP ones) point at ``/flap/P/D/PHASE/j``: the server answers 503 while
``(time.time() - PHASE) mod P < D`` and 200 otherwise, so the ground truth is known from
the wall clock alone: target j is down during [k*P + PHASE_j, k*P + PHASE_j + D) with
PHASE_j spread over [0, P) by the golden ratio. ``failures_before_down: 2``,
``schedule: always``, timeout min(5 s, interval / 2).

The daemon runs for ``--duration`` (measured from its first /metrics answer). Every
``--sample`` seconds: VmRSS, CPU (utime+stime), db + WAL file size, live db pages, and
from /metrics the sum of ``availmon_outages_total`` and ``availmon_probes_total``.
Figures after ``--warmup``: RSS min/max/last and least-squares slope, CPU % of a core,
probes/s done vs scheduled, db growth.

Then SIGTERM, and the database is read read-only. Every down period that lies wholly in
[ready + check-after, stop - interval - timeout] must match exactly one outage of its
target with start in [down_start - slack, down_start + 2*interval + timeout] and end in
[down_end - slack, down_end + interval + timeout] (``slack``, default 1 s: an outage
starts at the instant the probe *began*, the server judges the instant the request
*arrived*). Periods with no overlapping outage are missed; a wrong start/end, a split or
a merge is mismatched; an outage on a non-flapping target, or one overlapping no down
period, is spurious.

Only 127.0.0.0/8 is contacted. Every child runs in its own process group and is killed in
``finally``; every loop is bounded by count and time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import (
    PYTHON,
    Procs,
    Workload,
    assert_loopback,
    cpu_seconds,
    fetch,
    free_port,
    parse_duration,
    status_kb,
    wait_http,
)

PROBES_RE = re.compile(r'^availmon_probes_total\{[^}]*result="(success|failure)"\}\s+(\S+)', re.M)
OUTAGES_RE = re.compile(r"^availmon_outages_total\{[^}]*\}\s+(\S+)", re.M)
GOLDEN = 0.6180339887498949
MB = 1024 * 1024


# --------------------------------------------------------------------------- workload


@dataclass
class Flapper:
    name: str
    period: float
    down: float
    phase: float

    def periods(self, t0: float, t1: float) -> list[tuple[float, float]]:
        """Down periods [start, end) overlapping [t0, t1]."""
        k = math.floor((t0 - self.phase - self.down) / self.period)
        out = []
        for _ in range(100_000):  # bounded
            start = k * self.period + self.phase
            if start > t1:
                break
            if start + self.down >= t0:
                out.append((start, start + self.down))
            k += 1
        return out


def make_workload(args: argparse.Namespace) -> tuple[Workload, list[Flapper]]:
    wl = Workload.make(args.targets, args.interval, args.http_share, 0.0, args.http_servers)
    n_flap = min(round(args.targets * args.flap_share), len(wl.http))
    flappers = []
    for j in range(n_flap):
        phase = round((j * GOLDEN) % 1.0 * args.flap_period, 3)
        url, _ = wl.http[j]
        port = url.split("/")[2]
        url = f"http://{port}/flap/{args.flap_period:g}/{args.flap_down:g}/{phase:g}/{j}"
        assert_loopback(url)
        wl.http[j] = (url, False)
        flappers.append(Flapper(f"web-{j}", args.flap_period, args.flap_down, phase))
    return wl, flappers


def soak_yaml(wl: Workload, port: int) -> str:
    text = wl.availmon_yaml(port)
    marker = "  schedule: always\n"
    assert marker in text
    text = text.replace(marker, marker + "  failures_before_down: 2\n", 1)
    # availmon_probes_total is opt-in (the series budget): the soak counts probes by it
    return text.replace("targets:\n", "metrics: {target_extras: [probes_total]}\ntargets:\n", 1)


# --------------------------------------------------------------------------- sampling


def db_stats(db: Path) -> dict[str, Any]:
    """File sizes, live pages and rows per table, through a read-only connection."""
    wal = Path(str(db) + "-wal")
    res: dict[str, Any] = {
        "file": db.stat().st_size if db.exists() else 0,
        "wal": wal.stat().st_size if wal.exists() else 0,
    }
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        pages, free, size = (
            con.execute(f"PRAGMA {p}").fetchone()[0]
            for p in ("page_count", "freelist_count", "page_size")
        )
        res["live"] = (pages - free) * size
        tables = [
            r[0]
            for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                "ORDER BY name"
            )
        ]
        res["rows"] = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        con.close()
    return res


def scrape(url: str) -> tuple[float, float, float]:
    """(sum of availmon_outages_total, sum of availmon_probes_total, scrape seconds)."""
    body, secs = fetch(url, timeout=60)
    text = body.decode("utf-8", "replace")
    outages = sum(float(v) for v in OUTAGES_RE.findall(text))
    probes = sum(float(v) for _, v in PROBES_RE.findall(text))
    return outages, probes, secs


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) in value per hour."""
    if len(points) < 2:
        return math.nan
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return math.nan
    return sum((x - mx) * (y - my) for x, y in points) / sxx * 3600


# --------------------------------------------------------------------------- matching


def match(
    outages: list[tuple[str, float, float | None]],
    flappers: list[Flapper],
    t_ready: float,
    t_check: float,
    t_stop: float,
    interval: float,
    timeout: float,
    slack: float,
) -> dict[str, Any]:
    by_target: dict[str, list[tuple[float, float | None]]] = {}
    for target, start, end in outages:
        by_target.setdefault(target, []).append((start, end))
    flap_names = {f.name for f in flappers}
    res: dict[str, Any] = {
        "expected": 0,
        "matched": 0,
        "missed": 0,
        "mismatched": 0,
        "spurious": 0,
        "spurious_nonflapping": 0,
        "found": len(outages),
        "start_lags": [],
        "end_lags": [],
        "examples": [],
    }
    for target, outs in by_target.items():
        if target not in flap_names:
            res["spurious"] += len(outs)
            res["spurious_nonflapping"] += len(outs)
            if len(res["examples"]) < 10:
                res["examples"].append(f"spurious (not flapping): {target} {outs[:3]}")
    for f in flappers:
        outs = by_target.get(f.name, [])
        used = [False] * len(outs)
        for ds, de in f.periods(t_ready - f.period, t_stop):
            # an outage belongs to a period if it overlaps [ds - slack, de + interval + timeout]
            hits = [
                i
                for i, (s, e) in enumerate(outs)
                if s <= de + interval + timeout and (e is None or e >= ds - slack)
            ]
            for i in hits:
                used[i] = True
            checked = ds >= t_check and de + interval + timeout <= t_stop
            if not checked:
                continue
            res["expected"] += 1
            if not hits:
                res["missed"] += 1
                if len(res["examples"]) < 10:
                    res["examples"].append(f"missed: {f.name} down {ds:.1f}-{de:.1f}")
                continue
            if len(hits) > 1:
                res["mismatched"] += 1
                if len(res["examples"]) < 10:
                    res["examples"].append(
                        f"split: {f.name} down {ds:.1f}-{de:.1f} -> {[outs[i] for i in hits]}"
                    )
                continue
            s, e = outs[hits[0]]
            res["start_lags"].append(s - ds)
            if e is not None:
                res["end_lags"].append(e - de)
            ok_start = ds - slack <= s <= ds + 2 * interval + timeout
            ok_end = e is not None and de - slack <= e <= de + interval + timeout
            if ok_start and ok_end:
                res["matched"] += 1
            else:
                res["mismatched"] += 1
                if len(res["examples"]) < 10:
                    res["examples"].append(
                        f"mismatch: {f.name} down {ds:.1f}-{de:.1f} -> outage {s:.1f}-{e}"
                    )
        n_spur = used.count(False)
        res["spurious"] += n_spur
        if n_spur and len(res["examples"]) < 10:
            res["examples"].append(
                f"spurious: {f.name} {[o for o, u in zip(outs, used, strict=True) if not u]}"
            )
    return res


# --------------------------------------------------------------------------- run


def run(args: argparse.Namespace, procs: Procs, work: Path) -> dict[str, Any]:
    wl, flappers = make_workload(args)
    timeout = min(5.0, args.interval / 2)
    port = free_port()
    cfg = work / "targets.yaml"
    cfg.write_text(soak_yaml(wl, port))
    db = work / "availmon.db"
    log = work / "availmon.log"
    url = f"http://127.0.0.1:{port}/metrics"
    assert_loopback(url)
    res: dict[str, Any] = {
        "n": wl.n,
        "interval": wl.interval,
        "timeout": timeout,
        "n_icmp": len(wl.icmp),
        "n_http": len(wl.http),
        "n_flap": len(flappers),
        "flap_period": args.flap_period,
        "flap_down": args.flap_down,
        "warmup": args.warmup,
        "check_after": args.check_after,
        "work": str(work),
    }
    httpd = procs.start_httpd(wl.http_ports, work / "httpd.log")
    t_launch = time.time()
    proc = procs.start(
        [
            str(PYTHON),
            "-m",
            "monitor",
            "run",
            "-c",
            str(cfg),
            "--db",
            str(db),
            "--listen",
            f"127.0.0.1:{port}",
        ],
        log,
        cwd=work,
    )
    samples: list[dict[str, Any]] = []
    try:
        try:
            res["startup_s"] = wait_http(url, proc, 600)
        except RuntimeError:
            print(log.read_text()[-2000:], file=sys.stderr)
            raise
        t_ready = time.time()
        t_end = t_ready + args.duration
        print(
            f"availmon up after {res['startup_s']:.1f}s; soaking {args.duration:.0f}s "
            f"(warm-up {args.warmup:.0f}s), sample every {args.sample:.0f}s",
            flush=True,
        )

        def take_sample() -> None:
            if proc.poll() is not None:
                raise RuntimeError(f"availmon exited with {proc.returncode} (see {log})")
            outages, probes, secs = scrape(url)
            s = {
                "t": time.time() - t_ready,
                "rss_mb": status_kb(proc.pid, "VmRSS") / 1024,
                "hwm_mb": status_kb(proc.pid, "VmHWM") / 1024,
                "threads": status_kb(proc.pid, "Threads"),
                "cpu_s": cpu_seconds(proc.pid),
                "outages": outages,
                "probes": probes,
                "scrape_s": secs,
            }
            d = db_stats(db)
            s.update(db_file=d["file"], db_wal=d["wal"], db_live=d["live"], rows=d["rows"])
            samples.append(s)
            print(
                f"  t={s['t']:6.0f}s rss={s['rss_mb']:6.1f}MB cpu={s['cpu_s']:7.1f}s "
                f"db={(d['file'] + d['wal']) / 1e6:6.2f}MB outages={outages:.0f} "
                f"probes={probes:.0f} scrape={secs:.2f}s",
                flush=True,
            )

        next_sample = t_ready
        max_samples = int(args.duration / args.sample) + 10
        for _ in range(max_samples):  # bounded by count and by t_end
            now = time.time()
            if now >= t_end:
                break
            if now >= next_sample:
                take_sample()
                next_sample += args.sample
                while next_sample <= time.time():  # a slow scrape: skip, don't pile up
                    next_sample += args.sample
            time.sleep(max(0.0, min(next_sample, t_end) - time.time()))
        take_sample()  # the last one, at the end of the run
        t_stop = time.time()
        res["rss_peak_mb"] = status_kb(proc.pid, "VmHWM") / 1024
    finally:
        procs.stop(proc, grace=60)
        procs.stop(httpd)
    res["exit_code"] = proc.returncode
    log_text = log.read_text(errors="replace")
    res["log_errors"] = sum(
        1 for ln in log_text.splitlines() if " ERROR " in ln or "Traceback" in ln
    )
    res["log_skipped"] = log_text.count("maximum number of running instances")
    res["log_missed"] = log_text.count("was missed by")
    res["samples"] = samples

    # -- figures after warm-up
    warm = [s for s in samples if s["t"] >= args.warmup]
    if len(warm) >= 2:
        a, b = warm[0], warm[-1]
        window = b["t"] - a["t"]
        res.update(
            window_s=window,
            n_samples=len(warm),
            rss_min=min(s["rss_mb"] for s in warm),
            rss_max=max(s["rss_mb"] for s in warm),
            rss_last=b["rss_mb"],
            rss_slope=slope_per_hour([(s["t"], s["rss_mb"]) for s in warm]),
            cpu_pct=100 * (b["cpu_s"] - a["cpu_s"]) / window,
            probes_per_s=(b["probes"] - a["probes"]) / window,
            scheduled_per_s=wl.n / wl.interval,
            db_a=a["db_file"] + a["db_wal"],
            db_b=b["db_file"] + b["db_wal"],
            db_live_a=a["db_live"],
            db_live_b=b["db_live"],
            rows_a=a["rows"],
            rows_b=b["rows"],
            metric_outages_a=a["outages"],
            metric_outages_b=b["outages"],
            scrape_s_max=max(s["scrape_s"] for s in warm),
        )
    res["metric_outages_last"] = samples[-1]["outages"] if samples else math.nan

    # -- the database after SIGTERM, read-only
    final = db_stats(db)
    res["db_final"] = final
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        outs = con.execute(
            "SELECT target, start, end FROM outages WHERE source = 'detected' "
            "ORDER BY target, start"
        ).fetchall()
    finally:
        con.close()
    t_check = t_ready + args.check_after
    res["t_ready"], res["t_check"], res["t_stop"], res["t_launch"] = (
        t_ready,
        t_check,
        t_stop,
        t_launch,
    )
    res["match"] = match(outs, flappers, t_ready, t_check, t_stop, wl.interval, timeout, args.slack)
    return res


# --------------------------------------------------------------------------- report


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return math.nan
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def half_slope(r: dict[str, Any]) -> float:
    warm = [x for x in r["samples"] if x["t"] >= r["warmup"]]
    return slope_per_hour([(x["t"], x["rss_mb"]) for x in warm[len(warm) // 2 :]])


def table(r: dict[str, Any]) -> str:
    m = r["match"]
    rows_a, rows_b = r.get("rows_a", {}), r["db_final"]["rows"]
    iv = r["interval"]
    lines = [
        (
            "workload",
            f"{r['n']} targets @ {iv:g}s ({r['n_icmp']} icmp, {r['n_http']} http, "
            f"{r['n_flap']} flapping: down {r['flap_down']:g}s every "
            f"{r['flap_period']:g}s), timeout {r['timeout']:g}s, "
            "failures_before_down 2",
        ),
        (
            "run / warm-up / measured",
            f"{r['t_stop'] - r['t_ready']:.0f}s / {r['warmup']:.0f}s / "
            f"{r.get('window_s', math.nan):.0f}s "
            f"({r.get('n_samples', 0)} samples); start-up "
            f"{r['startup_s']:.1f}s",
        ),
        (
            "RSS after warm-up min / max / last",
            f"{r['rss_min']:.1f} / {r['rss_max']:.1f} / "
            f"{r['rss_last']:.1f} MB (peak VmHWM "
            f"{r['rss_peak_mb']:.1f} MB)",
        ),
        (
            "RSS slope (least squares)",
            f"{r['rss_slope']:+.1f} MB/hour after warm-up, "
            f"{half_slope(r):+.1f} MB/hour over its 2nd half",
        ),
        ("CPU % of one core", f"{r['cpu_pct']:.1f}"),
        (
            "probes/s done vs scheduled",
            f"{r['probes_per_s']:.1f} / {r['scheduled_per_s']:.1f} "
            f"({r['probes_per_s'] / r['scheduled_per_s']:.2%})",
        ),
        (
            "db + WAL size after warm-up / end",
            f"{r['db_a'] / 1e6:.3f} / {r['db_b'] / 1e6:.3f} MB"
            f" (live pages {r['db_live_a'] / 1e3:.0f} / "
            f"{r['db_live_b'] / 1e3:.0f} kB)",
        ),
        (
            "db after stop (file + WAL)",
            f"{(r['db_final']['file'] + r['db_final']['wal']) / 1e6:.3f}"
            f" MB, live {r['db_final']['live'] / 1e3:.0f} kB",
        ),
        (
            "rows after warm-up -> after stop",
            ", ".join(f"{t} {rows_a.get(t, 0)} -> {n}" for t, n in rows_b.items()),
        ),
        (
            "outages in /metrics (warm-up -> last)",
            f"{r['metric_outages_a']:.0f} -> {r['metric_outages_last']:.0f}",
        ),
        ("down periods expected (checked)", f"{m['expected']}"),
        ("outages found in db (all)", f"{m['found']}"),
        ("matched / missed / mismatched", f"{m['matched']} / {m['missed']} / {m['mismatched']}"),
        ("spurious (of which non-flapping)", f"{m['spurious']} ({m['spurious_nonflapping']})"),
        (
            "start lag p50 / max (bound)",
            f"{pct(m['start_lags'], 0.5):.1f} / "
            f"{max(m['start_lags'], default=math.nan):.1f} s "
            f"(≤ {2 * iv + r['timeout']:g})",
        ),
        (
            "end lag p50 / max (bound)",
            f"{pct(m['end_lags'], 0.5):.1f} / "
            f"{max(m['end_lags'], default=math.nan):.1f} s "
            f"(≤ {iv + r['timeout']:g})",
        ),
        (
            "daemon log: ERROR / skipped / missed",
            f"{r['log_errors']} / {r['log_skipped']} / {r['log_missed']}; exit {r['exit_code']}",
        ),
        ("/metrics scrape max", f"{r['scrape_s_max']:.2f} s"),
    ]
    w = max(len(k) for k, _ in lines)
    v = max(len(x) for _, x in lines)
    out = [f"| {'figure'.ljust(w)} | {'value'.ljust(v)} |", f"|{'-' * (w + 2)}|{'-' * (v + 2)}|"]
    out += [f"| {k.ljust(w)} | {x.ljust(v)} |" for k, x in lines]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", type=int, default=10000)
    ap.add_argument("--interval", type=parse_duration, default=60.0)
    ap.add_argument(
        "--duration",
        type=parse_duration,
        default=1800.0,
        help="from the daemon's first /metrics answer to SIGTERM",
    )
    ap.add_argument(
        "--warmup",
        type=parse_duration,
        default=None,
        help="memory/CPU figures start here (default: 2 intervals + 60s)",
    )
    ap.add_argument(
        "--check-after",
        type=parse_duration,
        default=None,
        help="down periods starting earlier are not checked (default: --warmup)",
    )
    ap.add_argument("--sample", type=parse_duration, default=30.0)
    ap.add_argument("--http-share", type=float, default=0.1)
    ap.add_argument("--http-servers", type=int, default=4)
    ap.add_argument("--flap-share", type=float, default=0.02, help="share of *all* targets")
    ap.add_argument("--flap-period", type=parse_duration, default=None, help="default: 6 intervals")
    ap.add_argument("--flap-down", type=parse_duration, default=None, help="default: 2.5 intervals")
    ap.add_argument("--slack", type=parse_duration, default=1.0)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--keep", type=Path, help="copy the db, log and targets.yaml here")
    ap.add_argument("--render", type=Path, help="only print the table of a saved --json")
    args = ap.parse_args()
    if args.render:
        r = json.loads(args.render.read_text())
        print(table(r))
        for ex in r["match"]["examples"]:
            print("  " + ex)
        return
    if args.warmup is None:
        args.warmup = 2 * args.interval + 60
    if args.check_after is None:
        args.check_after = args.warmup
    args.flap_period = args.flap_period or 6 * args.interval
    args.flap_down = args.flap_down or 2.5 * args.interval
    timeout = min(5.0, args.interval / 2)
    if args.flap_down < 2 * args.interval + timeout:
        ap.error("--flap-down must cover 2 probes: >= 2 intervals + timeout")
    if args.flap_period - args.flap_down < args.interval + timeout:
        ap.error("the up part of --flap-period must be > interval + timeout")
    if args.duration > 6 * 3600:
        ap.error("--duration is capped at 6h")
    procs = Procs()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so finally runs
    try:
        with tempfile.TemporaryDirectory(prefix="availmon-soak-") as tmp:
            r = run(args, procs, Path(tmp))
            if args.keep:
                import shutil

                args.keep.mkdir(parents=True, exist_ok=True)
                for name in ("availmon.db", "availmon.log", "targets.yaml", "httpd.log"):
                    if (Path(tmp) / name).exists():
                        shutil.copy(Path(tmp) / name, args.keep / name)
    finally:
        procs.stop_all()
    print()
    print(f"nproc={os.cpu_count()} load(1,5,15)={os.getloadavg()} python={sys.version.split()[0]}")
    print(table(r))
    for ex in r["match"]["examples"]:
        print("  " + ex)
    if args.json:
        args.json.write_text(json.dumps(r, indent=1, default=str))


if __name__ == "__main__":
    main()
