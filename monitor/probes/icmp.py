"""ICMP echo probe built on icmplib's sockets.

Privileged mode (raw socket, needs root or CAP_NET_RAW) or unprivileged mode (datagram
ICMP socket, needs the process's group inside ``net.ipv4.ping_group_range``) is detected
once per process by ``detect_privileged()`` and cached; ``Settings.privileged`` may pin
it (None means "use the detected mode"). ``check_setup`` calls ``detect_privileged()``
before the daemon starts, so a machine that cannot ping at all fails loudly, once.

We drive icmplib's ``ICMPv4Socket``/``ICMPv6Socket`` ourselves rather than calling
``icmplib.ping``, which opens a socket per call: a raw socket sees *all* ICMP traffic on
the host, so with N probes in flight every packet was parsed N times (measured: 1.6 ms
of CPU per probe alone, 14 ms with 64 in flight; BENCHMARKS.md). Instead one socket per
(address family, mode) is shared by all probes, and one engine thread sends every
probe's echoes on time, parses each packet once and matches it to its probe by sequence
number: no thread waits per probe (``begin`` returns at once; ``run`` waits for the
result, for the CLI and tests). Sequence numbers are allocated process-wide, so they
identify a request even on datagram sockets, where the kernel rewrites the identifier;
replies are still checked against the request's identifier and, for echo replies on raw
sockets, its source address.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import logging
import queue
import re
import select
import socket
import struct
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from icmplib import ICMPRequest, ICMPv4Socket, ICMPv6Socket
from icmplib.exceptions import ICMPLibError, SocketPermissionError
from icmplib.models import ICMPReply
from icmplib.utils import unique_identifier

from monitor.probes import _common
from monitor.probes._common import show
from monitor.probes.base import (
    DetailMetric,
    Done,
    EventDrivenProbeType,
    ProbeResult,
    ProbeSetupError,
    ProbeType,
    SettingError,
)

KEYS: frozenset[str] = frozenset({"host", "count", "max_loss"})

_MAX_COUNT = 100
_SEND_INTERVAL = 0.2  # seconds between echo requests, shortened for short timeouts

# ICMP types: (echo reply, destination unreachable, time exceeded)
_V4_TYPES = (0, 3, 11)
_V6_TYPES = (129, 1, 3)


@dataclass(frozen=True)
class Settings:
    """What to ping and when to call it up.

    ``max_loss`` None means "up if at least one reply arrived".
    """

    host: str
    count: int = 3
    max_loss: float | None = None
    privileged: bool | None = None


def _parse_max_loss(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise SettingError(
            "max_loss", f"'max_loss' must be a ratio 0..1 or a percentage, got {show(value)}"
        )
    ratio: float
    if isinstance(value, int | float):
        ratio = float(value) if not isinstance(value, int) or abs(value) < 2**64 else 2.0
    elif isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*%\s*", value):
        ratio = float(value.strip().rstrip("%").strip()) / 100
    else:
        raise SettingError(
            "max_loss", f"'max_loss' must be a ratio 0..1 or a percentage, got {show(value)}"
        )
    if not 0 <= ratio <= 1:  # also rejects NaN
        raise SettingError(
            "max_loss", f"'max_loss' must be between 0 and 1 (0% and 100%), got {show(value)}"
        )
    return ratio


def parse_settings(raw: Mapping[str, Any], env: Mapping[str, str]) -> Settings:
    """Validate an icmp target's keys (host syntax only, not resolved): ``SettingError`` if bad."""
    host = _common.get_host(raw)
    count = _common.get_int(raw, "count", 3, minimum=1, maximum=_MAX_COUNT)
    max_loss = _parse_max_loss(raw.get("max_loss"))
    return Settings(host=host, count=count, max_loss=max_loss)


def describe(settings: Settings) -> str:
    """The host as configured."""
    return settings.host


_mode_lock = threading.Lock()
_detected: bool | None = None


def detect_privileged() -> bool:
    """True if raw ICMP sockets work, False if only datagram ICMP sockets do.

    Raises ``ProbeSetupError`` when neither works. The result is cached per process.
    """
    global _detected
    with _mode_lock:
        if _detected is not None:
            return _detected
        for privileged, kind in ((True, socket.SOCK_RAW), (False, socket.SOCK_DGRAM)):
            try:
                socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP).close()
            except OSError:
                continue
            _detected = privileged
            return privileged
        raise ProbeSetupError(
            "cannot open an ICMP socket: run as root or grant CAP_NET_RAW, or put this "
            "process's group inside sysctl net.ipv4.ping_group_range"
        )


log = logging.getLogger("availmon")

_POLL = 0.02  # the engine's longest sleep, so it picks up probes begun by other threads
_BATCH = 256  # packets read per turn at most, so echoes due meanwhile still go out on time
_RECEIVE_BUFFER = 4 * 1024 * 1024
# Linux socket options the socket module does not name (linux/icmp.h, linux/icmpv6.h,
# asm-generic/socket.h)
_SOL_RAW, _ICMP_FILTER, _ICMP6_FILTER, _SO_RCVBUFFORCE = 255, 1, 1, 33
# icmplib draws a random payload per request unless given one; that cost as much as the send
_PAYLOAD = b"availmon".ljust(56, b"\0")


def _make_room(sock: socket.socket, family: int, privileged: bool) -> None:
    """Keep a burst of replies from overflowing the socket: probes begin a slot at a time.

    A raw socket is given every ICMP packet the host receives, echo requests included
    (on loopback, our own): the kernel filter keeps only replies and errors. The buffer
    is enlarged beyond ``net.core.rmem_max`` where the process may (CAP_NET_ADMIN),
    else up to it; the default (~200 packets) drops replies and reads as packet loss.
    """
    if privileged:
        wanted = set(_V6_TYPES if family == socket.AF_INET6 else _V4_TYPES)
        blocked = [0] * 8  # a bit set per ICMP type the kernel should drop
        for kind in range(256):
            if kind not in wanted:
                blocked[kind >> 5] |= 1 << (kind & 31)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_ICMPV6, _ICMP6_FILTER, struct.pack("8I", *blocked))
        else:  # ICMP_FILTER masks the types below 32 only
            sock.setsockopt(_SOL_RAW, _ICMP_FILTER, struct.pack("I", blocked[0]))
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, _RECEIVE_BUFFER)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)


@dataclass(eq=False)
class _Probe:
    """One probe in flight: its echoes, the replies so far, and its deadline."""

    address: str
    ident: int
    count: int
    interval: float
    started: float  # time.monotonic()
    deadline: float
    max_loss: float | None
    reply_type: int
    error_types: tuple[int, ...]
    done: Done
    sequences: list[int] = field(default_factory=list)
    sent: dict[int, ICMPRequest] = field(default_factory=dict)  # sequence -> request
    rtts: dict[int, float] = field(default_factory=dict)
    errors: set[int] = field(default_factory=set)
    next_send: float = 0.0
    send_error: str | None = None  # why the first echo could not be sent
    finished: bool = False

    def wake(self) -> float:
        return min(self.next_send, self.deadline) if len(self.sent) < self.count else self.deadline

    def answered(self) -> bool:
        return len(self.sent) == self.count and len(self.rtts) + len(self.errors) == self.count

    def result(self) -> ProbeResult:
        duration = time.monotonic() - self.started
        if self.send_error is not None:
            return ProbeResult(False, duration, self.send_error, {})
        loss = 1 - len(self.rtts) / self.count
        details: dict[str, float] = {"icmp_packet_loss_ratio": loss}
        if self.rtts:
            details["icmp_rtt_seconds"] = sum(self.rtts.values()) / len(self.rtts)
        ok = bool(self.rtts) if self.max_loss is None else loss <= self.max_loss + 1e-9
        if ok:
            return ProbeResult(True, duration, None, details)
        if self.errors and not self.rtts and len(self.errors) == len(self.sent):
            cause = "destination unreachable"
        else:
            cause = f"{round(loss * 100):d}% packet loss"
        return ProbeResult(False, duration, cause, details)


class _Engine:
    """One ICMP socket shared by every probe of a (family, mode), driven by one thread.

    The engine thread sends each probe's echoes on time, parses every packet once,
    matches it to its probe by sequence number and ends probes when all echoes are
    answered or the deadline passes; so no thread waits per probe. A second thread
    hands results to their callbacks, so a slow callback (a database write) never
    delays an echo or skews a round-trip time.
    """

    def __init__(self, family: int, privileged: bool) -> None:
        cls = ICMPv6Socket if family == socket.AF_INET6 else ICMPv4Socket
        self._sock = cls(None, privileged)
        _make_room(self._sock.sock, family, privileged)
        self._lock = threading.Lock()
        self._timers: list[tuple[float, int, _Probe]] = []  # a heap of (wake, tiebreak, probe)
        self._tiebreak = itertools.count()
        self._waiting: dict[int, _Probe] = {}  # sequence -> probe
        self._results: queue.SimpleQueue[tuple[_Probe, ProbeResult]] = queue.SimpleQueue()
        for target, name in ((self._run, "icmp-engine"), (self._deliver, "icmp-results")):
            threading.Thread(target=target, name=name, daemon=True).start()

    def begin(self, probe: _Probe) -> None:
        """Take a probe on: reserve its sequence numbers and send its first echo now."""
        with self._lock:
            while len(probe.sequences) < probe.count:
                seq = next(_SEQUENCES)
                if seq not in self._waiting:
                    self._waiting[seq] = probe
                    probe.sequences.append(seq)
            self._advance(probe, time.monotonic())

    def _run(self) -> None:
        while True:
            try:
                self._step()
            except Exception:  # keep probing; the probes concerned end at their deadline
                log.exception("ICMP engine error (a bug in availmon)")
                time.sleep(0.1)

    def _step(self) -> None:
        with self._lock:
            wait = self._timers[0][0] - time.monotonic() if self._timers else _POLL
        replies = self._receive(min(max(wait, 0.0005), _POLL))
        with self._lock:
            for reply in replies:
                self._match(reply)
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                self._advance(heapq.heappop(self._timers)[2], now)

    def _receive(self, wait: float) -> list[ICMPReply]:
        """Every packet queued on the socket, after waiting up to ``wait`` for the first.

        Not icmplib's ``receive``: that discards a packet read after its timeout ran out,
        which on a busy machine (this thread descheduled for a millisecond) lost replies
        and reported packet loss that never happened. Its parser is used as is.
        """
        raw = self._sock.sock
        replies: list[ICMPReply] = []
        try:
            if not select.select([raw], [], [], wait)[0]:
                return replies
            while len(replies) < _BATCH:
                packet, source = raw.recvfrom(1024, socket.MSG_DONTWAIT)
                reply = self._sock._parse_reply(packet, source[0], time.time())
                if reply is not None:
                    replies.append(reply)
        except BlockingIOError:
            pass
        except OSError as exc:  # keep receiving; probes end at their deadline
            log.warning("ICMP receive failed: %s", exc)
            time.sleep(0.1)
        return replies

    def _advance(self, probe: _Probe, now: float) -> None:
        """Send the probe's next echo if due, end it at its deadline, else wait again."""
        if probe.finished:
            return
        if now >= probe.deadline:
            self._finish(probe)
            return
        if len(probe.sent) < probe.count and now >= probe.next_send:
            request = ICMPRequest(
                destination=probe.address,
                id=probe.ident,
                sequence=probe.sequences[len(probe.sent)],
                payload=_PAYLOAD,
            )
            try:
                self._sock.send(request)  # request.id becomes the kernel's on DGRAM sockets
            except ICMPLibError as exc:
                if not probe.sent:
                    text = re.sub(r"^\[Errno \d+\]\s*", "", str(exc)).strip().lower()
                    probe.send_error = text or "cannot send ICMP echo request"
                self._finish(probe)  # judge what we have
                return
            probe.sent[request.sequence] = request
            probe.next_send = now + probe.interval
        heapq.heappush(self._timers, (probe.wake(), next(self._tiebreak), probe))

    def _match(self, reply: ICMPReply) -> None:
        probe = self._waiting.get(reply.sequence)
        request = probe.sent.get(reply.sequence) if probe is not None else None
        if probe is None or request is None or reply.id != request.id:
            return
        if reply.sequence in probe.rtts or reply.sequence in probe.errors:
            return
        if reply.type == probe.reply_type and _same_ip(reply.source, probe.address):
            probe.rtts[reply.sequence] = max(reply.time - request.time, 0.0)
        elif reply.type in probe.error_types:
            probe.errors.add(reply.sequence)
        if probe.answered():
            self._finish(probe)

    def _finish(self, probe: _Probe) -> None:
        probe.finished = True
        for seq in probe.sequences:
            self._waiting.pop(seq, None)
        self._results.put((probe, probe.result()))

    def _deliver(self) -> None:
        while True:
            probe, result = self._results.get()
            try:
                probe.done(result)
            except Exception:
                log.exception("handling an ICMP probe result failed (a bug in availmon)")


_SEQUENCES = (n & 0xFFFF for n in itertools.count())
_engines: dict[tuple[int, bool], _Engine] = {}
_engines_lock = threading.Lock()


def _engine(family: int, privileged: bool) -> _Engine:
    with _engines_lock:
        engine = _engines.get((family, privileged))
        if engine is None:
            engine = _engines[(family, privileged)] = _Engine(family, privileged)
        return engine


def _same_ip(a: str | None, b: str) -> bool:
    if a is None:
        return True  # the socket did not tell us; identifier and sequence must do
    if a == b:
        return True
    try:
        return ipaddress.ip_address(a.split("%")[0]) == ipaddress.ip_address(b.split("%")[0])
    except ValueError:
        return False


def begin(settings: Settings, timeout: float, done: Done) -> None:
    """Begin a probe: ``count`` echo requests, replies awaited until the deadline.

    Returns at once (a host name is resolved on another thread, as that may take until
    the deadline); ``done(result)`` is called once, by the deadline at the latest.
    """
    started = time.monotonic()
    try:
        ipaddress.ip_address(settings.host)
    except ValueError:
        _RESOLVING.submit(_resolve_and_begin_safely, settings, timeout, done, started)
    else:
        _resolve_and_begin(settings, timeout, done, started)


_RESOLVING = ThreadPoolExecutor(max_workers=8, thread_name_prefix="icmp-resolve")


def _resolve_and_begin_safely(
    settings: Settings, timeout: float, done: Done, started: float
) -> None:
    try:
        _resolve_and_begin(settings, timeout, done, started)
    except Exception as exc:  # no caller to raise to: the probe fails, saying why
        log.error("ICMP probe of %s failed to start: %s", settings.host, exc)
        done(ProbeResult(False, time.monotonic() - started, str(exc), {}))


def _resolve_and_begin(settings: Settings, timeout: float, done: Done, started: float) -> None:
    try:
        addrs = _common.resolve(settings.host, None, started + timeout, type_=socket.SOCK_DGRAM)
    except _common.ResolveTimeout:
        done(ProbeResult(False, time.monotonic() - started, _common.timeout_cause(timeout), {}))
        return
    except OSError:
        done(ProbeResult(False, time.monotonic() - started, "name resolution failed", {}))
        return
    # Prefer IPv4, like ping(8) without -6.
    family, sockaddr = sorted(addrs, key=lambda a: a[0] != socket.AF_INET)[0]
    privileged = settings.privileged if settings.privileged is not None else detect_privileged()
    reply_type, *error_types = _V6_TYPES if family == socket.AF_INET6 else _V4_TYPES
    try:
        engine = _engine(family, privileged)
    except SocketPermissionError as exc:
        raise ProbeSetupError(
            "cannot open an ICMP socket: run as root or grant CAP_NET_RAW, or put this "
            "process's group inside sysctl net.ipv4.ping_group_range"
        ) from exc
    engine.begin(
        _Probe(
            address=str(sockaddr[0]),
            ident=unique_identifier(),
            count=settings.count,
            interval=min(_SEND_INTERVAL, timeout / (2 * settings.count)),
            started=started,
            deadline=started + timeout,
            max_loss=settings.max_loss,
            reply_type=reply_type,
            error_types=tuple(error_types),
            done=done,
        )
    )


def check_setup(settings: Sequence[Settings]) -> None:
    """Fail loudly, once, on a machine that cannot ping at all (``ProbeSetupError``)."""
    detect_privileged()


PROBE_TYPE: ProbeType = EventDrivenProbeType(
    KEYS,
    parse_settings,
    describe,
    begin,
    detail_metrics={
        "icmp_rtt_seconds": DetailMetric(
            "probe_icmp_duration_seconds", "Duration of ICMP request by phase.", (("phase", "rtt"),)
        ),
        "icmp_packet_loss_ratio": DetailMetric(
            "availmon_icmp_packet_loss_ratio", "Share of ICMP echo requests unanswered."
        ),
    },
    check_setup=check_setup,
)
run = PROBE_TYPE.run  # probe once and wait for the result (tests, benchmarks)
