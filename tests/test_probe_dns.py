"""DNS probe against a real DNS server on 127.0.0.1 that the test starts.

The server is a small authoritative one on dnspython, on UDP and TCP of one free port,
answering from ``ZONE``; a few names make it misbehave (SERVFAIL, a truncated UDP
answer, silence, garbage) so every cause is provoked on the wire.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from monitor import config as config_mod
from monitor.probes import dns as dns_probe
from monitor.probes import probe_once
from tests.support import availmon

ZONE: dict[tuple[str, str], list[str]] = {
    ("www.test.", "A"): ["10.0.0.5"],
    ("www.test.", "AAAA"): ["2001:db8::5"],
    ("test.", "MX"): ["10 mail.test.", "20 backup.test."],
    ("test.", "TXT"): ['"v=spf1 mx -all"'],
    ("test.", "SOA"): ["ns1.test. hostmaster.test. 2024070101 3600 600 86400 300"],
    ("truncated.test.", "TXT"): [f'"record {i} {"x" * 100}"' for i in range(20)],
}


class FakeDNS:
    """Answers from ``ZONE`` and records (transport, name) of every question it is asked."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.stopped = threading.Event()

    def respond(self, wire: bytes, transport: str) -> bytes | None:
        """The response's wire form, or None to stay silent."""
        query = dns.message.from_wire(wire)
        question = query.question[0]
        name = question.name.to_text()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.seen.append((transport, name))
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if name == "silent.test.":
            return None
        if name == "garbage.test.":
            return b"\x00\x01 not a DNS message"
        if name == "servfail.test.":
            response.set_rcode(dns.rcode.SERVFAIL)
            return response.to_wire()
        if name == "slow-truncated.test.":  # TC over UDP after a while, then silence on TCP
            if transport == "tcp":
                return None
            time.sleep(0.6)
            response.flags |= dns.flags.TC
            return response.to_wire()
        if name == "truncated.test." and transport == "udp":
            response.flags |= dns.flags.TC
            return response.to_wire()
        if not any(owner == name for owner, _ in ZONE):
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif (name, rdtype) in ZONE:
            response.answer.append(
                dns.rrset.from_text_list(name, 300, "IN", rdtype, ZONE[name, rdtype])
            )
        return response.to_wire()


class _UDPHandler(socketserver.BaseRequestHandler):
    server: Any

    def handle(self) -> None:
        data, sock = self.request
        reply = self.server.dns.respond(data, "udp")
        if reply is not None:
            sock.sendto(reply, self.client_address)


class _TCPHandler(socketserver.StreamRequestHandler):
    server: Any

    def handle(self) -> None:
        size = self.rfile.read(2)
        if len(size) < 2:
            return
        reply = self.server.dns.respond(self.rfile.read(int.from_bytes(size, "big")), "tcp")
        if reply is None:
            self.server.dns.stopped.wait(5)  # hold the connection open, silent
            return
        self.wfile.write(len(reply).to_bytes(2, "big") + reply)


class _UDPServer(socketserver.ThreadingUDPServer):
    daemon_threads = True


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True


@pytest.fixture
def server() -> Iterator[tuple[FakeDNS, int]]:
    """A FakeDNS on UDP and TCP of one free port of 127.0.0.1."""
    fake = FakeDNS()
    for _ in range(20):
        tcp = _TCPServer(("127.0.0.1", 0), _TCPHandler)
        port = tcp.server_address[1]
        try:
            udp = _UDPServer(("127.0.0.1", port), _UDPHandler)
        except OSError:  # that port's UDP side is taken: try another
            tcp.server_close()
            continue
        break
    else:
        pytest.fail("no port free on both UDP and TCP")
    threads = []
    for srv in (tcp, udp):
        srv.dns = fake  # type: ignore[attr-defined]
        thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        threads.append(thread)
    yield fake, port
    fake.stopped.set()
    for srv in (tcp, udp):
        srv.shutdown()
        srv.server_close()
    for thread in threads:
        thread.join()


def settings(port: int, **keys: Any) -> dns_probe.Settings:
    return dns_probe.parse_settings({"server": f"127.0.0.1:{port}", **keys}, {})


# id, keys, success, cause, answer records, transports the server saw
CASES: list[tuple[str, dict[str, Any], bool, str | None, int | None, list[str]]] = [
    ("A", {"query_name": "www.test", "expect": [r"IN A 10\.0\.0\.5$"]}, True, None, 1, ["udp"]),
    ("A without expect", {"query_name": "www.test."}, True, None, 1, ["udp"]),
    (
        "AAAA",
        {"query_name": "www.test", "query_type": "AAAA", "expect": ["2001:db8::5"]},
        True,
        None,
        1,
        ["udp"],
    ),
    (
        "MX, every regex matched by some record",
        {"query_name": "test", "query_type": "mx", "expect": [r"MX 10 mail\.", r"20 backup\."]},
        True,
        None,
        2,
        ["udp"],
    ),
    (
        "TXT",
        {"query_name": "test", "query_type": "TXT", "expect": ['"v=spf1 .*-all"']},
        True,
        None,
        1,
        ["udp"],
    ),
    (
        "answer did not match",
        {"query_name": "www.test", "expect": [r"10\.0\.0\.5", r"10\.0\.0\.6"]},
        False,
        r"answer did not match /10\.0\.0\.6/",
        1,
        ["udp"],
    ),
    ("NXDOMAIN", {"query_name": "nothere.test"}, False, "NXDOMAIN", 0, ["udp"]),
    (
        "name exists, no record of the type",
        {"query_name": "www.test", "query_type": "MX"},
        False,
        "no answer records",
        0,
        ["udp"],
    ),
    ("SERVFAIL", {"query_name": "servfail.test"}, False, "SERVFAIL", 0, ["udp"]),
    (
        "truncated UDP answer retried over TCP",
        {"query_name": "truncated.test", "query_type": "TXT", "expect": ["record 19 x"]},
        True,
        None,
        20,
        ["udp", "tcp"],
    ),
    ("transport tcp", {"query_name": "www.test", "transport": "tcp"}, True, None, 1, ["tcp"]),
    (
        "garbage instead of a DNS message",
        {"query_name": "garbage.test"},
        False,
        "invalid DNS response",
        None,
        ["udp"],
    ),
]


@pytest.mark.parametrize(
    ("keys", "success", "cause", "rrs", "transports"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_answers(
    server: tuple[FakeDNS, int],
    keys: dict[str, Any],
    success: bool,
    cause: str | None,
    rrs: int | None,
    transports: list[str],
) -> None:
    fake, port = server
    result = probe_once("dns", settings(port, **keys), 2)
    assert (result.success, result.cause) == (success, cause)
    assert result.details.get("dns_answer_rrs") == rrs
    assert [transport for transport, _ in fake.seen] == transports


def test_soa_serial_is_a_detail(server: tuple[FakeDNS, int]) -> None:
    _, port = server
    result = probe_once("dns", settings(port, query_name="test", query_type="SOA"), 2)
    assert result.success
    assert result.details == {"dns_answer_rrs": 1, "dns_serial": 2024070101}


@pytest.mark.parametrize(
    "keys",
    [
        {"query_name": "silent.test"},
        {"query_name": "silent.test", "transport": "tcp"},
        {"query_name": "slow-truncated.test"},  # the TCP retry gets only what UDP left
    ],
    ids=["udp silent", "tcp silent", "truncated after 600ms, then tcp silent"],
)
def test_silence_times_out_at_the_total_deadline(
    server: tuple[FakeDNS, int], keys: dict[str, Any]
) -> None:
    _, port = server
    started = time.monotonic()
    result = probe_once("dns", settings(port, **keys), 1.0)
    took = time.monotonic() - started
    assert (result.success, result.cause) == (False, "timeout after 1s")
    assert 1.0 <= took < 1.0 + 0.4  # a fresh deadline for the TCP retry would take 1.6 s


def test_tcp_to_a_closed_port_is_refused() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, not listening
        port = closed.getsockname()[1]
        result = probe_once("dns", settings(port, query_name="www.test", transport="tcp"), 2)
    assert (result.success, result.cause) == (False, "connection refused")


@pytest.mark.parametrize(
    ("server_text", "described"),
    [
        ("ns1.example.org", "www.example.org A @ns1.example.org:53"),
        ("10.0.0.53:5353", "www.example.org A @10.0.0.53:5353"),
        ("::1", "www.example.org A @[::1]:53"),
        ("[::1]:5353", "www.example.org A @[::1]:5353"),
    ],
)
def test_server_forms_and_describe(server_text: str, described: str) -> None:
    parsed = dns_probe.parse_settings({"server": server_text, "query_name": "www.example.org"}, {})
    assert dns_probe.describe(parsed) == described


# -- setting errors, through config parsing (the registry makes `type: dns` known) ----------


def parse_target(**keys: Any) -> config_mod.Config:
    target = {"name": "ns", "type": "dns", "server": "10.0.0.53", "query_name": "www.test"}
    raw = {
        "defaults": {"interval": "30s", "timeout": "5s", "schedule": "always"},
        "targets": [{**target, **keys}],
    }
    return config_mod.parse(raw, "targets.yaml", {})


def test_a_dns_target_parses() -> None:
    (target,) = parse_target(query_type="MX", expect=["mail"], transport="tcp").targets
    assert (target.type, target.describe) == ("dns", "www.test MX @10.0.0.53:53")


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        (
            {"query_type": "AAA"},
            "query_type: 'query_type' must be a record type such as A, AAAA, MX, TXT, got 'AAA'",
        ),
        (
            {"query_type": "ANY"},
            "query_type: 'query_type' must be a record type such as A, AAAA, MX, TXT, got 'ANY'",
        ),
        ({"server": "ns1:99999"}, "server: 'server' has an invalid port (1-65535): 'ns1:99999'"),
        ({"server": "ns1:dns"}, "server: 'server' has an invalid port (1-65535): 'ns1:dns'"),
        ({"server": "ns 1"}, "server: 'server' is not a valid host or host:port: 'ns 1'"),
        ({"server": None}, "server: 'server' is required"),
        (
            {"expect": ["10.0.0.(5"]},
            "expect: 'expect' has an invalid regular expression '10.0.0.(5': "
            "missing ), unterminated subpattern at position 7",
        ),
        ({"expect": [5]}, "expect: 'expect' entries must be regexes, got 5"),
        ({"transport": "quic"}, "transport: 'transport' must be udp or tcp, got 'quic'"),
        ({"query_name": None}, "query_name: 'query_name' is required"),
        (
            {"query_name": "a..b"},
            "query_name: 'query_name' is not a DNS name: 'a..b' (A DNS label is empty.)",
        ),
    ],
)
def test_setting_errors_are_one_line_each(keys: dict[str, Any], problem: str) -> None:
    with pytest.raises(config_mod.ConfigError) as info:
        parse_target(**keys)
    (line,) = info.value.problems
    assert line.startswith(f"targets.yaml: targets[0] (ns).{problem}")
    assert "\n" not in line


@pytest.mark.slow
def test_check_command_shows_a_dns_setting_error(tmp_path: Path) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text(
        "targets:\n"
        "  - {name: ns, type: dns, server: 10.0.0.53, query_name: www.test, query_type: AAA}\n"
    )
    result = availmon("check", "-c", str(path))
    assert result.returncode == 2
    assert "targets[0] (ns).query_type: 'query_type' must be a record type" in result.stderr
    assert "Traceback" not in result.stderr
