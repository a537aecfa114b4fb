"""systemd: the shipped unit verifies and is hardened; the daemon speaks sd_notify."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import availmon_argv, free_port, http_server, need

# systemd-analyze on the unit, and the daemon as a real process.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd" / "availmon.service"
SHIPPED_EXEC = "/opt/availmon/.venv/bin/availmon"
MAX_EXPOSURE = 2.0
DEADLINE = 20.0  # bound on every wait in this file


def unit_with_existing_exec(tmp_path: Path) -> Path:
    """A copy of the unit whose ExecStart names an availmon that exists on this machine.

    `systemd-analyze verify` checks that ExecStart is executable; the shipped path
    only exists once installed as systemd/README.md says.
    """
    availmon = Path(sys.executable).parent / "availmon"
    assert availmon.exists(), f"{availmon} missing: is availmon installed in the venv?"
    text = UNIT.read_text()
    assert f"ExecStart={SHIPPED_EXEC} " in text
    copy = tmp_path / "availmon.service"
    copy.write_text(text.replace(f"ExecStart={SHIPPED_EXEC} ", f"ExecStart={availmon} "))
    return copy


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_unit_has_the_required_settings():
    s = unit_settings()
    assert s["Type"] == ["notify"]
    assert s["WatchdogSec"] == ["30"]
    assert s["ExecStart"] == [f"{SHIPPED_EXEC} run -c /etc/availmon/targets.yaml"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["StateDirectory"] == ["availmon"]
    assert s["ConfigurationDirectory"] == ["availmon"]
    assert s["AmbientCapabilities"] == ["CAP_NET_RAW"]
    assert s["CapabilityBoundingSet"] == ["CAP_NET_RAW"]
    # It must be able to probe anything, and CAP_NET_RAW must work in the host netns.
    for forbidden in ("PrivateUsers", "IPAddressDeny", "PrivateNetwork"):
        assert forbidden not in s, forbidden


def test_systemd_analyze_verify(tmp_path):
    analyze = need("systemd-analyze", "systemd")
    unit = unit_with_existing_exec(tmp_path)
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # verify prints warnings without failing; the unit should have none.
    assert "availmon.service" not in result.stderr, result.stderr


def test_security_exposure_is_low():
    analyze = need("systemd-analyze", "systemd")
    result = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", output)
    assert match, output
    assert float(match.group(1)) <= MAX_EXPOSURE, output


# --- sd_notify -------------------------------------------------------------------------


class NotifySocket:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.5)
        self.seen: list[str] = []

    def expect(self, message: str, proc: subprocess.Popen[bytes], log: Path) -> None:
        """Wait (bounded) for a datagram containing ``message``; remember everything seen."""
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            try:
                data = self.sock.recv(4096).decode()
            except TimeoutError:
                assert proc.poll() is None, f"daemon exited {proc.returncode}\n{log.read_text()}"
                continue
            self.seen.append(data)
            if message in data.splitlines():
                return
        raise AssertionError(f"no {message} within {DEADLINE}s; got {self.seen}\n{log.read_text()}")


def test_sd_notify_ready_watchdog_reload_stop(tmp_path):
    sock_path = tmp_path / "notify.sock"
    notify = NotifySocket(sock_path)
    port = free_port()
    config = tmp_path / "targets.yaml"
    log = tmp_path / "daemon.log"
    with http_server() as srv:
        config.write_text(
            f"listen: 127.0.0.1:{port}\n"
            "storage: {heartbeat: 1s}\n"
            "defaults: {interval: 1s, timeout: 500ms, schedule: always}\n"
            f"targets:\n  - {{name: web, group: systems, type: http, url: '{srv.url}'}}\n"
        )
        env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "2000000"}
        env.pop("JOURNAL_STREAM", None)
        proc = subprocess.Popen(
            availmon_argv("run", "-c", config, "--db", tmp_path / "availmon.db"),
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log.open("ab"),
        )
        try:
            notify.expect("READY=1", proc, log)
            notify.expect("WATCHDOG=1", proc, log)
            notify.expect("WATCHDOG=1", proc, log)  # keeps coming while healthy
            proc.send_signal(signal.SIGHUP)
            notify.expect("RELOADING=1", proc, log)
            notify.expect("READY=1", proc, log)
            proc.send_signal(signal.SIGTERM)
            notify.expect("STOPPING=1", proc, log)
            assert proc.wait(timeout=DEADLINE) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            notify.sock.close()
    after_reload = notify.seen[notify.seen.index("RELOADING=1") :]
    assert after_reload.index("READY=1") < after_reload.index("STOPPING=1")
