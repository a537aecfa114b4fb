"""ICMP probe: loopback, a silent host inside a throwaway network namespace, both socket modes.

Traffic goes only to 127.0.0.0/8, ::1 and the 169.254.213.0/30 veth link that the
namespace fixture creates and removes.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.probes import icmp
from monitor.probes.base import SettingError
from tests.support import silent_namespace

ROOT = Path(__file__).resolve().parent.parent
HOST_IP, NS_IP = "169.254.213.1", "169.254.213.2"


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    """A namespace behind a veth link whose address ignores echo requests."""
    with silent_namespace("t", HOST_IP, NS_IP) as ns:
        yield ns


def ping(host: str, timeout: float = 2.0, **raw: object):
    return icmp.run(icmp.parse_settings({"host": host, **raw}, {}), timeout)


def test_loopback_succeeds_with_rtt() -> None:
    r = ping("127.0.0.1")
    assert r.success and r.cause is None
    assert r.details["icmp_packet_loss_ratio"] == 0
    assert 0 < r.details["icmp_rtt_seconds"] < 0.5


def test_ipv6_loopback() -> None:
    r = ping("::1")
    assert r.success, r.cause


def test_name_resolution_failure() -> None:
    r = ping("nonexistent.invalid")
    assert not r.success and r.cause == "name resolution failed"


def test_concurrent_loopback_pings() -> None:
    hosts = [f"127.0.{i}.{i + 1}" for i in range(20)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda h: ping(h, 2.0, count=3), hosts))
    assert all(r.success and r.details["icmp_packet_loss_ratio"] == 0 for r in results), results


@pytest.mark.slow
def test_concurrent_pings_do_not_mix_replies(netns: str) -> None:
    """20 live loopback addresses and 10 pings to the silent host at the same time."""
    live = [f"127.0.{i}.{i + 1}" for i in range(20)]
    with ThreadPoolExecutor(max_workers=30) as pool:
        silent = [pool.submit(ping, NS_IP, 1.0) for _ in range(10)]
        answered = [pool.submit(ping, host, 2.0) for host in live]
        for f in answered:
            r = f.result(timeout=10)
            assert r.success and r.details["icmp_packet_loss_ratio"] == 0, r
        for f in silent:
            r = f.result(timeout=10)
            assert not r.success and r.cause == "100% packet loss", r


@pytest.mark.slow
def test_silent_host_is_total_loss_within_timeout(netns: str) -> None:
    t0 = time.monotonic()
    r = ping(NS_IP, timeout=1.0, count=3)
    elapsed = time.monotonic() - t0
    assert not r.success and r.cause == "100% packet loss"
    assert r.details == {"icmp_packet_loss_ratio": 1.0}
    assert 0.9 <= elapsed < 1.3


def test_max_loss() -> None:
    s = icmp.parse_settings({"host": "127.0.0.1", "count": 2, "max_loss": "0%"}, {})
    assert icmp.run(s, 2).success


def test_detect_privileged_as_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    assert icmp.detect_privileged() is True


def _in_ns(ns: str, *cmd: str, uid: int | None = None) -> subprocess.CompletedProcess[str]:
    prefix = ["ip", "netns", "exec", ns]
    if uid is not None:
        prefix += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [*prefix, *cmd], capture_output=True, text=True, timeout=20, env=env, cwd=ROOT
    )


CHILD = """
import socket, sys
from monitor.probes import icmp
from monitor.probes.base import ProbeSetupError
try:
    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
    print("RAW-WORKS"); sys.exit(0)
except OSError:
    pass
try:
    mode = icmp.detect_privileged()
except ProbeSetupError as exc:
    print("SETUP-ERROR", exc); sys.exit(0)
r = icmp.run(icmp.Settings(host="127.0.0.1"), 2)
print("MODE", mode, r.success, r.cause)
"""


@pytest.fixture
def answering_ns(netns: str) -> Iterator[str]:
    """The namespace with its own loopback answering echo requests, for the duration of a test."""
    _in_ns(netns, "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=0")
    try:
        yield netns
    finally:
        _in_ns(netns, "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1")


@pytest.mark.slow
def test_unprivileged_mode_in_namespace(answering_ns: str) -> None:
    """As uid 65534 inside the namespace: datagram ICMP works iff ping_group_range allows it."""
    netns = answering_ns
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv not available to drop root")
    _in_ns(netns, "sysctl", "-qw", "net.ipv4.ping_group_range=65534 65534")
    out = _in_ns(netns, sys.executable, "-c", CHILD, uid=65534)
    if "RAW-WORKS" in out.stdout or out.returncode != 0:
        pytest.skip(f"cannot drop privileges here: {out.stdout} {out.stderr[-300:]}")
    assert out.stdout.strip() == "MODE False True None"

    _in_ns(netns, "sysctl", "-qw", "net.ipv4.ping_group_range=1 0")
    out = _in_ns(netns, sys.executable, "-c", CHILD, uid=65534)
    assert out.stdout.startswith("SETUP-ERROR")
    assert "net.ipv4.ping_group_range" in out.stdout and "CAP_NET_RAW" in out.stdout


@pytest.mark.slow
def test_unprivileged_setting_as_root_in_namespace(answering_ns: str) -> None:
    """privileged=False as root: the datagram socket path, inside the namespace."""
    netns = answering_ns
    _in_ns(netns, "sysctl", "-qw", "net.ipv4.ping_group_range=0 0")
    code = (
        "from monitor.probes import icmp\n"
        "r = icmp.run(icmp.Settings(host='127.0.0.1', privileged=False), 2)\n"
        "print(r.success, r.details['icmp_packet_loss_ratio'])\n"
    )
    out = _in_ns(netns, sys.executable, "-c", code)
    assert out.stdout.strip() == "True 0.0", out.stderr


def test_settings_carry_mode() -> None:
    s = icmp.parse_settings({"host": "10.0.0.1"}, {})
    assert s.privileged is None and replace(s, privileged=False).privileged is False
    assert icmp.describe(s) == "10.0.0.1"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"host": "10.0.0.1"}, (3, None)),
        ({"host": "db-1.example", "count": 5, "max_loss": 0.5}, (5, 0.5)),
        ({"host": "::1", "max_loss": "25%"}, (3, 0.25)),
        ({"host": "h", "max_loss": 1}, (3, 1.0)),
    ],
)
def test_good_settings(raw: dict[str, object], expected: tuple[int, float | None]) -> None:
    s = icmp.parse_settings(raw, {})
    assert (s.count, s.max_loss) == expected


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({}, "host"),
        ({"host": 42}, "host"),
        ({"host": "bad host"}, "host"),
        ({"host": "-leading.example"}, "host"),
        ({"host": "300.1.1.1"}, "host"),
        ({"host": "h", "count": 0}, "count"),
        ({"host": "h", "count": "three"}, "count"),
        ({"host": "h", "count": True}, "count"),
        ({"host": "h", "max_loss": 1.5}, "max_loss"),
        ({"host": "h", "max_loss": "150%"}, "max_loss"),
        ({"host": "h", "max_loss": "half"}, "max_loss"),
        ({"host": "h", "max_loss": float("nan")}, "max_loss"),
        ({"host": "h", "max_loss": False}, "max_loss"),
    ],
)
def test_bad_settings(raw: dict[str, object], key: str) -> None:
    with pytest.raises(SettingError) as info:
        icmp.parse_settings(raw, {})
    assert info.value.key == key


def test_begin_returns_at_once_and_holds_no_thread_per_probe() -> None:
    """200 probes begun from one thread: each returns before its 3rd echo is due, every
    result comes from the engine's result thread, and no thread is started per probe."""
    icmp.run(icmp.Settings(host="127.0.0.1", count=1), 2)  # the engine's threads exist
    threads_before = set(threading.enumerate())
    results: queue.SimpleQueue[tuple[int, object, str]] = queue.SimpleQueue()
    for i in range(200):
        icmp.begin(
            icmp.Settings(host=f"127.3.{i // 250}.{i % 250 + 1}"),
            3.0,
            lambda r, i=i: results.put((i, r, threading.current_thread().name)),
        )
        if i == 0:
            # 3 echoes 0.2 s apart: the first probe cannot have ended yet
            assert results.empty()
    assert set(threading.enumerate()) - threads_before == set()
    got = [results.get(timeout=10) for _ in range(200)]
    assert sorted(i for i, _, _ in got) == list(range(200))
    assert {name for _, _, name in got} == {"icmp-results"}
    assert all(
        r.success and r.details["icmp_packet_loss_ratio"] == 0  # type: ignore[attr-defined]
        for _, r, _ in got
    )


def test_host_name_is_resolved_off_the_callers_thread() -> None:
    results: queue.SimpleQueue[object] = queue.SimpleQueue()
    icmp.begin(icmp.Settings(host="localhost", count=1), 2.0, results.put)
    r = results.get(timeout=5)
    assert r.success, r.cause  # type: ignore[attr-defined]


@given(
    kind=st.sampled_from([8, 128]),
    ident=st.integers(0, 0xFFFF),
    sequence=st.integers(0, 0xFFFF),
)
def test_echo_request_is_a_valid_echo_request(kind: int, ident: int, sequence: int) -> None:
    """The precomputed checksum against RFC 1071 summed over the whole packet."""
    packet = icmp.echo_request(kind, ident, sequence)
    assert struct.unpack("!BBxxHH", packet[:8]) == (kind, 0, ident, sequence)
    total = sum(struct.unpack(f"!{len(packet) // 2}H", packet))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    assert total == 0xFFFF  # a correct checksum makes the ones' complement sum all ones


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", (socket.AF_INET, "127.0.0.1")),
        ("::1", (socket.AF_INET6, "::1")),
        ("2001:DB8:0:0::1", (socket.AF_INET6, "2001:db8::1")),
        ("fe80::1%lo", None),  # a zone: getaddrinfo resolves it per probe
        ("localhost", None),
    ],
)
def test_literal_address_is_parsed_once(host: str, address: object) -> None:
    assert icmp.Settings(host=host).address == address


@pytest.mark.parametrize(
    ("family", "host", "kind"), [(socket.AF_INET, "127.0.0.1", 8), (socket.AF_INET6, "::1", 128)]
)
def test_reply_filter_keeps_only_our_identifier(family: int, host: str, kind: int) -> None:
    """Two raw sockets filtered on two identifiers: each reads its own echo reply only."""
    proto = socket.IPPROTO_ICMPV6 if family == socket.AF_INET6 else socket.IPPROTO_ICMP
    socks = {ident: socket.socket(family, socket.SOCK_RAW, proto) for ident in (4242, 4243)}
    try:
        for ident, sock in socks.items():
            icmp.attach_reply_filter(sock, family, ident)
            sock.settimeout(0.5)
        for ident, sock in socks.items():
            sock.sendto(icmp.echo_request(kind, ident, 7), (host, 0))
        for ident, sock in socks.items():
            seen = set()
            with contextlib.suppress(TimeoutError):
                for _ in range(10):  # our reply, and any echo request the filter lets by
                    packet = sock.recv(1024)
                    header = packet[(packet[0] & 0xF) * 4 :] if family == socket.AF_INET else packet
                    kind_seen, ident_seen = header[0], struct.unpack("!H", header[4:6])[0]
                    if kind_seen in (0, 129):
                        seen.add(ident_seen)
            assert seen == {ident}
    finally:
        for sock in socks.values():
            sock.close()
