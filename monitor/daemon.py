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
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import FrameType
from typing import Any

from prometheus_client.core import Metric

from monitor import config as config_mod
from monitor import probes
from monitor.clock import Clock, SystemClock
from monitor.figures.fleet import FleetFigures
from monitor.figures.totals import RunningTotals, Snapshot, current_periods
from monitor.metrics import CONTENT_TYPE, DaemonStatus, build_registry, exposition
from monitor.recording.outages import CoverageChange, OutageWriter, StoreHealth
from monitor.recording.recorder import IsolationStatus, Recorder, TargetStatus
from monitor.reload import diff_targets
from monitor.scheduling import PROBE_WORKERS, ProbeScheduler, clock_step
from monitor.store import Store, StoreError, is_url, open_store, shown
from monitor.web import MetricsServer
from monitor.webconfig import WebConfig

log = logging.getLogger("availmon")

TOTALS_EVERY = 5.0  # seconds between checks for corrections, period ends and folding


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
        probes.probe_type(type_name).check_setup(settings)


class Monitor:
    """The monitoring parts wired together: the scheduler begins probes, the recorder
    applies their results and the outage writer commits them; coverage and the live
    figures' running totals follow. Read by /metrics as ``metrics.Monitored``."""

    def __init__(
        self,
        config: config_mod.Config,
        store: Store,
        clock: Clock | None = None,
        workers: int = PROBE_WORKERS,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock or SystemClock()
        self.writer = OutageWriter(store)
        self.recorder = Recorder(store, self.writer, self._check_parents)
        self.scheduler = ProbeScheduler(config, self.clock, self.recorder.record, workers)
        self.totals = RunningTotals(store)
        self._totals_stale = False  # a reload could not rebuild them: the next upkeep will
        self._stopped = False

    # -- what /metrics reads ---------------------------------------------

    @property
    def status(self) -> Mapping[str, TargetStatus]:
        return self.recorder.status

    def store_health(self) -> StoreHealth:
        return self.writer.health()

    def lateness(self) -> Iterable[Metric]:
        return self.scheduler.lateness()

    def live_figures(self, now: float) -> Snapshot | None:
        """None (no figure series this scrape) while the database cannot be read: the rest
        of /metrics, probe results and the store's health included, goes on."""
        try:
            return self.totals.snapshot(self.config, now)
        except StoreError as exc:
            log.error("live figures left out of /metrics: %s", exc)
            return None

    def isolation(self) -> IsolationStatus:
        return self.recorder.isolation()

    def _check_parents(
        self, parents: Sequence[config_mod.Target], then: Callable[[], None]
    ) -> None:
        """Probe ``parents`` now, on the pool, record their results, then call ``then``
        (the recorder deciding whether a failing child is unreachable)."""

        def job() -> None:
            try:
                for parent in parents:
                    at = self.clock.time()
                    result = probes.probe_once(parent.type, parent.settings, parent.timeout)
                    self.recorder.record(parent.name, result, at)
            finally:
                then()

        self.scheduler.submit(job)

    # -- lifecycle -------------------------------------------------------

    def resume(self) -> None:
        """Load state from the store: carried-over outages, counters, fresh coverage."""
        now = self.clock.time()
        self.store.close_stale_coverage()
        periods = current_periods(self.config, now).values()
        self.recorder.resume(self.config, now, min(p.start for p in periods))
        for target in self.config.targets:
            self.scheduler.add(target)
        self.store.begin_coverage(
            ((t.name, t.probe_outside_hours) for t in self.config.targets), now
        )
        self.totals.rebuild(self.config, now)

    def start(self) -> None:
        """Resume from the store and start probing on schedule."""
        self.resume()
        self.scheduler.start(
            [
                ("heartbeat", self.heartbeat, self.config.heartbeat),
                ("totals", self.maintain_totals, TOTALS_EVERY),
            ]
        )

    def on_clock_step(self, step: float) -> None:
        self.scheduler.on_clock_step(step)

    def stop(self) -> None:
        """Stop probing and close coverage; results still in flight are dropped."""
        self._stopped = True
        self.recorder.stop()
        self.scheduler.stop()
        try:
            self.store.end_coverage(None, self.clock.time())
        except StoreError as exc:  # the next start ends them at the last heartbeat
            log.error("coverage left open: %s", exc)

    def healthy(self) -> bool:
        return self.scheduler.running() and not self._stopped

    def heartbeat(self) -> None:
        """Extend coverage to now, and retry any outage changes held back by store errors."""
        self.writer.heartbeat(self.clock.time())

    def maintain_totals(self) -> None:
        """Keep the live figures' running totals current (corrections apply within seconds)."""
        try:
            if self._totals_stale:
                self.heartbeat()
                self.totals.rebuild(self.config, self.clock.time())
                self._totals_stale = False
            else:
                self.totals.maintain(self.config, self.clock.time(), before_rebuild=self.heartbeat)
        except StoreError as exc:
            log.error("live figures not refreshed: %s", exc)

    def reload(self, config: config_mod.Config) -> None:
        """Swap in a new config: added, removed and changed targets start/stop cleanly."""
        now = self.clock.time()
        self.heartbeat()
        changes = diff_targets(self.config, config)
        removed, changed, added = changes
        self.config = config
        # The recorder first: it knows a target before its first probe, and forgets it
        # before its last (whose result is then dropped).
        self.recorder.reload(config, changes, now)
        self.scheduler.reload(config, changes)
        # Through the writer, so a database away meanwhile (PostgreSQL restarting) holds
        # them in order with the outage changes, as it does those.
        self.writer.persist(
            CoverageChange(
                now,
                (*removed, *(t.name for t in changed)),
                tuple((t.name, t.probe_outside_hours) for t in (*changed, *added)),
            )
        )
        self._totals_stale = True
        self.maintain_totals()
        log.info(
            "config reloaded: %d targets (%d added, %d removed, %d changed)",
            len(config.targets),
            len(added),
            len(removed),
            len(changed),
        )


class Daemon:
    def __init__(
        self,
        load: Callable[[], config_mod.Config],
        config: config_mod.Config,
        db_path: str,
        listen: tuple[str, int],
        web: WebConfig | None = None,
        instance: str = "",
        vantage: str = "",
        load_fleet: Callable[[], config_mod.Config] | None = None,
    ) -> None:
        self.load = load  # re-reads targets.yaml (cut to this instance's shard) on SIGHUP
        self.load_fleet = load_fleet  # --fleet-figures: the whole file, every shard's targets
        # A write that waits long on a lock held elsewhere is held back and retried rather
        # than stalling the probes (WAL readers, such as reports, never block it).
        check_probe_types(config)  # first: a start refused for this creates no database
        # Logged: say exactly which file (or server) it writes; a URL is logged without
        # its password (``shown``), and only a file can be new.
        self.db_path = db_path if is_url(db_path) else os.path.abspath(db_path)
        first_start = not is_url(db_path) and not os.path.exists(self.db_path)
        instance = instance or socket.gethostname()
        self.store = open_store(
            self.db_path, busy_timeout=2.0, instance=instance, vantage=vantage or instance
        )
        if first_start:
            log.info("created a new database at %s (first start)", self.db_path)
        adopted = self.store.claim_instance()
        if adopted:
            log.info(
                "instance %s adopted %d rows of history written before instances had names",
                instance,
                adopted,
            )
        self.monitor = Monitor(config, self.store)
        self.fleet = (
            FleetFigures(self.store, load_fleet(), self.monitor.clock) if load_fleet else None
        )
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
            fleet = self.load_fleet() if self.load_fleet else None
        except config_mod.ConfigError as exc:
            self.status.reload_successful = False
            for line in exc.problems:
                log.error("reload failed, keeping the running config: %s", line)
        except Exception as exc:  # e.g. ProbeSetupError: keep running on the old config
            self.status.reload_successful = False
            log.error("reload failed, keeping the running config: %s", exc)
        else:
            self.monitor.reload(config)
            if self.fleet is not None and fleet is not None:
                self.fleet.reload(fleet)
            self.status.reload_successful = True
            self.status.reload_success_timestamp = time.time()
        sd_notify("READY=1")

    def serve(self) -> int:
        tune_malloc()
        host, port = self.listen
        registry = build_registry(self.monitor, self.status)
        try:
            server = MetricsServer(
                (host, port),
                lambda: exposition(
                    self.monitor, registry, None if self.fleet is None else self.fleet.view()
                ),
                CONTENT_TYPE,
                self.web,
            )
        except OSError as exc:
            raise DaemonError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        server.start()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        self.monitor.start()
        if self.fleet is not None:
            self.fleet.start()
        config = self.monitor.config
        scheme = "https" if self.web is not None and self.web.tls is not None else "http"
        log.info(
            "availmon started: instance %s (vantage %s), %d targets, metrics on "
            "%s://%s:%d/metrics, database %s",
            self.store.instance,
            self.store.vantage,
            len(config.targets),
            scheme,
            host,
            port,
            shown(self.db_path),
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
                self.monitor.on_clock_step(step)
            if self._reload.is_set():
                self._reload.clear()
                self.reload()
            if watchdog and self.monitor.healthy():
                sd_notify("WATCHDOG=1")
        sd_notify("STOPPING=1")
        log.info("stopping")
        self.monitor.stop()
        if self.fleet is not None:
            self.fleet.stop()
        server.shutdown()
        server.server_close()
        self.store.close()
        return 0
