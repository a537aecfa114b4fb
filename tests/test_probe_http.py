"""HTTP probe against real servers on 127.0.0.1 (no mocks, no other addresses)."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme

from monitor.probes import http
from monitor.probes._tls import cert_not_after
from monitor.probes.base import SettingError
from tests.support import tcp_server

SECRET = "s3cr3t-pa55"


class Handler(BaseHTTPRequestHandler):
    """Routes by path; every slow or endless behaviour is bounded in bytes and time."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def setup(self) -> None:  # once per connection
        self.server.connections += 1  # type: ignore[attr-defined]
        super().setup()

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = self.path
        if path == "/ok":
            self._send(200, b"status: ok\n")
        elif path == "/error-page":
            self._send(200, b"status: error\n")
        elif path == "/503":
            self._send(503, b"down")
        elif path == "/loop":
            self._send(302, headers={"Location": "/loop"})
        elif path == "/to-ftp":
            self._send(302, headers={"Location": "ftp://127.0.0.1/file"})
        elif path.startswith("/hops/"):
            n = int(path.rsplit("/", 1)[1])
            target = "/ok" if n == 0 else f"/hops/{n - 1}"
            self._send(301, headers={"Location": target})
        elif path == "/method":
            self._send(200, self.command.encode())
        elif path == "/auth":
            got = self.headers.get("Authorization", "")
            self.server.seen_auth.append(got)  # type: ignore[attr-defined]
            self._send(200 if got else 401, b"auth ok" if got else b"no auth")
        elif path == "/cookie":
            self.server.seen_cookies.append(self.headers.get("Cookie"))  # type: ignore[attr-defined]
            self._send(200, b"ok", {"Set-Cookie": "session=abc; Path=/"})
        elif path == "/redirect-away":
            port = self.server.other_port  # type: ignore[attr-defined]
            self._send(302, headers={"Location": f"http://localhost:{port}/auth"})
        elif path == "/trickle-body":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self._trickle(100)
        elif path == "/endless":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()  # no length: body runs until the connection closes
            block = b"x" * 65536
            stop = time.monotonic() + 10
            try:
                while time.monotonic() < stop:
                    self.wfile.write(block)
            except OSError:
                pass
            self.close_connection = True
        elif path == "/cut":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"partial")
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        else:
            self._send(404, b"not found")

    def _trickle(self, n: int) -> None:
        try:
            for _ in range(n):
                self.wfile.write(b"a")
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass
        self.close_connection = True


def _serve(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    server.daemon_threads = True
    server.seen_auth = []  # type: ignore[attr-defined]
    server.seen_cookies = []  # type: ignore[attr-defined]
    server.connections = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    yield from _serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler))


@pytest.fixture
def base(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _tls_server(ca: trustme.CA, **issue: object) -> Iterator[tuple[str, trustme.LeafCert]]:
    cert = ca.issue_cert("localhost", "127.0.0.1", **issue)  # type: ignore[arg-type]
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    for s in _serve(srv):
        yield f"https://localhost:{s.server_address[1]}", cert


@pytest.fixture
def tls(ca: trustme.CA) -> Iterator[tuple[str, trustme.LeafCert]]:
    yield from _tls_server(ca)


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def raw_server(behaviour: Callable[[socket.socket], None]) -> Iterator[str]:
    """A one-behaviour TCP server on 127.0.0.1, run once the request is read; yields its
    http:// base URL."""

    def after_request(conn: socket.socket) -> None:
        conn.recv(65536)
        behaviour(conn)

    for address in tcp_server(after_request, limit=5):
        yield f"http://{address}"


def _trickle_headers(conn: socket.socket) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"z" * 40:
        conn.sendall(bytes([byte]))
        time.sleep(0.2)


def _garbage(conn: socket.socket) -> None:
    conn.sendall(b"SSH-2.0-OpenSSH_9.0\r\nthis is not http\r\n\r\n")


def _close_silently(conn: socket.socket) -> None:
    pass


def _reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


def probe(raw: dict[str, object], timeout: float = 3.0, env: dict[str, str] | None = None):
    return http.run(http.parse_settings(raw, env or {}), timeout)


# ------------------------------------------------------------------ outcomes


def test_200_with_body_match(base: str) -> None:
    r = probe({"url": f"{base}/ok", "body_matches": "status: ok"})
    assert r.success and r.cause is None
    assert r.details["http_status_code"] == 200
    assert "ssl_earliest_cert_expiry" not in r.details


def test_503(base: str) -> None:
    r = probe({"url": f"{base}/503"})
    assert not r.success and r.cause == "HTTP 503"
    assert r.details["http_status_code"] == 503


def test_expect_status_accepts_503(base: str) -> None:
    assert probe({"url": f"{base}/503", "expect_status": ["5xx"]}).success
    assert probe({"url": f"{base}/503", "expect_status": [503]}).success
    assert not probe({"url": f"{base}/ok", "expect_status": ["500-599"]}).success


def test_body_mismatch_and_forbidden_match(base: str) -> None:
    r = probe({"url": f"{base}/error-page", "body_matches": "ok"})
    assert not r.success and r.cause == "body did not match /ok/"
    r = probe({"url": f"{base}/error-page", "body_not_matches": "error"})
    assert not r.success and r.cause == "body matched /error/"
    assert probe({"url": f"{base}/ok", "body_not_matches": "error"}).success


def test_methods(base: str) -> None:
    assert probe({"url": f"{base}/ok", "method": "HEAD"}).success
    assert probe({"url": f"{base}/method", "method": "post", "body_matches": "^POST$"}).success


def test_trickling_body_fails_at_deadline(base: str) -> None:
    t0 = time.monotonic()
    r = probe({"url": f"{base}/trickle-body"}, timeout=1.0)
    elapsed = time.monotonic() - t0
    assert not r.success and r.cause == "timeout after 1s"
    assert 0.9 <= elapsed < 1.5


def test_trickling_headers_fail_at_deadline() -> None:
    for url in raw_server(_trickle_headers):
        t0 = time.monotonic()
        r = probe({"url": url}, timeout=1.0)
        elapsed = time.monotonic() - t0
        assert not r.success and r.cause == "timeout after 1s"
        assert 0.9 <= elapsed < 1.5


def test_timeout_formatting_in_ms(base: str) -> None:
    r = probe({"url": f"{base}/trickle-body"}, timeout=0.5)
    assert r.cause == "timeout after 500ms"


def test_endless_body_is_read_bounded(base: str) -> None:
    tracemalloc.start()
    try:
        r = probe({"url": f"{base}/endless", "body_matches": "x{100}"}, timeout=5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.success, r.cause
    assert r.duration_seconds < 3
    assert peak < 8 * http.BODY_LIMIT


def test_body_regex_sees_only_first_mib(base: str) -> None:
    # the endless body is all "x": a "y" can never be found within the limit
    r = probe({"url": f"{base}/endless", "body_matches": "y"}, timeout=5)
    assert not r.success and r.cause == "body did not match /y/"


def test_redirects(base: str) -> None:
    assert probe({"url": f"{base}/hops/3", "body_matches": "ok"}).success
    r = probe({"url": f"{base}/hops/3", "max_redirects": 2})
    assert not r.success and r.cause == "too many redirects"
    r = probe({"url": f"{base}/loop"})
    assert not r.success and r.cause == "too many redirects"
    r = probe({"url": f"{base}/loop", "follow_redirects": False})
    assert r.success and r.details["http_status_code"] == 302


def test_redirect_to_ftp_not_followed(base: str) -> None:
    r = probe({"url": f"{base}/to-ftp"})
    assert not r.success and r.cause == "redirect to unsupported scheme ftp"


def test_garbage_response() -> None:
    for url in raw_server(_garbage):
        r = probe({"url": url})
        assert not r.success and r.cause == "invalid HTTP response"


def test_closed_without_response() -> None:
    for url in raw_server(_close_silently):
        r = probe({"url": url})
        assert not r.success and r.cause == "connection closed without response"


def test_connection_reset() -> None:
    for url in raw_server(_reset):
        r = probe({"url": url})
        assert not r.success and r.cause in (
            "connection reset",
            "connection closed without response",
        )


def test_closed_mid_response(base: str) -> None:
    r = probe({"url": f"{base}/cut"})
    assert not r.success and r.cause == "connection closed mid-response"


def test_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: refused
        r = probe({"url": f"http://127.0.0.1:{port}/"})
    assert not r.success and r.cause == "connection refused"


def test_name_resolution_failure() -> None:
    r = probe({"url": "http://nonexistent.invalid/"})
    assert not r.success and r.cause == "name resolution failed"


# ------------------------------------------------------------------ secrets


def test_basic_auth_from_file_is_sent_and_hidden(server, base: str, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text(SECRET + "\n")
    s = http.parse_settings(
        {"url": f"{base}/auth", "basic_auth": {"username": "mon", "password_file": str(pw)}}, {}
    )
    r = http.run(s, 3)
    assert r.success
    import base64

    assert server.seen_auth == ["Basic " + base64.b64encode(f"mon:{SECRET}".encode()).decode()]
    for text in (repr(s), str(s), http.describe(s), repr(r)):
        assert SECRET not in text and "Basic" not in text


def test_bearer_from_env(server, base: str) -> None:
    s = http.parse_settings({"url": f"{base}/auth", "bearer_token_env": "TOK"}, {"TOK": SECRET})
    assert http.run(s, 3).success
    assert server.seen_auth == [f"Bearer {SECRET}"]
    assert SECRET not in repr(s)


def test_credentials_dropped_on_cross_site_redirect(base: str) -> None:
    for other in _serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler)):
        first = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        first.other_port = other.server_address[1]  # type: ignore[attr-defined]
        for srv in _serve(first):
            url = f"http://127.0.0.1:{srv.server_address[1]}/redirect-away"
            r = probe({"url": url, "bearer_token_env": "TOK"}, env={"TOK": SECRET})
            assert not r.success and r.cause == "HTTP 401"
            assert other.seen_auth == [""]


def test_each_call_opens_its_own_connection(server, base: str) -> None:
    """The thread's session is reused, its connections never: a keep-alive server sees
    one connection per call, whatever the call read."""
    calls = [
        {"url": f"{base}/ok", "body_matches": "ok"},
        {"url": f"{base}/ok"},
        {"url": f"{base}/ok", "method": "HEAD"},
        {"url": f"{base}/503"},
        {"url": f"{base}/hops/2"},  # four requests (2, 1, 0, /ok), four connections
    ]
    for raw in calls:
        probe(raw)
    assert server.connections == 4 + 4


def test_cookies_do_not_carry_over_between_calls(server, base: str) -> None:
    for _ in range(2):
        assert probe({"url": f"{base}/cookie"}).success
    assert server.seen_cookies == [None, None]


def test_describe_strips_userinfo() -> None:
    s = http.parse_settings({"url": "https://user:pw@intranet.example/health"}, {})
    assert http.describe(s) == "https://intranet.example/health"


# ------------------------------------------------------------------ TLS


def test_tls_untrusted(tls) -> None:
    url, _ = tls
    r = probe({"url": f"{url}/ok"})
    assert not r.success and r.cause == "TLS certificate not trusted"


def test_tls_with_ca_file_reports_expiry(tls, ca_file: str) -> None:
    url, cert = tls
    r = probe({"url": f"{url}/ok", "ca_file": ca_file})
    assert r.success, r.cause
    from cryptography import x509

    leaf = x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes())
    assert r.details["ssl_earliest_cert_expiry"] == leaf.not_valid_after_utc.timestamp()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_verify_off_still_reports_expiry(tls) -> None:
    url, _ = tls
    r = probe({"url": f"{url}/ok", "tls_verify": False})
    assert r.success, r.cause
    assert r.details["ssl_earliest_cert_expiry"] > time.time()


def test_tls_hostname_mismatch(ca: trustme.CA, ca_file: str) -> None:
    cert = ca.issue_cert("other.example")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    for s in _serve(srv):
        r = probe({"url": f"https://localhost:{s.server_address[1]}/ok", "ca_file": ca_file})
        assert not r.success and r.cause == "TLS hostname mismatch"


def test_tls_expired(ca: trustme.CA, ca_file: str) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    for url, _ in _tls_server(ca, not_before=past - dt.timedelta(days=30), not_after=past):
        r = probe({"url": f"{url}/ok", "ca_file": ca_file})
        assert not r.success and r.cause == "TLS certificate expired"


def test_cert_not_after_matches_cryptography(ca: trustme.CA) -> None:
    from cryptography import x509

    for when in (dt.datetime(2049, 12, 31, 23, 59, 59), dt.datetime(2051, 1, 2, 3, 4, 5)):
        leaf = ca.issue_cert("localhost", not_after=when.replace(tzinfo=dt.UTC))
        c = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
        der = c.public_bytes(serialization_der())
        assert cert_not_after(der) == c.not_valid_after_utc.timestamp()
    assert cert_not_after(b"\x30\x03junk") is None
    assert cert_not_after(b"") is None


def serialization_der():
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({}, "url"),
        ({"url": 5}, "url"),
        ({"url": "ftp://host/"}, "url"),
        ({"url": "http:///nohost"}, "url"),
        ({"url": "http://host:99999/"}, "url"),
        ({"url": "http://bad host/"}, "url"),
        ({"url": "http://x/", "method": "BREW"}, "method"),
        ({"url": "http://x/", "expect_status": ["2yy"]}, "expect_status"),
        ({"url": "http://x/", "expect_status": [700]}, "expect_status"),
        ({"url": "http://x/", "expect_status": []}, "expect_status"),
        ({"url": "http://x/", "body_matches": "("}, "body_matches"),
        ({"url": "http://x/", "body_not_matches": 3}, "body_not_matches"),
        ({"url": "http://x/", "tls_verify": "no"}, "tls_verify"),
        ({"url": "http://x/", "ca_file": "/nonexistent/ca.pem"}, "ca_file"),
        ({"url": "http://x/", "headers": ["a"]}, "headers"),
        ({"url": "http://x/", "headers": {"X": "a\nb"}}, "headers"),
        ({"url": "http://x/", "basic_auth": {"username": "u"}}, "basic_auth"),
        (
            {"url": "http://x/", "basic_auth": {"username": "u", "password_env": "NOPE"}},
            "basic_auth",
        ),
        ({"url": "http://x/", "bearer_token_file": "/nonexistent/tok"}, "bearer_token_file"),
        ({"url": "http://x/", "max_redirects": -1}, "max_redirects"),
        ({"url": "http://x/", "max_redirects": True}, "max_redirects"),
        ({"url": "http://x/", "follow_redirects": 1}, "follow_redirects"),
    ],
)
def test_bad_settings(raw: dict[str, object], key: str) -> None:
    with pytest.raises(SettingError) as info:
        http.parse_settings(raw, {})
    assert info.value.key.split(".")[0] == key


def test_missing_env_secret_message_names_variable_only() -> None:
    with pytest.raises(SettingError) as info:
        http.parse_settings({"url": "http://x/", "bearer_token_env": "API_TOKEN"}, {})
    assert "API_TOKEN" in info.value.message


def test_settings_defaults_and_status_forms() -> None:
    s = http.parse_settings({"url": "http://127.0.0.1:8080/x"}, {})
    assert (s.method, s.expect_status, s.max_redirects, s.follow_redirects) == (
        "GET",
        ((200, 399),),
        5,
        True,
    )
    s = http.parse_settings({"url": "http://x/", "expect_status": [200, "3xx", "400-404"]}, {})
    assert s.expect_status == ((200, 200), (300, 399), (400, 404))
    assert (
        http.describe(http.parse_settings({"url": "https://intranet/health"}, {}))
        == "https://intranet/health"
    )
