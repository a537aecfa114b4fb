"""The metrics endpoint serves /metrics and refuses everything else."""

from __future__ import annotations

import gzip
import http.client

import pytest

from monitor.web import MetricsServer


@pytest.fixture
def server():
    srv = MetricsServer(("127.0.0.1", 0), lambda: [b"availmon_up 1.0\n" * 1000],
                        "text/plain; version=0.0.4")
    srv.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def request(port: int, method: str, path: str, headers: dict[str, str] | None = None,
            body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), data


def test_metrics_get_and_head(server):
    status, headers, body = request(server, "GET", "/metrics")
    assert status == 200 and body.startswith(b"availmon_up 1.0\n")
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    status, headers, body = request(server, "HEAD", "/metrics")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0


def test_gzip_when_asked(server):
    status, headers, body = request(server, "GET", "/metrics", {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == b"availmon_up 1.0\n" * 1000


@pytest.mark.parametrize("path", ["/metricsx", "/../etc/passwd", "/metrics/", "/favicon.ico"])
def test_unknown_paths_404(server, path):
    assert request(server, "GET", path)[0] == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_refused(server, method):
    status, headers, _ = request(server, method, "/metrics")
    assert status == 405 and headers["Allow"] == "GET, HEAD"


def test_request_body_refused(server):
    assert request(server, "GET", "/metrics", body=b"x" * 10)[0] == 413
