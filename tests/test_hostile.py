"""Hostile and broken targets the probe tests do not already cover.

Traffic goes only to 127.0.0.1 and to a veth link inside a network namespace this file
creates and removes (169.254.214.0/30). Every server here is bounded in time and bytes.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme

from monitor.probes import http, icmp
from tests.support import silent_namespace, tcp_server

ROOT = Path(__file__).resolve().parent.parent


def probe(url: str, timeout: float, **raw: object):
    return http.run(http.parse_settings({"url": url, **raw}, {}), timeout)


def _silent(conn: socket.socket) -> None:
    """Accept and never say anything (read the request, then wait out the limit)."""
    conn.recv(65536)
    end = time.monotonic() + 5
    while time.monotonic() < end:
        if not conn.recv(65536):
            return


def _endless_headers(conn: socket.socket) -> None:
    """One header line after another, forever (until the client goes or 10 s pass)."""
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    end, i = time.monotonic() + 10, 0
    line = b"X-Filler-%08d: " + b"y" * 200 + b"\r\n"
    while time.monotonic() < end:
        conn.sendall(b"".join(line % (i + k) for k in range(50)))
        i += 50


def test_server_that_never_answers_fails_at_deadline() -> None:
    for addr in tcp_server(_silent):
        t0 = time.monotonic()
        r = probe(f"http://{addr}/", 0.8)
        took = time.monotonic() - t0
        assert not r.success and r.cause == "timeout after 800ms"
        assert took < 1.5


def test_tls_server_that_never_answers_fails_at_deadline() -> None:
    """Accepts TCP but never starts the TLS handshake."""
    for addr in tcp_server(_silent):
        t0 = time.monotonic()
        r = probe(f"https://{addr}/", 0.8, tls_verify=False)
        assert not r.success and r.cause == "timeout after 800ms"
        assert time.monotonic() - t0 < 1.5


def test_endless_headers_fail_within_deadline_with_bounded_memory() -> None:
    for addr in tcp_server(_endless_headers):
        tracemalloc.start()
        try:
            t0 = time.monotonic()
            r = probe(f"http://{addr}/", 1.5)
            took = time.monotonic() - t0
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert not r.success, r
        # http.client refuses more than 100 headers at once: an invalid response, fast.
        assert r.cause in ("invalid HTTP response", "timeout after 1.5s"), r.cause
        assert took < 2.5
        assert peak < 32 * 1024 * 1024


def test_endless_single_header_line_is_bounded() -> None:
    """One header line that never ends: http.client's 64 KiB line limit, not the deadline."""

    def behaviour(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Long: ")
        end = time.monotonic() + 10
        while time.monotonic() < end:
            conn.sendall(b"z" * 65536)

    for addr in tcp_server(behaviour):
        t0 = time.monotonic()
        r = probe(f"http://{addr}/", 2.0)
        assert not r.success and r.cause in ("invalid HTTP response", "timeout after 2s")
        assert time.monotonic() - t0 < 3


class _Redirect(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        target = self.server.location  # type: ignore[attr-defined]
        self.send_response(302)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _redirect_server(location: str) -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    srv.daemon_threads = True
    srv.location = location  # type: ignore[attr-defined]
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/"
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.parametrize(
    ("location", "cause"),
    [
        ("file:///etc/passwd", "redirect to unsupported scheme file"),
        ("javascript:alert(1)", "redirect to unsupported scheme javascript"),
        ("gopher://127.0.0.1:70/", "redirect to unsupported scheme gopher"),
        ("data:text/plain,ok", "redirect to unsupported scheme data"),
    ],
)
def test_redirect_to_another_scheme(location: str, cause: str) -> None:
    for url in _redirect_server(location):
        r = probe(url, 2.0)
        assert not r.success and r.cause == cause
        assert r.details == {"http_status_code": 302.0}


def _tls_ok_server(ca: trustme.CA, name: str) -> Iterator[str]:
    """A TLS server answering 200 with a certificate from ``ca`` for ``name``; yields its
    host:port."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(ctx)

    def behaviour(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    yield from tcp_server(behaviour, wrap=ctx)


def test_redirect_from_http_to_https_is_followed_and_verified() -> None:
    """http -> https on a server with an untrusted certificate: a TLS failure, not success."""
    for addr in _tls_ok_server(trustme.CA(), "127.0.0.1"):
        for url in _redirect_server(f"https://{addr}/"):
            r = probe(url, 2.0)
            assert not r.success and r.cause == "TLS certificate not trusted"


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_wrong_host_certificate_for_ip_literal(tmp_path: Path) -> None:
    """A certificate trusted but issued for another name, reached by IP address."""
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    for addr in _tls_ok_server(ca, "intranet.example"):
        r = probe(f"https://{addr}/", 2.0, ca_file=str(ca_file))
        assert not r.success and r.cause == "TLS hostname mismatch"
        # With verification off the same server is up (and the leaf expiry still read).
        r = probe(f"https://{addr}/", 2.0, tls_verify=False)
        assert r.success and r.details["ssl_earliest_cert_expiry"] > time.time()


# --------------------------------------------------------------------------- isolation


def _trickle(conn: socket.socket) -> None:
    conn.recv(65536)
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"a" * 100:
        conn.sendall(bytes([byte]))
        time.sleep(0.1)


def _healthy(conn: socket.socket) -> None:
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")


def test_trickling_targets_do_not_delay_a_healthy_one() -> None:
    """20 probes stuck on a trickling server; a probe of a healthy server is still quick."""
    for slow in tcp_server(_trickle):
        for fast in tcp_server(_healthy):
            with ThreadPoolExecutor(max_workers=21) as pool:
                stuck = [pool.submit(probe, f"http://{slow}/", 2.0) for _ in range(20)]
                time.sleep(0.3)  # let them all connect and start trickling
                t0 = time.monotonic()
                ok = pool.submit(probe, f"http://{fast}/", 2.0).result(timeout=10)
                took = time.monotonic() - t0
                assert ok.success, ok.cause
                assert took < 1.0
                for f in stuck:
                    r = f.result(timeout=10)
                    assert not r.success and r.cause == "timeout after 2s"


# --------------------------------------------------------------------------- ICMP identifier

HOST_IP, NS_IP = "169.254.214.1", "169.254.214.2"


RESPONDER = r"""
import socket, struct, sys, time

def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF

mode = sys.argv[1]
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
sock.settimeout(0.2)
print("ready", flush=True)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    try:
        packet, (src, _) = sock.recvfrom(65535)
    except socket.timeout:
        continue
    ihl = (packet[0] & 0x0F) * 4
    icmp = packet[ihl:]
    if len(icmp) < 8 or icmp[0] != 8:
        continue
    ident, seq = struct.unpack("!HH", icmp[4:8])
    if mode == "wrong-id":
        ident = (ident + 1) & 0xFFFF
    elif mode == "wrong-seq":
        seq = (seq + 1000) & 0xFFFF
    body = struct.pack("!BBHHH", 0, 0, 0, ident, seq) + icmp[8:]
    body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
    sock.sendto(body, (src, 0))
"""


@pytest.fixture(scope="module")
def echo_ns() -> Iterator[str]:
    """A namespace whose kernel ignores echo requests; a raw-socket responder answers instead."""
    with silent_namespace("x", HOST_IP, NS_IP) as ns:
        yield ns


def _responder(ns: str, mode: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-c", RESPONDER, mode, "8"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        pytest.skip(f"responder did not start: {proc.stderr.read() if proc.stderr else ''}")
    return proc


@pytest.mark.slow
@pytest.mark.parametrize("privileged", [True, False])
@pytest.mark.parametrize(
    ("mode", "success"), [("echo", True), ("wrong-id", False), ("wrong-seq", False)]
)
def test_icmp_reply_must_match_identifier(
    echo_ns: str, mode: str, success: bool, privileged: bool
) -> None:
    """Replies with another identifier (or sequence) are not ours: 100% packet loss."""
    if not privileged:
        subprocess.run(
            ["ip", "netns", "exec", echo_ns, "true"], check=True, timeout=10
        )  # namespace still there
        with open("/proc/sys/net/ipv4/ping_group_range") as fh:
            lo, hi = (int(x) for x in fh.read().split())
        if not lo <= os.getgid() <= hi:
            pytest.skip("datagram ICMP sockets are not allowed for this group here")
    proc = _responder(echo_ns, mode)
    try:
        settings = icmp.Settings(host=NS_IP, count=3, privileged=privileged)
        r = icmp.run(settings, 1.0)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    if success:
        assert r.success and r.details["icmp_packet_loss_ratio"] == 0, r
    else:
        assert not r.success and r.cause == "100% packet loss", r
        assert r.details == {"icmp_packet_loss_ratio": 1.0}
