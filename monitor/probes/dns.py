"""DNS probe on dnspython: ask one server one question and judge its answer.

The keys follow blackbox_exporter's dns prober: ``server`` (host or host:port),
``query_name``, ``query_type`` (default A), ``transport`` (``udp``, retried over TCP
when the answer comes back truncated, or ``tcp``) and ``expect``, a list of regexes
each of which must be found in some answer record. A record is matched as one line of
presentation text, ``www.example.org. 300 IN A 10.0.0.5``. The server is up when it
answers NOERROR with at least one answer record, and every ``expect`` regex matches.

Deadline: the server's name, the UDP exchange and the TCP retry all share the one
total ``timeout``; dnspython bounds each exchange by the time left, not per socket call.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype

from monitor.probes import _common
from monitor.probes._common import show
from monitor.probes.base import (
    BlockingProbeType,
    DetailMetric,
    ProbeResult,
    ProbeType,
    SettingError,
)

KEYS: frozenset[str] = frozenset({"server", "query_name", "query_type", "expect", "transport"})

_TRANSPORTS = ("udp", "tcp")
_SERVER = re.compile(r"^\[(?P<v6>[^\]]+)\](?::(?P<v6port>[^:]*))?$|^(?P<host>[^:]+):(?P<port>.*)$")


@dataclass(frozen=True)
class Settings:
    """A validated dns target."""

    host: str
    port: int
    query_name: dns.name.Name
    query_type: dns.rdatatype.RdataType
    expect: tuple[re.Pattern[str], ...] = ()
    transport: str = "udp"


# --------------------------------------------------------------------------- settings


def _parse_server(value: Any) -> tuple[str, int]:
    """``ns1``, ``ns1:5353``, ``10.0.0.53``, ``::1`` or ``[::1]:5353`` -> (host, port)."""
    if value is None:
        raise SettingError("server", "'server' is required")
    if not isinstance(value, str):
        raise SettingError("server", f"'server' must be a string, got {type(value).__name__}")
    text = value.strip()
    host, port_text = text, None
    if m := _SERVER.match(text):
        host = m["v6"] or m["host"]
        port_text = m["v6port"] if m["v6"] else m["port"]
    if not _common.is_valid_host(host) or (m and m["v6"] and ":" not in host):
        raise SettingError("server", f"'server' is not a valid host or host:port: {show(value)}")
    if port_text is None:
        return host, 53
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise SettingError("server", f"'server' has an invalid port (1-65535): {show(value)}")
    return host, int(port_text)


def _parse_name(value: Any) -> dns.name.Name:
    if value is None:
        raise SettingError("query_name", "'query_name' is required")
    if not isinstance(value, str):
        raise SettingError(
            "query_name", f"'query_name' must be a string, got {type(value).__name__}"
        )
    text = value.strip()
    if not text or any(ch.isspace() for ch in text):
        raise SettingError("query_name", f"'query_name' is not a DNS name: {show(value)}")
    try:
        return dns.name.from_text(text)
    except dns.exception.DNSException as exc:
        raise SettingError(
            "query_name", f"'query_name' is not a DNS name: {show(value)} ({exc})"
        ) from None


def _parse_type(value: Any) -> dns.rdatatype.RdataType:
    if value is None:
        return dns.rdatatype.A
    if not isinstance(value, str):
        raise SettingError("query_type", f"'query_type' must be a string, got {show(value)}")
    try:
        rdtype = dns.rdatatype.from_text(value.strip().upper())
    except dns.exception.DNSException:
        rdtype = None
    if rdtype is None or dns.rdatatype.is_metatype(rdtype):
        raise SettingError(
            "query_type",
            f"'query_type' must be a record type such as A, AAAA, MX, TXT, got {show(value)}",
        )
    return rdtype


def _parse_expect(value: Any) -> tuple[re.Pattern[str], ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    out: list[re.Pattern[str]] = []
    for item in items:
        if not isinstance(item, str):
            raise SettingError("expect", f"'expect' entries must be regexes, got {show(item)}")
        try:
            out.append(re.compile(item))
        except re.error as exc:
            raise SettingError(
                "expect", f"'expect' has an invalid regular expression {show(item)}: {exc}"
            ) from None
    return tuple(out)


def parse_settings(raw: Mapping[str, Any], env: Mapping[str, str]) -> Settings:
    """Validate a dns target's keys: ``SettingError`` if bad."""
    host, port = _parse_server(raw.get("server"))
    transport = _common.get_str(raw, "transport", "udp")
    if transport not in _TRANSPORTS:
        raise SettingError(
            "transport", f"'transport' must be udp or tcp, got {show(raw.get('transport'))}"
        )
    return Settings(
        host=host,
        port=port,
        query_name=_parse_name(raw.get("query_name")),
        query_type=_parse_type(raw.get("query_type")),
        expect=_parse_expect(raw.get("expect")),
        transport=transport,
    )


def describe(settings: Settings) -> str:
    """As dig is asked: ``www.example.org A @ns1:53`` (``@[::1]:53`` for IPv6)."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    name = settings.query_name.to_text(omit_final_dot=True)
    kind = dns.rdatatype.to_text(settings.query_type)
    return f"{name} {kind} @{host}:{settings.port}"


# --------------------------------------------------------------------------- probing


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise dns.exception.Timeout
    return left


def _ask(settings: Settings, address: str, deadline: float) -> dns.message.Message:
    """The server's response: over UDP, again over TCP if truncated, or over TCP only."""
    query = dns.message.make_query(settings.query_name, settings.query_type)
    if settings.transport == "udp":
        response = dns.query.udp(
            query,
            address,
            timeout=_remaining(deadline),
            port=settings.port,
            ignore_unexpected=True,  # a stray datagram from elsewhere is not the answer
        )
        if not response.flags & dns.flags.TC:
            return response
    return dns.query.tcp(query, address, timeout=_remaining(deadline), port=settings.port)


def _judge(settings: Settings, response: dns.message.Message) -> str | None:
    """None when the answer is good, else the cause."""
    if response.rcode() != dns.rcode.NOERROR:
        return dns.rcode.to_text(response.rcode())
    records = [line for rrset in response.answer for line in rrset.to_text().splitlines() if line]
    if not records:
        return "no answer records"
    for pattern in settings.expect:
        if not any(pattern.search(record) for record in records):
            return f"answer did not match /{pattern.pattern}/"
    return None


def _details(response: dns.message.Message) -> dict[str, float]:
    details = {"dns_answer_rrs": float(sum(len(rrset) for rrset in response.answer))}
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            details["dns_serial"] = float(rrset[0].serial)
    return details


def run(settings: Settings, timeout: float) -> ProbeResult:
    """One question within ``timeout`` seconds in total; never raises for the target's failure."""
    start = time.monotonic()
    deadline = start + timeout

    def fail(cause: str, details: Mapping[str, float] | None = None) -> ProbeResult:
        return ProbeResult(False, time.monotonic() - start, cause, details or {})

    try:
        addrs = _common.resolve(settings.host, settings.port, deadline, type_=socket.SOCK_DGRAM)
        response = _ask(settings, addrs[0][1][0], deadline)
    except (_common.ResolveTimeout, dns.exception.Timeout, TimeoutError):
        return fail(_common.timeout_cause(timeout))
    except OSError as err:
        return fail(_common.oserror_phrase(err))
    except EOFError:  # the TCP connection closed before a whole answer came
        return fail("connection closed without response")
    except dns.exception.DNSException:
        return fail("invalid DNS response")
    details = _details(response)
    cause = _judge(settings, response)
    if cause is not None:
        return fail(cause, details)
    return ProbeResult(True, time.monotonic() - start, None, details)


PROBE_TYPE: ProbeType = BlockingProbeType(
    KEYS,
    parse_settings,
    describe,
    run,
    detail_metrics={
        "dns_answer_rrs": DetailMetric(
            "probe_dns_answer_rrs", "Returns number of entries in the answer resource record list."
        ),
        "dns_serial": DetailMetric("probe_dns_serial", "Returns the serial number of the zone."),
    },
)
