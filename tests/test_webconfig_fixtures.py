"""--web-config against exporter-toolkit's own fixtures (tests/webconfig_fixtures, see its
README): every ``.good`` file loads, every ``.bad`` one is refused in one line, and the TLS
settings behave as the toolkit's server tests expect, with real handshakes."""

from __future__ import annotations

import http.client
import shutil
import ssl
from pathlib import Path

import pytest
import trustme

from monitor import webconfig
from monitor.web import MetricsServer
from tests.support import FakeClock

FIXTURES = Path(__file__).parent / "webconfig_fixtures"
NAMES = sorted(p.name for p in FIXTURES.iterdir() if p.suffix in (".yml", ".yaml"))
# Files whose names do not say whether the file loads: what the toolkit's tests expect.
UNMARKED = {
    # A valid file whose client is refused at the handshake (test_client_allowed_sans):
    "web_config_auth_client_san.bad.yaml": True,
    "web_config_empty.yml": True,
    "web_config_junk.yml": False,
    "web_config_junk_key.yml": False,
    "web_config_rate_limiter_nonblocking.yaml": True,
    "web_config_rate_limiter_one_second.yaml": True,
}
BODY = b"availmon_build_info 1.0\n"


class Certs:
    """The files the fixtures name, made fresh: server.crt/.key from one CA (its certificate
    is tls-ca-chain.pem), and two client CAs standing for client_selfsigned.pem and
    client2_selfsigned.pem, with a client certificate from each."""

    def __init__(self, where: Path) -> None:
        self.dir = where
        server_ca, self.client_ca, self.client2_ca = trustme.CA(), trustme.CA(), trustme.CA()
        # RSA like the toolkit's server.crt, for its TLS_ECDHE_RSA_* cipher fixtures:
        server = server_ca.issue_cert("localhost", "127.0.0.1", key_type=trustme.KeyType.RSA)
        server.cert_chain_pems[0].write_to_path(str(where / "server.crt"))
        server.private_key_pem.write_to_path(str(where / "server.key"))
        server_ca.cert_pem.write_to_path(str(where / "tls-ca-chain.pem"))
        self.client_ca.cert_pem.write_to_path(str(where / "client_selfsigned.pem"))
        self.client2_ca.cert_pem.write_to_path(str(where / "client2_selfsigned.pem"))
        (where / "tls-ca-chain-invalid.pem").write_text(
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
        )
        self.client_ca.issue_cert(
            "client.example.org"
        ).private_key_and_cert_chain_pem.write_to_path(str(where / "client.pem"))
        self.client2_ca.issue_cert("test1", "test3").private_key_and_cert_chain_pem.write_to_path(
            str(where / "client2.pem")
        )
        inline = where / "web_config_noAuth_tlsInline.good.yml"
        text = inline.read_text()
        for name in ("server.crt", "server.key"):
            pem = (where / name).read_text().strip().replace("\n", "\n    ")
            text = text.replace(f"@{name}@", pem)
        inline.write_text(text)

    def client(self, cert: str | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.dir / "tls-ca-chain.pem"))
        if cert:
            context.load_cert_chain(str(self.dir / cert))
        return context


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Certs:
    where = tmp_path_factory.mktemp("fixtures")
    for name in NAMES:
        shutil.copy(FIXTURES / name, where / name)
    return Certs(where)


@pytest.fixture
def serve(certs):
    servers = []

    def start(name: str) -> int:
        srv = MetricsServer(
            ("127.0.0.1", 0), lambda: [BODY], "text/plain", webconfig.load(str(certs.dir / name))
        )
        srv.start()
        servers.append(srv)
        return srv.server_address[1]

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def get(port: int, context: ssl.SSLContext | None = None, **kwargs) -> http.client.HTTPResponse:
    conn: http.client.HTTPConnection
    if context is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=context)
    conn.request("GET", kwargs.get("path", "/metrics"), headers=kwargs.get("headers", {}))
    cipher = conn.sock.cipher() if context else None  # type: ignore[union-attr]
    resp = conn.getresponse()
    resp.read()
    resp.cipher = cipher  # type: ignore[attr-defined]
    conn.close()
    return resp


REFUSED = (ssl.SSLError, OSError, http.client.HTTPException)


def test_every_fixture_has_an_expectation():
    assert len(NAMES) >= 40
    for name in NAMES:
        assert ".good" in name or ".bad" in name or name in UNMARKED, name


@pytest.mark.parametrize("name", NAMES)
def test_fixture_loads_or_is_refused_as_the_toolkit_does(certs, name):
    good = UNMARKED.get(name, ".good" in name)
    if good:
        webconfig.load(str(certs.dir / name))
    else:
        with pytest.raises(webconfig.WebConfigError) as refused:
            webconfig.load(str(certs.dir / name))
        assert "\n" not in str(refused.value) and str(refused.value).startswith(str(certs.dir))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("web_config_noAuth.bad.yml", "without a Client Auth Policy"),
        ("web_config_noAuth_certPath_empty.bad.yml", "missing one of cert or cert_file"),
        ("web_config_noAuth_key_empty.bad.yml", "missing one of key or key_file"),
        ("web_config_auth_clientCAs_invalid.bad.yml", "somefile: no such file"),
        ("web_config_auth_clientCAs_nocerts.bad.yml", "client_ca_file: no usable PEM data"),
        ("web_config_auth_clientCAsText_nocerts.bad.yml", "client_ca: no usable PEM data"),
        ("web_config_noAuth_certPath_keyPath_invalid.bad.yml", "somefile: no such file"),
        ("web_config_noAuth_inventedCiphers.bad.yml", "unknown cipher"),
        ("web_config_noAuth_inventedCurves.bad.yml", "unknown curve"),
        ("web_config_noAuth_wrongTLSVersion.bad.yml", "unknown TLS version"),
        ("web_config_noAuth_noHTTP2Cipher.bad.yml", "HTTP/2-required"),
        ("web_config_headers_extra_header.bad.yml", "Content-Type: unknown key"),
        ("web_config_headers_frame_options.bad.yml", "invalid value for X-Frame-Options"),
        ("web_config_junk_key.yml", "cert_filse: unknown key"),
        ("web_config_auth_client_san_optional_cert.bad.yaml", "client_allowed_sans requires"),
    ],
)
def test_refusals_say_why(certs, name, message):
    with pytest.raises(webconfig.WebConfigError, match=message):
        webconfig.load(str(certs.dir / name))


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated")
def test_verify_client_cert_if_given_without_ca_uses_system_roots(certs, serve):
    port = serve("web_config_noAuth.good.yml")
    assert get(port, certs.client()).status == 200  # no certificate: fine
    with pytest.raises(REFUSED):  # a certificate no system root vouches for: refused
        get(port, certs.client("client.pem"))
    old = certs.client()
    old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(REFUSED):
        get(port, old)


def test_inline_cert_and_key(certs, serve):
    assert get(serve("web_config_noAuth_tlsInline.good.yml"), certs.client()).status == 200


def client_with(certs: Certs, ciphers: str) -> ssl.SSLContext:
    context = certs.client()
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(ciphers)
    return context


AES128, AES256 = "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384"


def test_cipher_suites_and_server_preference(certs, serve):
    port = serve("web_config_noAuth_someCiphers.good.yml")
    with pytest.raises(REFUSED):
        get(port, client_with(certs, "ECDHE-RSA-AES256-SHA"))  # no common cipher
    assert get(port, client_with(certs, f"{AES128}:{AES256}")).cipher[0] == AES128
    assert get(port, client_with(certs, f"{AES256}:{AES128}")).cipher[0] == AES128  # server's
    port = serve("web_config_noAuth_someCiphers_noOrder.good.yml")
    assert get(port, client_with(certs, f"{AES128}:{AES256}")).cipher[0] == AES128
    assert get(port, client_with(certs, f"{AES256}:{AES128}")).cipher[0] == AES256  # client's


def test_a_single_curve_is_enforced(certs, serve):
    port = serve("web_config_noAuth_someCurves.good.yml")
    p384, p521 = certs.client(), certs.client()
    p384.set_ecdh_curve("secp384r1")
    p521.set_ecdh_curve("secp521r1")
    with pytest.raises(REFUSED):
        get(port, p384)
    assert get(port, p521).status == 200
    assert get(serve("web_config_noAuth_allCurves.good.yml"), p384).status == 200


def test_client_certificate_required_and_verified(certs, serve):
    port = serve("tls_config_noAuth.requireandverifyclientcert.good.yml")
    with pytest.raises(REFUSED):
        get(port, certs.client())
    with pytest.raises(REFUSED):
        get(port, certs.client("client2.pem"))  # from a CA the server does not trust
    assert get(port, certs.client("client.pem")).status == 200


def test_client_allowed_sans(certs, serve):
    assert (
        get(serve("web_config_auth_client_san.good.yaml"), certs.client("client2.pem")).status
        == 200
    )
    with pytest.raises(REFUSED):
        get(serve("web_config_auth_client_san.bad.yaml"), certs.client("client2.pem"))


def test_allowed_sans_compare_ip_addresses_as_go_prints_them():
    web = webconfig.WebConfig(None, None, client_allowed_sans=frozenset({"::1", "a@b.org"}))
    assert web.client_allowed({"subjectAltName": (("IP Address", "0:0:0:0:0:0:0:1\n"),)})
    assert web.client_allowed({"subjectAltName": (("email", "a@b.org"),)})
    assert not web.client_allowed({"subjectAltName": (("DNS", "::2"),)})
    assert not web.client_allowed({})


def test_headers_on_every_response(certs, serve):
    port = serve("web_config_headers.good.yml")
    for path, status in (("/metrics", 200), ("/nope", 404)):
        resp = get(port, path=path)
        assert resp.status == status
        assert resp.getheader("X-Frame-Options") == "deny"
        assert resp.getheader("X-XSS-Protection") == "1"
        assert resp.getheader("Content-Security-Policy") == "default-src 'self' *.test.example.net"


def test_rate_limit_fixtures(certs, serve):
    assert get(serve("web_config_rate_limiter_one_second.yaml")).status == 429  # burst 0
    port = serve("web_config_rate_limiter_nonblocking.yaml")
    assert [get(port).status for _ in range(10)] == [200] * 10


def test_rate_limiter_is_a_token_bucket():
    clock = FakeClock(1000.0)
    limiter = webconfig.RateLimiter(interval=2.0, burst=2, clock=clock.time)
    assert [limiter.allow() for _ in range(3)] == [True, True, False]
    clock.advance(1.0)
    assert not limiter.allow()
    clock.advance(1.0)
    assert limiter.allow() and not limiter.allow()
    clock.advance(100.0)  # refills only up to the burst
    assert [limiter.allow() for _ in range(3)] == [True, True, False]


def test_basic_auth_without_tls(certs, serve):
    port = serve("web_config_users_noTLS.good.yml")
    assert get(port).status == 401
    auth = {"Authorization": "Basic ZGF2ZTpkYXZlMTIz"}  # dave:dave123, the toolkit's test user
    assert get(port, headers=auth).status == 200
