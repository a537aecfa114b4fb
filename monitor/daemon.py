"""The long-running process: wiring, signals, systemd notification.

SIGTERM/SIGINT stop probing, close coverage and exit within seconds; SIGHUP
reloads targets.yaml, keeping the running config when the new one is invalid.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from monitor import config as config_mod
from monitor.metrics import CONTENT_TYPE, DaemonStatus, build_registry, exposition
from monitor.probes import probe_type
from monitor.runner import Runner, clock_step
from monitor.store import open_store
from monitor.web import MetricsServer
from monitor.webconfig import WebConfig

log = logging.getLogger("availmon")


class DaemonError(Exception):
    """The daemon cannot start; the message is one line for the user."""


def sd_notify(message: str) -> None:
    """Tell systemd about our state (no-op outside a Type=notify unit)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("sd_notify failed: %s", exc)


def tune_malloc() -> bool:
    """Keep glibc's malloc from drifting into fragmentation under big scrapes.

    glibc serves blocks from 128 KiB up with their own mmap and unmaps them on free --
    until the first such block is freed, when it raises that threshold (up to 32 MiB) and
    serves later multi-MB buffers (a scrape's family texts, its gzip output) from the
    heap, which fragments and never shrinks: RSS rose ~80 MB over 20 scrapes at 10,000
    targets, and by steps of ~20 MB through a soak. Setting the threshold explicitly
    disables that adjustment, and two arenas (not 8 per core) stop each scrape's thread
    from growing a heap of its own; under the GIL threads gain nothing from more
    (mallopt(3); figures in BENCHMARKS.md). False where the C library is not glibc.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, 128 * 1024)) and bool(mallopt(M_ARENA_MAX, 2))


M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8  # glibc's <malloc.h>


def check_probe_types(config: config_mod.Config) -> None:
    """Refuse to start when a configured probe type cannot work on this machine."""
    settings_by_type: dict[str, list[Any]] = {}
    for t in config.targets:
        settings_by_type.setdefault(t.type, []).append(t.settings)
    for type_name, settings in settings_by_type.items():
        probe_type(type_name).check_setup(settings)


class Daemon:
    def __init__(
        self,
        load: Callable[[], config_mod.Config],
        config: config_mod.Config,
        db_path: str,
        listen: tuple[str, int],
        web: WebConfig | None = None,
    ) -> None:
        self.load = load  # re-reads targets.yaml (cut to this instance's shard) on SIGHUP
        # A write that waits long on a lock held elsewhere is held back and retried rather
        # than stalling the probes (WAL readers, such as reports, never block it).
        self.db_path = db_path
        self.store = open_store(db_path, busy_timeout=2.0)
        self.store.lock_exclusive()
        check_probe_types(config)
        self.runner = Runner(config, self.store)
        self.status = DaemonStatus(True, time.time())
        self.listen = listen
        self.web = web
        self._stop = threading.Event()
        self._reload = threading.Event()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self._reload.set()
        else:
            self._stop.set()

    def reload(self) -> None:
        sd_notify("RELOADING=1")
        try:
            config = self.load()
            check_probe_types(config)
        except config_mod.ConfigError as exc:
            self.status.reload_successful = False
            for line in exc.problems:
                log.error("reload failed, keeping the running config: %s", line)
        except Exception as exc:  # e.g. ProbeSetupError: keep running on the old config
            self.status.reload_successful = False
            log.error("reload failed, keeping the running config: %s", exc)
        else:
            self.runner.reload(config)
            self.status.reload_successful = True
            self.status.reload_success_timestamp = time.time()
        sd_notify("READY=1")

    def serve(self) -> int:
        tune_malloc()
        host, port = self.listen
        registry = build_registry(self.runner, self.status)
        try:
            server = MetricsServer(
                (host, port), lambda: exposition(self.runner, registry), CONTENT_TYPE, self.web
            )
        except OSError as exc:
            raise DaemonError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        server.start()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        self.runner.start()
        config = self.runner.config
        scheme = "https" if self.web is not None and self.web.tls is not None else "http"
        log.info(
            "availmon started: %d targets, metrics on %s://%s:%d/metrics, database %s",
            len(config.targets),
            scheme,
            host,
            port,
            self.db_path,
        )
        sd_notify("READY=1")
        watchdog = int(os.environ.get("WATCHDOG_USEC", "0")) / 1e6
        tick = min(1.0, watchdog / 2) if watchdog else 1.0
        offset = time.time() - time.monotonic()
        while not self._stop.wait(tick):
            wall, mono = time.time(), time.monotonic()
            step = clock_step(offset, wall, mono)
            offset = wall - mono
            if step is not None:
                self.runner.on_clock_step(step)
            if self._reload.is_set():
                self._reload.clear()
                self.reload()
            if watchdog and self.runner.healthy():
                sd_notify("WATCHDOG=1")
        sd_notify("STOPPING=1")
        log.info("stopping")
        self.runner.stop()
        server.shutdown()
        server.server_close()
        self.store.close()
        return 0
