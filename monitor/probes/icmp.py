"""ICMP echo probe built on icmplib's sockets.

Privileged mode (raw socket, needs root or CAP_NET_RAW) or unprivileged mode (datagram
ICMP socket, needs the process's group inside ``net.ipv4.ping_group_range``) is detected
once per process by ``detect_privileged()`` and cached; ``Settings.privileged`` may pin
it (None means "use the detected mode"). The runner should call ``detect_privileged()``
at start-up so a machine that cannot ping at all fails loudly, once.

We drive icmplib's ``ICMPv4Socket``/``ICMPv6Socket`` ourselves rather than calling
``icmplib.ping``, which opens a socket per call: a raw socket sees *all* ICMP traffic on
the host, so with N probes in flight every packet was parsed N times (measured: 1.6 ms
of CPU per probe alone, 14 ms with 64 in flight; BENCHMARKS.md). Instead one socket per
(address family, mode) is shared by all probes, and one receiver thread parses each
packet once and hands it to the probe waiting for its sequence number. Sequence numbers
are allocated process-wide, so they identify a request even on datagram sockets, where
the kernel rewrites the identifier; replies are still checked against the request's
identifier and, for echo replies on raw sockets, its source address.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import queue
import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from icmplib import ICMPRequest, ICMPv4Socket, ICMPv6Socket
from icmplib.exceptions import ICMPLibError, SocketPermissionError, TimeoutExceeded
from icmplib.models import ICMPReply
from icmplib.utils import unique_identifier

from monitor.probes import _common
from monitor.probes._common import show
from monitor.probes.base import ProbeResult, ProbeSetupError, SettingError

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
    """Validate an icmp target's keys (host syntax only, not resolved); raises only SettingError."""
    try:
        if not isinstance(raw, Mapping):
            raise SettingError("type", "target must be a mapping")
        host = _common.get_host(raw)
        count = _common.get_int(raw, "count", 3, minimum=1, maximum=_MAX_COUNT)
        max_loss = _parse_max_loss(raw.get("max_loss"))
    except SettingError:
        raise
    except Exception as exc:  # defensive: the contract is SettingError only
        raise SettingError("host", f"invalid settings: {exc}") from None
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


class _SharedSocket:
    """One ICMP socket and one receiver thread shared by every probe of a kind."""

    def __init__(self, family: int, privileged: bool) -> None:
        cls = ICMPv6Socket if family == socket.AF_INET6 else ICMPv4Socket
        self._sock = cls(None, privileged)
        self._send_lock = threading.Lock()
        self._waiting: dict[int, queue.SimpleQueue[ICMPReply]] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._receive, name="icmp-receiver",
                                        daemon=True)
        self._thread.start()

    def send(self, request: ICMPRequest) -> None:
        with self._send_lock:  # icmplib sets socket options per send
            self._sock.send(request)

    @contextmanager
    def expecting(self, count: int) -> Iterator[tuple[list[int], queue.SimpleQueue[ICMPReply]]]:
        """Reserve ``count`` sequence numbers whose replies arrive in the yielded inbox."""
        inbox: queue.SimpleQueue[ICMPReply] = queue.SimpleQueue()
        with self._lock:
            sequences = []
            while len(sequences) < count:
                seq = next(_SEQUENCES)
                if seq not in self._waiting:
                    self._waiting[seq] = inbox
                    sequences.append(seq)
        try:
            yield sequences, inbox
        finally:
            with self._lock:
                for seq in sequences:
                    self._waiting.pop(seq, None)

    def _receive(self) -> None:
        while True:
            try:
                reply = self._sock.receive(None, 1.0)
            except TimeoutExceeded:
                continue
            except ICMPLibError as exc:  # keep receiving; a probe will time out, not hang
                log.warning("ICMP receive failed: %s", exc)
                time.sleep(0.1)
                continue
            inbox = self._waiting.get(reply.sequence)
            if inbox is not None:
                inbox.put(reply)


_SEQUENCES = (n & 0xFFFF for n in itertools.count())
_shared: dict[tuple[int, bool], _SharedSocket] = {}
_shared_lock = threading.Lock()


def _shared_socket(family: int, privileged: bool) -> _SharedSocket:
    with _shared_lock:
        shared = _shared.get((family, privileged))
        if shared is None:
            shared = _shared[(family, privileged)] = _SharedSocket(family, privileged)
        return shared


def _same_ip(a: str | None, b: str) -> bool:
    if a is None:
        return True  # the socket did not tell us; identifier and sequence must do
    try:
        return ipaddress.ip_address(a.split("%")[0]) == ipaddress.ip_address(b.split("%")[0])
    except ValueError:
        return False


def run(settings: Settings, timeout: float) -> ProbeResult:
    """Send ``count`` echo requests and wait for replies until the deadline."""
    start = time.monotonic()
    deadline = start + timeout

    def result(success: bool, cause: str | None, details: dict[str, float]) -> ProbeResult:
        return ProbeResult(success, time.monotonic() - start, None if success else cause, details)

    try:
        addrs = _common.resolve(settings.host, None, deadline, type_=socket.SOCK_DGRAM)
    except _common.ResolveTimeout:
        return result(False, _common.timeout_cause(timeout), {})
    except OSError:
        return result(False, "name resolution failed", {})
    # Prefer IPv4, like ping(8) without -6.
    family, sockaddr = sorted(addrs, key=lambda a: a[0] != socket.AF_INET)[0]
    address = str(sockaddr[0])

    privileged = settings.privileged if settings.privileged is not None else detect_privileged()
    reply_type, *error_types = _V6_TYPES if family == socket.AF_INET6 else _V4_TYPES
    count = settings.count
    interval = min(_SEND_INTERVAL, timeout / (2 * count))

    sent: dict[int, ICMPRequest] = {}   # sequence -> request
    rtts: dict[int, float] = {}
    errors: set[int] = set()
    ident = unique_identifier()
    try:
        shared = _shared_socket(family, privileged)
        with shared.expecting(count) as (sequences, inbox):
            next_send = time.monotonic()
            while True:
                now = time.monotonic()
                if now >= deadline:
                    break
                if len(sent) < count and now >= next_send:
                    request = ICMPRequest(destination=address, id=ident,
                                          sequence=sequences[len(sent)])
                    shared.send(request)  # request.id becomes the kernel's on DGRAM sockets
                    sent[request.sequence] = request
                    next_send = now + interval
                    continue
                if len(sent) == count and len(rtts) + len(errors) == count:
                    break
                wake = deadline if len(sent) == count else min(next_send, deadline)
                try:
                    reply = inbox.get(timeout=max(wake - now, 0.001))
                except queue.Empty:
                    continue
                request = sent.get(reply.sequence)
                if request is None or reply.id != request.id:
                    continue
                if reply.sequence in rtts or reply.sequence in errors:
                    continue
                if reply.type == reply_type and _same_ip(reply.source, address):
                    rtts[reply.sequence] = max(reply.time - request.time, 0.0)
                elif reply.type in error_types:
                    errors.add(reply.sequence)
    except SocketPermissionError as exc:
        raise ProbeSetupError(
            "cannot open an ICMP socket: run as root or grant CAP_NET_RAW, or put this "
            "process's group inside sysctl net.ipv4.ping_group_range"
        ) from exc
    except ICMPLibError as exc:
        if not sent:
            text = re.sub(r"^\[Errno \d+\]\s*", "", str(exc)).strip().lower()
            return result(False, text or "cannot send ICMP echo request", {})
        # a later send failed: judge what we have

    loss = 1 - len(rtts) / count
    details: dict[str, float] = {"icmp_packet_loss_ratio": loss}
    if rtts:
        details["icmp_rtt_seconds"] = sum(rtts.values()) / len(rtts)
    ok = bool(rtts) if settings.max_loss is None else loss <= settings.max_loss + 1e-9
    if ok:
        return result(True, None, details)
    if errors and not rtts and len(errors) == len(sent):
        cause = "destination unreachable"
    else:
        cause = f"{round(loss * 100):d}% packet loss"
    return result(False, cause, details)
