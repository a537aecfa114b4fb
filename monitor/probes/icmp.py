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
result, for the CLI and tests). Every echo of an engine carries one identifier (on a
datagram socket, the one the kernel gives the socket) and a sequence number unique
among its probes in flight; replies are checked against both and, for echo replies,
the probe's address. On a raw socket a BPF filter drops other processes' echo replies
in the kernel.
"""

from __future__ import annotations

import ctypes
import heapq
import ipaddress
import itertools
import logging
import os
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

from icmplib import ICMPv4Socket, ICMPv6Socket
from icmplib.exceptions import SocketPermissionError
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
    # the host as an IP address, parsed once (a probe of a literal needs no lookup); None
    # for a name, or an IPv6 address with a zone (getaddrinfo resolves the zone)
    address: tuple[int, str] | None = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", _literal(self.host))


def _literal(host: str) -> tuple[int, str] | None:
    """(family, canonical address) when ``host`` is an IP address without a zone."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id is not None:
        return None
    return (socket.AF_INET6 if ip.version == 6 else socket.AF_INET), str(ip)


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
    if _detected is not None:  # every probe asks: no lock once known
        return _detected
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

_BATCH = 256  # packets read per turn at most, so echoes due meanwhile still go out on time
_RECEIVE_BUFFER = 4 * 1024 * 1024
# Linux socket options the socket module does not name (linux/icmp.h, linux/icmpv6.h,
# asm-generic/socket.h)
_SOL_RAW, _ICMP_FILTER, _ICMP6_FILTER, _SO_RCVBUFFORCE, _SO_ATTACH_FILTER = 255, 1, 1, 33, 26
_ECHO_REQUEST: dict[int, int] = {socket.AF_INET: 8, socket.AF_INET6: 128}
_PAYLOAD = b"availmon".ljust(56, b"\0")
_PAYLOAD_SUM = sum(struct.unpack(f"!{len(_PAYLOAD) // 2}H", _PAYLOAD))


def echo_request(kind: int, ident: int, sequence: int) -> bytes:
    """An echo request of ICMP type ``kind`` carrying our fixed payload.

    Built here rather than by icmplib, whose checksum loops over the packet in Python and
    whose send looks the address up and sets two socket options each time: with the
    payload fixed, the checksum (RFC 1071; the kernel writes ICMPv6's) is three additions.
    """
    total = (kind << 8) + ident + sequence + _PAYLOAD_SUM
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return struct.pack("!BBHHH", kind, 0, ~total & 0xFFFF, ident, sequence) + _PAYLOAD


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


def attach_reply_filter(sock: socket.socket, family: int, ident: int) -> None:
    """Have the kernel drop echo replies to other processes' pings on this raw socket.

    A raw socket is handed every echo reply the host receives: with four shards on one
    box, each would read and parse all four shards' replies. This classic BPF program
    keeps echo replies carrying ``ident`` and every error message (those quote the
    request inside, and are rare). An IPv4 raw socket's packets start with the IP
    header (its length read from the packet), an ICMPv6 one's with the ICMP header.
    """
    ld_b, ld_h, jeq, ret = 0x30, 0x28, 0x15, 0x06  # [k] loads, jump if A == k, return
    if family == socket.AF_INET6:
        head: list[tuple[int, int, int, int]] = []
        echo_reply = 129
    else:
        head = [(0xB1, 0, 0, 0)]  # X = 4 * (IP header's first byte & 0xf)
        ld_b, ld_h = 0x50, 0x48  # [X + k] loads
        echo_reply = 0
    program = [
        *head,
        (ld_b, 0, 0, 0),  # A = ICMP type
        (jeq, 0, 2, echo_reply),  # not an echo reply: keep
        (ld_h, 0, 0, 4),  # A = identifier
        (jeq, 0, 1, ident),
        (ret, 0, 0, 0x40000),  # keep (the whole packet)
        (ret, 0, 0, 0),  # drop
    ]
    code = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *op) for op in program))
    fprog = struct.pack("HL", len(program), ctypes.addressof(code))  # struct sock_fprog
    sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)


@dataclass(eq=False)
class _Probe:
    """One probe in flight: its echoes, the replies so far, and its deadline."""

    address: str
    sockaddr: tuple[Any, ...]  # where its echoes are sent
    count: int
    interval: float
    started: float  # time.monotonic()
    deadline: float
    max_loss: float | None
    reply_type: int
    error_types: tuple[int, ...]
    done: Done
    sequences: list[int] = field(default_factory=list)
    sent: dict[int, float] = field(default_factory=dict)  # sequence -> time.monotonic() sent
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

    The engine thread owns every probe in flight: it takes new probes from an inbox
    (an eventfd wakes it), sends each probe's echoes on time, parses every packet once,
    matches it to its probe by sequence number and ends probes when all echoes are
    answered or the deadline passes; so no thread waits per probe, and no lock is
    shared with the threads beginning probes. A second thread hands results to their
    callbacks, so a slow callback (a database write) never delays an echo or skews a
    round-trip time.

    Every echo of the process carries one identifier (the kernel's, on a datagram
    socket); the sequence number, unique among the probes in flight, names the probe.
    """

    def __init__(self, family: int, privileged: bool) -> None:
        cls = ICMPv6Socket if family == socket.AF_INET6 else ICMPv4Socket
        self._icmp = cls(None, privileged)
        self._sock = self._icmp.sock
        _make_room(self._sock, family, privileged)
        self._echo_type = _ECHO_REQUEST[family]
        self._ident = unique_identifier()  # on a datagram socket, the kernel's once sent
        self._ident_known = privileged
        if privileged:  # a datagram socket is only handed its own replies already
            attach_reply_filter(self._sock, family, self._ident)
        self._sequences = itertools.count()
        self._timers: list[tuple[float, int, _Probe]] = []  # a heap of (wake, tiebreak, probe)
        self._tiebreak = itertools.count()
        self._waiting: dict[int, _Probe] = {}  # sequence -> probe
        self._inbox: queue.SimpleQueue[_Probe] = queue.SimpleQueue()
        self._wakeup = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._results: queue.SimpleQueue[tuple[_Probe, ProbeResult]] = queue.SimpleQueue()
        for target, name in ((self._run, "icmp-engine"), (self._deliver, "icmp-results")):
            threading.Thread(target=target, name=name, daemon=True).start()

    def begin(self, probe: _Probe) -> None:
        """Hand a probe to the engine thread, which sends its first echo at once."""
        self._inbox.put(probe)
        os.eventfd_write(self._wakeup, 1)

    def _run(self) -> None:
        while True:
            try:
                self._step()
            except Exception:  # keep probing; the probes concerned end at their deadline
                log.exception("ICMP engine error (a bug in availmon)")
                time.sleep(0.1)

    def _step(self) -> None:
        wait = max(self._timers[0][0] - time.monotonic(), 0.0) if self._timers else None
        ready = select.select([self._sock, self._wakeup], [], [], wait)[0]
        if self._wakeup in ready:
            os.eventfd_read(self._wakeup)
        while not self._inbox.empty():
            self._take(self._inbox.get())
        if self._sock in ready:
            self._receive()
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            self._advance(heapq.heappop(self._timers)[2], now)

    def _take(self, probe: _Probe) -> None:
        """Reserve the probe's sequence numbers and send its first echo."""
        while len(probe.sequences) < probe.count:
            seq = next(self._sequences) & 0xFFFF
            if seq not in self._waiting:
                self._waiting[seq] = probe
                probe.sequences.append(seq)
        self._advance(probe, time.monotonic())

    def _receive(self) -> None:
        """Match every packet queued on the socket (up to a batch) to its probe.

        Not icmplib's ``receive``: that discards a packet read after its timeout ran out,
        which on a busy machine (this thread descheduled for a millisecond) lost replies
        and reported packet loss that never happened. Its parser is used as is.
        """
        try:
            for _ in range(_BATCH):
                packet, source = self._sock.recvfrom(1024, socket.MSG_DONTWAIT)
                reply = self._icmp._parse_reply(packet, source[0], time.monotonic())
                if reply is not None:
                    self._match(reply)
        except BlockingIOError:
            pass
        except OSError as exc:  # keep receiving; probes end at their deadline
            log.warning("ICMP receive failed: %s", exc)
            time.sleep(0.1)

    def _advance(self, probe: _Probe, now: float) -> None:
        """Send the probe's next echo if due, end it at its deadline, else wait again."""
        if probe.finished:
            return
        if now >= probe.deadline:
            self._finish(probe)
            return
        if len(probe.sent) < probe.count and now >= probe.next_send:
            seq = probe.sequences[len(probe.sent)]
            try:
                self._sock.sendto(echo_request(self._echo_type, self._ident, seq), probe.sockaddr)
            except OSError as exc:
                if not probe.sent:
                    probe.send_error = _common.oserror_phrase(exc)
                self._finish(probe)  # judge what we have
                return
            if not self._ident_known:  # the kernel gave the datagram socket its own
                self._ident, self._ident_known = self._sock.getsockname()[1], True
            probe.sent[seq] = time.monotonic()
            probe.next_send = now + probe.interval
        heapq.heappush(self._timers, (probe.wake(), next(self._tiebreak), probe))

    def _match(self, reply: ICMPReply) -> None:
        probe = self._waiting.get(reply.sequence)
        sent = probe.sent.get(reply.sequence) if probe is not None else None
        if probe is None or sent is None or reply.id != self._ident:
            return
        if reply.sequence in probe.rtts or reply.sequence in probe.errors:
            return
        if reply.type == probe.reply_type and _same_ip(reply.source, probe.address):
            probe.rtts[reply.sequence] = max(reply.time - sent, 0.0)
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


_engines: dict[tuple[int, bool], _Engine] = {}
_engines_lock = threading.Lock()


def _engine(family: int, privileged: bool) -> _Engine:
    engine = _engines.get((family, privileged))  # every probe asks: no lock once made
    if engine is not None:
        return engine
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
    if settings.address is None:
        _RESOLVING.submit(_resolve_and_begin, settings, timeout, done, started)
        return
    family, address = settings.address
    sockaddr = (address, 0) if family == socket.AF_INET else (address, 0, 0, 0)
    _begin_at(settings, timeout, done, started, family, sockaddr)


_RESOLVING = ThreadPoolExecutor(max_workers=8, thread_name_prefix="icmp-resolve")


def _resolve_and_begin(settings: Settings, timeout: float, done: Done, started: float) -> None:
    try:
        addrs = _common.resolve(settings.host, None, started + timeout, type_=socket.SOCK_DGRAM)
    except _common.ResolveTimeout:
        done(ProbeResult(False, time.monotonic() - started, _common.timeout_cause(timeout), {}))
        return
    except OSError:
        done(ProbeResult(False, time.monotonic() - started, "name resolution failed", {}))
        return
    try:
        # Prefer IPv4, like ping(8) without -6.
        family, sockaddr = sorted(addrs, key=lambda a: a[0] != socket.AF_INET)[0]
        _begin_at(settings, timeout, done, started, family, sockaddr)
    except Exception as exc:  # no caller to raise to: the probe fails, saying why
        log.error("ICMP probe of %s failed to start: %s", settings.host, exc)
        done(ProbeResult(False, time.monotonic() - started, str(exc), {}))


def _begin_at(
    settings: Settings,
    timeout: float,
    done: Done,
    started: float,
    family: int,
    sockaddr: tuple[Any, ...],
) -> None:
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
            sockaddr=sockaddr,
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
