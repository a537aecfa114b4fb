"""The daemon's HTTP endpoint: ``/metrics`` and nothing else.

Unknown paths are 404, methods other than GET and HEAD are 405, and request
bodies are refused, so the endpoint offers nothing beyond reading metrics.
"""

from __future__ import annotations

import gzip
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger("availmon")

INDEX = (b"<!doctype html><title>availmon</title><h1>availmon</h1>"
         b'<p><a href="/metrics">Metrics</a></p>\n')


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], body: Callable[[], bytes],
                 content_type: str) -> None:
        super().__init__(address, _Handler)
        self.body = body
        self.content_type = content_type

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="metrics-http", daemon=True)
        thread.start()
        return thread


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer
    server_version = "availmon"
    sys_version = ""

    def _respond(self, status: int, body: bytes, content_type: str, head: bool) -> None:
        self.send_response(status)
        if "gzip" in self.headers.get("Accept-Encoding", "") and len(body) > 4096:
            body = gzip.compress(body, compresslevel=1)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _get(self, head: bool) -> None:
        if int(self.headers.get("Content-Length") or 0) > 0:
            self.send_error(413, "request bodies are not accepted")
            return
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._respond(200, self.server.body(), self.server.content_type, head)
        elif path == "/":
            self._respond(200, INDEX, "text/html; charset=utf-8", head)
        else:
            self.send_error(404)

    def do_GET(self) -> None:
        self._get(head=False)

    def do_HEAD(self) -> None:
        self._get(head=True)

    def _refuse(self) -> None:
        self.send_response(405)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

    def log_message(self, format: str, *args: object) -> None:
        pass  # one log line per scrape would drown the events that matter
