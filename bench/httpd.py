"""Tiny loopback HTTP servers for bench/load.py (run as a separate process).

Usage: python bench/httpd.py PORT [PORT ...]

Every server listens on 127.0.0.1 only. ``/ok/...`` answers 200 "ok", ``/fail/...``
answers 503, ``/flap/P/D/PHASE/...`` (seconds) answers 503 while
``(time.time() - PHASE) mod P < D`` and 200 "ok" otherwise (bench/soak.py's known flap
schedule), anything else 404. Connections are closed after each response (HTTP/1.0),
as availmon opens a fresh connection per probe. Prints "ready" once all are listening,
then serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def flap_down(path: str, now: float) -> bool:
    """For ``/flap/P/D/PHASE/...``: down during [k*P + PHASE, k*P + PHASE + D)."""
    period, down, phase = (float(x) for x in path.split("/")[2:5])
    return (now - phase) % period < down


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        now = time.time()
        if self.path.startswith("/ok"):
            status, body = 200, b"ok\n"
        elif self.path.startswith("/flap/"):
            try:
                down = flap_down(self.path, now)
            except (ValueError, IndexError):
                status, body = 404, b"bad flap path\n"
            else:
                status, body = (503, b"flapping: down\n") if down else (200, b"ok\n")
        elif self.path.startswith("/fail"):
            status, body = 503, b"unavailable\n"
        else:
            status, body = 404, b"not found\n"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args: object) -> None:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def main() -> None:
    ports = [int(p) for p in sys.argv[1:]]
    servers = [Server(("127.0.0.1", port), Handler) for port in ports]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait(24 * 3600)  # bounded even if nobody stops us
    for server in servers:
        server.shutdown()


if __name__ == "__main__":
    main()
