"""Secrets (basic-auth passwords, bearer tokens) never leave the process.

One end-to-end run: distinctive secrets in files and environment variables; a loopback
server that requires them (and one path that always answers 401); then ``check``,
``probe``, a short daemon run (``/metrics`` scraped, stderr captured), ``outages list``
and ``report`` in every text format. Every output and every database file is searched
for the secrets and for their encoded forms.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support import availmon_argv, free_port

# Runs the CLI and the daemon as real processes.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PW_FILE = "pw-file-Zq8xK3-do-not-leak"
PW_ENV = "pw-env-Hh4Lr9-do-not-leak"
TOKEN_FILE = "tok-file-Vv2Nq7-do-not-leak"
TOKEN_ENV = "tok-env-Pp6Wc1-do-not-leak"
USER = "monitor"
SECRETS = [PW_FILE, PW_ENV, TOKEN_FILE, TOKEN_ENV]


def forms(secret: str) -> list[bytes]:
    """The secret as it could leak: plain, in Basic credentials, base64'd alone."""
    out = [
        secret.encode(),
        base64.b64encode(f"{USER}:{secret}".encode()),
        base64.b64encode(secret.encode()),
    ]
    # a distinctive middle part, in case something truncates or reformats
    out.append(secret.split("-")[2].encode())
    return out


GOOD_AUTH = {
    f"Basic {base64.b64encode(f'{USER}:{PW_FILE}'.encode()).decode()}",
    f"Bearer {TOKEN_FILE}",
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        got = self.headers.get("Authorization", "")
        self.server.seen.append(got)  # type: ignore[attr-defined]
        ok = self.path.startswith("/needs-auth") and got in GOOD_AUTH
        body = b"welcome" if ok else b"who are you?"
        self.send_response(200 if ok else 401)
        if not ok:
            self.send_header("WWW-Authenticate", 'Basic realm="x"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.seen = []  # type: ignore[attr-defined]
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_secrets_never_leave(tmp_path: Path, server: ThreadingHTTPServer) -> None:
    base = f"http://127.0.0.1:{server.server_address[1]}"
    (tmp_path / "pw").write_text(PW_FILE + "\n")
    (tmp_path / "token").write_text(TOKEN_FILE)
    port = free_port()
    config = tmp_path / "targets.yaml"
    config.write_text(
        f"listen: 127.0.0.1:{port}\n"
        "storage: {heartbeat: 500ms}\n"
        "defaults: {interval: 1s, timeout: 500ms, failures_before_down: 1}\n"
        "targets:\n"
        f"  - {{name: basic-ok, group: g, type: http, url: '{base}/needs-auth/b',"
        f" basic_auth: {{username: {USER}, password_file: '{tmp_path}/pw'}}}}\n"
        f"  - {{name: bearer-ok, group: g, type: http, url: '{base}/needs-auth/t',"
        f" bearer_token_file: '{tmp_path}/token'}}\n"
        f"  - {{name: basic-401, group: g, type: http, url: '{base}/needs-auth/wrong',"
        f" basic_auth: {{username: {USER}, password_env: AVAILMON_T_PW}}}}\n"
        f"  - {{name: bearer-401, group: g, type: http, url: '{base}/needs-auth/wrong2',"
        " bearer_token_env: AVAILMON_T_TOKEN}\n"
    )
    db = tmp_path / "availmon.db"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AVAILMON_T_PW": PW_ENV,
        "AVAILMON_T_TOKEN": TOKEN_ENV,
    }
    outputs: dict[str, bytes] = {}

    def cli(label: str, *args: str, rc: tuple[int, ...] = (0,)) -> None:
        proc = subprocess.run(
            availmon_argv(*args),
            capture_output=True,
            timeout=60,
            env=env,
            cwd=tmp_path,
        )
        outputs[f"{label} stdout"] = proc.stdout
        outputs[f"{label} stderr"] = proc.stderr
        assert proc.returncode in rc, (label, proc.returncode, proc.stderr[-2000:])

    cli("check", "check", "-c", str(config))
    cli(
        "probe",
        "probe",
        "-c",
        str(config),
        "basic-ok",
        "bearer-ok",
        "basic-401",
        "bearer-401",
        rc=(1,),
    )
    assert b"basic-ok [http" in outputs["probe stdout"]
    assert outputs["probe stdout"].count(b"DOWN (HTTP 401)") == 2
    # The secrets really were sent (so the checks below are meaningful).
    seen = set(server.seen)  # type: ignore[attr-defined]
    assert seen >= GOOD_AUTH and f"Bearer {TOKEN_ENV}" in seen

    # A short daemon run: scrape /metrics a few times, then SIGTERM.
    log = tmp_path / "daemon.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            availmon_argv("run", "-c", config, "--db", db),
            stdout=err,
            stderr=err,
            env=env,
            cwd=tmp_path,
        )
        try:
            scraped = b""
            end = time.monotonic() + 30
            while time.monotonic() < end:
                assert proc.poll() is None, log.read_text()
                try:
                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/metrics", timeout=5
                    ) as resp:
                        scraped = resp.read()
                except OSError:
                    time.sleep(0.2)
                    continue
                if (
                    b'availmon_outage_start_timestamp_seconds{target="basic-401"' in scraped
                    and b'probe_success{target="basic-ok"' in scraped
                ):
                    break
                time.sleep(0.2)
            outputs["metrics"] = scraped
            assert b"availmon_outage_start_timestamp_seconds" in scraped, log.read_text()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
    outputs["daemon log"] = log.read_bytes()
    assert b"outage opened" in outputs["daemon log"]

    today = dt.date.today().isoformat()
    cli("outages", "outages", "list", "-c", str(config), "--db", str(db), "--format", "json")
    cli("maintenance", "maintenance", "list", "-c", str(config), "--db", str(db))
    for fmt in ("text", "json", "html", "csv"):
        cli(
            f"report {fmt}",
            "report",
            "-c",
            str(config),
            "--db",
            str(db),
            "--from",
            today,
            "--to",
            today,
            "--format",
            fmt,
        )
    cli(
        "report outages csv",
        "report",
        "-c",
        str(config),
        "--db",
        str(db),
        "--period",
        today,
        "--format",
        "csv",
        "--section",
        "outages",
    )
    assert b"HTTP 401" in outputs["outages stdout"]
    for path in tmp_path.iterdir():
        if path.name.startswith("availmon.db"):
            outputs[f"file {path.name}"] = path.read_bytes()
    assert "file availmon.db" in outputs

    leaks = [
        (where, form.decode())
        for where, data in outputs.items()
        for secret in SECRETS
        for form in forms(secret)
        if form in data
    ]
    assert not leaks, leaks
