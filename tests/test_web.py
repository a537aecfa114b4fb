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


def test_landing_page_links_metrics(server):
    status, headers, body = request(server, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'href="/metrics"' in body
    status, headers, body = request(server, "HEAD", "/")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0


def test_client_hanging_up_mid_response_is_one_debug_line(caplog, capfd):
    """A scrape cut off mid-body (Prometheus timing out, a load balancer resetting) is
    routine: no traceback on stderr (the journal) or in the log."""
    import logging
    import socket
    import struct
    import time

    caplog.set_level(logging.DEBUG, logger="availmon")
    srv = MetricsServer(("127.0.0.1", 0), lambda: [b"x" * (1 << 20)] * 32, "text/plain")
    srv.start()
    try:
        for _ in range(3):
            sock = socket.create_connection(srv.server_address, timeout=5)
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.recv(1000)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # a reset, with most of the 32 MB body unsent
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(caplog.records) < 3:
            time.sleep(0.05)
    finally:
        srv.shutdown()
        srv.server_close()
    assert [r.levelno for r in caplog.records] == [logging.DEBUG] * 3
    assert all("went away" in r.getMessage() and not r.exc_info for r in caplog.records)
    assert "Traceback" not in capfd.readouterr().err
