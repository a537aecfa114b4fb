"""TCP probe against listening and closed loopback ports."""

from __future__ import annotations

import socket
import time

import pytest

from monitor.probes import tcp
from monitor.probes._common import format_timeout
from monitor.probes.base import SettingError


def test_listening_port_succeeds() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        r = tcp.run(tcp.parse_settings({"host": "127.0.0.1", "port": port}, {}), 2)
    assert r.success and r.cause is None and r.duration_seconds < 1


def test_localhost_name_and_ipv6() -> None:
    with socket.create_server(("::1", 0), family=socket.AF_INET6) as server:
        port = server.getsockname()[1]
        assert tcp.run(tcp.parse_settings({"host": "::1", "port": port}, {}), 2).success


def test_closed_port_is_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, not listening
        port = s.getsockname()[1]
        r = tcp.run(tcp.parse_settings({"host": "127.0.0.1", "port": port}, {}), 2)
    assert not r.success and r.cause == "connection refused"


def test_full_backlog_times_out() -> None:
    """A listener that never accepts, with its backlog filled, leaves SYNs unanswered."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):  # bounded: fill the accept queue
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            fillers.append(c)
        time.sleep(0.1)
        t0 = time.monotonic()
        r = tcp.run(tcp.parse_settings({"host": "127.0.0.1", "port": port}, {}), 0.5)
        elapsed = time.monotonic() - t0
    finally:
        for c in fillers:
            c.close()
        server.close()
    if r.success:
        pytest.skip("kernel accepted beyond the backlog; cannot provoke a connect timeout")
    assert r.cause == "timeout after 500ms"
    assert elapsed < 0.8


def test_name_resolution_failure() -> None:
    r = tcp.run(tcp.parse_settings({"host": "nonexistent.invalid", "port": 25}, {}), 2)
    assert not r.success and r.cause == "name resolution failed"


def test_describe() -> None:
    assert tcp.describe(tcp.parse_settings({"host": "mail", "port": 25}, {})) == "mail:25"
    assert tcp.describe(tcp.parse_settings({"host": "::1", "port": "25"}, {})) == "[::1]:25"


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"port": 25}, "host"),
        ({"host": "a b", "port": 25}, "host"),
        ({"host": "mail"}, "port"),
        ({"host": "mail", "port": 0}, "port"),
        ({"host": "mail", "port": 65536}, "port"),
        ({"host": "mail", "port": "smtp"}, "port"),
        ({"host": "mail", "port": 2.5}, "port"),
        ({"host": "mail", "port": True}, "port"),
    ],
)
def test_bad_settings(raw: dict[str, object], key: str) -> None:
    with pytest.raises(SettingError) as info:
        tcp.parse_settings(raw, {})
    assert info.value.key == key


@pytest.mark.parametrize(
    ("seconds", "text"), [(5, "5s"), (5.0, "5s"), (0.5, "500ms"), (1.5, "1.5s"), (0.25, "250ms")]
)
def test_format_timeout(seconds: float, text: str) -> None:
    assert format_timeout(seconds) == text
