"""--web-config: TLS and basic auth on /metrics, with real certificates and real clients."""

from __future__ import annotations

import http.client
import socket

import bcrypt
import pytest
import requests
import trustme

from monitor import webconfig
from monitor.web import MetricsServer
from tests.support import availmon, free_port

BODY = b"availmon_build_info 1.0\n"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def write_web_config(
    tmp_path, ca: trustme.CA, *, users: dict[str, str] | None = None, client_auth: str | None = None
) -> str:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    lines = ["tls_server_config:", "  cert_file: server.pem", "  key_file: server.pem"]
    if client_auth:
        lines += ["  client_ca_file: ca.pem", f"  client_auth_type: {client_auth}"]
    if users:
        lines.append("basic_auth_users:")
        lines += [
            f"  {u}: '{bcrypt.hashpw(p.encode(), bcrypt.gensalt(4)).decode()}'"
            for u, p in users.items()
        ]
    path = tmp_path / "web.yml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture
def serve():
    servers = []

    def start(web: webconfig.WebConfig) -> str:
        srv = MetricsServer(("127.0.0.1", 0), lambda: [BODY], "text/plain", web)
        srv.start()
        servers.append(srv)
        return f"https://127.0.0.1:{srv.server_address[1]}/metrics"

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def test_tls_and_basic_auth(tmp_path, ca, serve):
    url = serve(webconfig.load(write_web_config(tmp_path, ca, users={"prom": "s3cret"})))
    verify = str(tmp_path / "ca.pem")
    ok = requests.get(url, auth=("prom", "s3cret"), verify=verify, timeout=5)
    assert ok.status_code == 200 and ok.content == BODY
    assert requests.get(url, auth=("prom", "wrong"), verify=verify, timeout=5).status_code == 401
    assert requests.get(url, auth=("nobody", "s3cret"), verify=verify, timeout=5).status_code == 401
    no_auth = requests.get(url, verify=verify, timeout=5)
    assert no_auth.status_code == 401 and "Basic" in no_auth.headers["WWW-Authenticate"]
    # Cached after the first bcrypt check, and still right:
    assert requests.get(url, auth=("prom", "s3cret"), verify=verify, timeout=5).status_code == 200


def test_plain_http_to_tls_port_is_refused(tmp_path, ca, serve):
    url = serve(webconfig.load(write_web_config(tmp_path, ca)))
    port = int(url.split(":")[2].split("/")[0])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected, OSError)):
        conn.request("GET", "/metrics")
        conn.getresponse()


def test_untrusted_client_view_of_server(tmp_path, ca, serve):
    url = serve(webconfig.load(write_web_config(tmp_path, ca)))
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url, timeout=5)  # the system CAs do not know our throwaway CA


def test_client_certificate_required(tmp_path, ca, serve):
    url = serve(
        webconfig.load(write_web_config(tmp_path, ca, client_auth="RequireAndVerifyClientCert"))
    )
    verify = str(tmp_path / "ca.pem")
    with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
        requests.get(url, verify=verify, timeout=5)
    client = ca.issue_cert("prometheus@example.org")
    client.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "client.pem"))
    ok = requests.get(url, verify=verify, cert=str(tmp_path / "client.pem"), timeout=5)
    assert ok.status_code == 200


def test_slow_handshake_does_not_block_other_clients(tmp_path, ca, serve):
    url = serve(webconfig.load(write_web_config(tmp_path, ca)))
    port = int(url.split(":")[2].split("/")[0])
    idle = socket.create_connection(("127.0.0.1", port))  # connects, never says hello
    try:
        assert requests.get(url, verify=str(tmp_path / "ca.pem"), timeout=5).status_code == 200
    finally:
        idle.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("tls_server_config: {cert_file: nope.pem, key_file: nope.pem}\n", "tls_server_config"),
        ("basic_auth_users: {prom: plaintext}\n", "basic_auth_users"),
        ("tls_server_config: {cert_file: a}\n", "missing one of key or key_file"),
        ("surprise: 1\n", "unknown key"),
        ("[1, 2]\n", "expected a mapping"),
    ],
)
def test_bad_web_config_is_one_line_exit_2(tmp_path, content, message):
    (tmp_path / "web.yml").write_text(content)
    (tmp_path / "targets.yaml").write_text(
        f"listen: 127.0.0.1:{free_port()}\ntargets: "
        "[{name: t, type: tcp, host: 127.0.0.1, port: 9}]\n"
    )
    result = availmon(
        *("run", "-c", tmp_path / "targets.yaml", "--db", tmp_path / "a.db"),
        *("--web-config", tmp_path / "web.yml"),
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("availmon: error: --web-config:") and message in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
