"""The daemon's HTTP endpoint: ``/metrics``, and at ``/`` a landing page linking it.

Other paths are 404, methods other than GET and HEAD are 405, and request
bodies are refused, so the endpoint offers nothing beyond reading metrics.
With a web config, connections must speak TLS (handshake in the connection's
own thread, with a deadline), requests must carry valid basic-auth
credentials, every response carries the configured headers, and a rate limit
answers 429. A client that hangs up is routine: one debug line, no traceback.
"""

from __future__ import annotations

import base64
import binascii
import logging
import socket
import ssl
import sys
import threading
import zlib
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from monitor.webconfig import WebConfig

log = logging.getLogger("availmon")

CONNECTION_TIMEOUT = 10.0  # seconds a client may take to send its request (slowloris)
INDEX = (
    b"<!doctype html><title>availmon</title><h1>availmon</h1>"
    b'<p><a href="/metrics">Metrics</a></p>\n'
)


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        body: Callable[[], Sequence[bytes]],
        content_type: str,
        web: WebConfig | None = None,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self._body = body
        self._rendering = threading.Lock()
        self.content_type = content_type
        self.web = web or WebConfig(None, None)

    def finish_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        """Runs in the connection's thread: a slow TLS handshake delays nobody else."""
        request.settimeout(CONNECTION_TIMEOUT)
        if self.web.tls is not None:
            try:
                request = self.web.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                request.close()  # plain HTTP or a bad certificate: no TLS, no answer
                return
            if not self.web.client_allowed(request.getpeercert()):
                request.close()  # client_allowed_sans: no SAN of its certificate is listed
                return
        super().finish_request(request, client_address)

    def handle_error(self, request: object, client_address: object) -> None:
        """socketserver prints tracebacks to stderr (the journal); a client that hangs up
        or stalls mid-request is no error of ours."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError | ssl.SSLError):
            log.debug("metrics client %s went away: %s", client_address, error)
        else:
            log.error("metrics request from %s failed", client_address, exc_info=True)

    def body(self) -> Sequence[bytes]:
        """One rendering at a time: concurrent scrapes (an HA pair of Prometheus servers)
        would each hold a whole body (~37 MB at 10,000 targets) at once."""
        with self._rendering:
            return self._body()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="metrics-http", daemon=True)
        thread.start()
        return thread


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer
    server_version = "availmon"
    sys_version = ""
    timeout = CONNECTION_TIMEOUT

    def end_headers(self) -> None:
        for name, value in self.server.web.headers.items():
            self.send_header(name, value)
        super().end_headers()

    def _admitted(self) -> bool:
        """The rate limit comes first, as in the toolkit: a refused request costs no bcrypt."""
        limiter = self.server.web.limiter
        if limiter is None or limiter.allow():
            return True
        self.send_error(429)
        return False

    def _authorised(self) -> bool:
        auth = self.server.web.auth
        if auth is None:
            return True
        scheme, _, encoded = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user = password = ""
            if auth.check(user, password):
                return True
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="availmon"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def _respond(self, status: int, body: Sequence[bytes], content_type: str, head: bool) -> None:
        """Send a body given in chunks, compressed chunk by chunk if the client asks:
        a 10,000-target body is ~37 MB, and never needs to exist as one copy."""
        self.send_response(status)
        if "gzip" in self.headers.get("Accept-Encoding", "") and sum(map(len, body)) > 4096:
            gzip = zlib.compressobj(1, zlib.DEFLATED, 31)  # wbits 31: the gzip format
            body = [*map(gzip.compress, body), gzip.flush()]
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(sum(map(len, body))))
        self.end_headers()
        if not head:
            for chunk in body:
                self.wfile.write(chunk)

    def _get(self, head: bool) -> None:
        if not self._admitted() or not self._authorised():
            return
        if self.headers.get("Content-Length", "0").strip() not in ("", "0"):
            self.send_error(413, "request bodies are not accepted")
            return
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._respond(200, self.server.body(), self.server.content_type, head)
        elif path == "/":
            self._respond(200, [INDEX], "text/html; charset=utf-8", head)
        else:
            self.send_error(404)

    def do_GET(self) -> None:
        self._get(head=False)

    def do_HEAD(self) -> None:
        self._get(head=True)

    def _refuse(self) -> None:
        if not self._admitted():
            return
        self.send_response(405)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

    def log_message(self, format: str, *args: object) -> None:
        pass  # one log line per scrape would drown the events that matter
