"""The metrics endpoint serves /metrics and refuses everything else."""

from __future__ import annotations

import gzip
import http.client

import pytest

from monitor.web import MetricsServer


@pytest.fixture
def server():
    srv = MetricsServer(
        ("127.0.0.1", 0), lambda: [b"availmon_up 1.0\n" * 1000], "text/plain; version=0.0.4"
    )
    srv.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
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


def test_concurrent_scrapes_render_one_at_a_time_and_chunks_join():
    """Two Prometheus servers scraping at once must not hold two bodies at once."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    active, most = 0, 0
    lock = threading.Lock()

    def body() -> list[bytes]:
        nonlocal active, most
        with lock:
            active += 1
            most = max(most, active)
        time.sleep(0.05)  # a slow render, so that the scrapes overlap
        with lock:
            active -= 1
        return [b"a 1.0\n" * 1000, b"b 2.0\n" * 1000]

    srv = MetricsServer(("127.0.0.1", 0), body, "text/plain; version=0.0.4")
    srv.start()
    try:
        port = srv.server_address[1]
        with ThreadPoolExecutor(4) as pool:
            answers = list(
                pool.map(
                    lambda enc: request(port, "GET", "/metrics", {"Accept-Encoding": enc}),
                    ["gzip", "identity", "gzip", "identity"],
                )
            )
    finally:
        srv.shutdown()
        srv.server_close()
    assert most == 1
    expected = b"a 1.0\n" * 1000 + b"b 2.0\n" * 1000
    for status, headers, data in answers:
        if headers.get("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
        assert status == 200 and data == expected
