"""TCP connect probe: the service is up when a connection to host:port is accepted in time."""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monitor.probes import _common
from monitor.probes.base import BlockingProbeType, ProbeResult, ProbeType

KEYS: frozenset[str] = frozenset({"host", "port"})


@dataclass(frozen=True)
class Settings:
    """Where to connect."""

    host: str
    port: int


def parse_settings(raw: Mapping[str, Any], env: Mapping[str, str]) -> Settings:
    """Validate a tcp target's keys: ``SettingError`` if bad."""
    host = _common.get_host(raw)
    port = _common.get_int(raw, "port", minimum=1, maximum=65535)
    return Settings(host=host, port=port)


def describe(settings: Settings) -> str:
    """``mail:25`` or ``[::1]:25``."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"{host}:{settings.port}"


def run(settings: Settings, timeout: float) -> ProbeResult:
    """Connect (trying each resolved address in turn) and close; never raises for failure."""
    start = time.monotonic()
    deadline = start + timeout

    def fail(cause: str) -> ProbeResult:
        return ProbeResult(False, time.monotonic() - start, cause)

    try:
        addrs = _common.resolve(settings.host, settings.port, deadline)
    except _common.ResolveTimeout:
        return fail(_common.timeout_cause(timeout))
    except OSError:
        return fail("name resolution failed")

    last: str = "connection failed"
    for family, sockaddr in addrs:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return fail(_common.timeout_cause(timeout))
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(remaining)
            sock.connect(sockaddr)
        except TimeoutError:
            last = _common.timeout_cause(timeout)
        except OSError as err:
            last = _common.oserror_phrase(err)
        else:
            return ProbeResult(True, time.monotonic() - start)
        finally:
            sock.close()
    return fail(last)


PROBE_TYPE: ProbeType = BlockingProbeType(KEYS, parse_settings, describe, run)
