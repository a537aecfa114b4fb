"""Shared test helpers: an injectable clock, London wall-clock instants, a switchable HTTP
server and a raw TCP server on loopback, a daemon's /metrics as a dict, availmon run as a
command or in-process, missing prerequisites (skip, or fail in CI) and interval arithmetic
for figures worked out by hand."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NoReturn
from zoneinfo import ZoneInfo

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.cli import main
from monitor.store import open_store

ROOT = Path(__file__).resolve().parent.parent
LONDON = ZoneInfo("Europe/London")


def at(text: str) -> float:
    """Epoch seconds of an ISO date-time without an offset, read as London wall-clock time."""
    return datetime.fromisoformat(text).replace(tzinfo=LONDON).timestamp()


class FakeClock:
    """Wall clock that moves only when told to."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def examples(n: int) -> int:
    """How many examples a property test with ``n`` examples runs: all of them normally, a
    tenth under ``HYPOTHESIS_PROFILE=fast`` (the inner loop; see conftest.py)."""
    return max(10, n // 10) if os.environ.get("HYPOTHESIS_PROFILE") == "fast" else n


class SwitchableServer:
    """Answers every GET with ``status`` (change it while running)."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.status = 200

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/health"


@contextmanager
def http_server() -> Iterator[SwitchableServer]:
    holder: list[SwitchableServer] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"ok\n" if holder[0].status < 400 else b"down\n"
            self.send_response(holder[0].status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder.append(SwitchableServer(server))
    # A short poll, so shutdown() returns at once rather than after half a second.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()


def scrape(port: int) -> dict[str, float]:
    """The daemon's /metrics on ``port``, as :func:`samples`."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return samples(resp.read().decode())


def samples(text: str) -> dict[str, float]:
    """A /metrics page: ``name{label=value,...}`` (sorted, without the ``type`` and
    ``cause`` labels) -> value."""
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(
                f"{k}={v}" for k, v in sorted(s.labels.items()) if k not in ("type", "cause")
            )
            found[f"{s.name}{{{labels}}}"] = s.value
    return found


def unavailable(message: str) -> NoReturn:
    """A missing prerequisite: fails the test in CI (scripts/test.sh installs every one),
    skips it elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def need(binary: str, package: str) -> str:
    """The path of ``binary`` from Debian ``package`` (see :func:`unavailable`)."""
    path = shutil.which(binary)
    if path is None:
        unavailable(
            f"{binary} not installed (Debian package: {package}; scripts/test.sh installs it)"
        )
    return path


def assert_promtool_accepts(body: bytes) -> None:
    """``promtool check metrics`` finds nothing to say about this /metrics body."""
    result = subprocess.run(
        [need("promtool", "prometheus"), "check", "metrics"],
        input=body,
        capture_output=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")


def availmon_argv(*args: str | Path) -> list[str]:
    """The command line of ``availmon ARGS`` from this checkout (PYTHONPATH picks the code)."""
    return [sys.executable, "-m", "monitor", *map(str, args)]


def availmon(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``availmon ARGS`` to the end, its exit code and output captured as text."""
    return subprocess.run(
        availmon_argv(*args), cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def in_process(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``availmon ARGV`` in this process (``cli.main``): exit code, stdout, stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def config_and_db(folder: Path, config: str) -> list[str]:
    """``-c FILE --db FILE``: ``config`` as folder/targets.yaml and a new empty database."""
    path, db = folder / "targets.yaml", folder / "availmon.db"
    path.write_text(config)
    open_store(db).close()
    return ["-c", str(path), "--db", str(db)]


def tcp_server(
    behaviour: Callable[[socket.socket], None],
    *,
    wrap: ssl.SSLContext | None = None,
    limit: float = 10.0,
) -> Iterator[str]:
    """A TCP server on 127.0.0.1 running ``behaviour(conn)`` per connection, in threads."""
    lsock = socket.create_server(("127.0.0.1", 0))
    lsock.settimeout(0.1)
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(limit)
            try:
                if wrap is not None:
                    conn = wrap.wrap_socket(conn, server_side=True)
                behaviour(conn)
            except (OSError, ssl.SSLError):
                pass

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = lsock.accept()
            except OSError:
                continue
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{lsock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=10)
        lsock.close()


def recent_report(config: Path, db: str, tz: ZoneInfo) -> dict:
    """`availmon report --format json` over yesterday and today in ``tz``, the config's
    time zone (so a run near midnight is in)."""
    today = datetime.now(tz).date()
    done = availmon(
        *("report", "-c", config, "--db", db),
        *("--from", str(today - timedelta(days=1)), "--to", str(today), "--format", "json"),
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=10)


@contextmanager
def silent_namespace(prefix: str, host_ip: str, ns_ip: str) -> Iterator[str]:
    """A network namespace of our own behind a /30 veth link, whose kernel ignores echo
    requests: ``ns_ip`` is an address that never answers a ping (or a responder the test
    starts inside the namespace answers instead). Skips where namespaces cannot be made."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    tag = f"{os.getpid() % 100000}"
    ns, host_if, ns_if = f"availmon-{prefix}{tag}", f"av{prefix}h{tag}", f"av{prefix}n{tag}"
    try:
        _ip("netns", "add", ns)
    except (subprocess.CalledProcessError, OSError) as exc:
        pytest.skip(f"cannot create a network namespace here: {exc}")
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", ns)
        _ip("addr", "add", f"{host_ip}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("netns", "exec", ns, "ip", "addr", "add", f"{ns_ip}/30", "dev", ns_if)
        _ip("netns", "exec", ns, "ip", "link", "set", ns_if, "up")
        _ip("netns", "exec", ns, "ip", "link", "set", "lo", "up")
        _ip("netns", "exec", ns, "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1")
        yield ns
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot set up the veth link: {exc.stderr.strip()}")
    finally:
        _ip("link", "del", host_if, check=False)
        _ip("netns", "del", ns, check=False)


# -- interval arithmetic for the hand calculations ---------------------------------

Spans = list[tuple[float, float]]  # half-open [start, end) instants


def union(spans: Iterable[tuple[float, float]]) -> Spans:
    merged: Spans = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def intersect(a: Spans, b: Spans) -> Spans:
    return union([(max(s, t), min(e, f)) for s, e in a for t, f in b])


def minus(a: Spans, b: Spans) -> Spans:
    result = union(a)
    for cut_start, cut_end in union(b):
        result = union(
            [(s, min(e, cut_start)) for s, e in result] + [(max(s, cut_end), e) for s, e in result]
        )
    return result


def length(spans: Iterable[tuple[float, float]]) -> float:
    return sum(e - s for s, e in union(spans))


def fleet_targets_yaml(servers: Mapping[str, SwitchableServer]) -> str:
    """A targets file for fleet tests: one HTTP target per named loopback server, probed
    every second, a heartbeat every half second."""
    return (
        "storage: {heartbeat: 500ms}\n"
        "defaults: {interval: 1s, timeout: 500ms, failures_before_down: 2}\n"
        "targets:\n"
        + "".join(
            f"  - {{name: {n}, group: systems, type: http, url: '{s.url}'}}\n"
            for n, s in servers.items()
        )
    )
