"""The daemon needs no root: CAP_NET_RAW alone is enough, and without it (nor the ping
group sysctl) it refuses to start with one line saying what to grant."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.support import availmon_argv, free_port

# Runs the CLI as real processes with capabilities taken away.
pytestmark = pytest.mark.slow


def capped(caps: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run availmon with only ``caps`` in its capability bounding set (uid stays 0)."""
    return subprocess.run(
        ["setpriv", f"--bounding-set=-all{caps}", f"--inh-caps=-all{caps}", *availmon_argv(*args)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def config(tmp_path):
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    path = tmp_path / "targets.yaml"
    path.write_text(
        f"listen: 127.0.0.1:{free_port()}\ntargets: [{{name: loop, type: icmp, host: 127.0.0.1}}]\n"
    )
    return path


def test_cap_net_raw_alone_is_enough(config):
    result = capped(",+net_raw", "probe", "-c", str(config), "loop")
    assert result.returncode == 0, result.stderr
    assert "loop [icmp 127.0.0.1]: UP" in result.stdout


def test_without_any_way_to_ping_it_says_what_to_grant(config, tmp_path):
    with open("/proc/sys/net/ipv4/ping_group_range") as fh:
        low, high = (int(x) for x in fh.read().split())
    if low <= 0 <= high:
        pytest.skip("root's group may open datagram ICMP sockets here (ping_group_range)")
    result = capped("", "run", "-c", str(config), "--db", str(tmp_path / "a.db"))
    assert result.returncode == 2
    assert "CAP_NET_RAW" in result.stderr and "ping_group_range" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
