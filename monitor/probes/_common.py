"""Helpers shared by the probe modules: setting checks, timeout wording, deadline-bound DNS.

Only code that is really the same for every probe type lives here, so each probe
module stays readable on its own.
"""

from __future__ import annotations

import ipaddress
import re
import reprlib
import socket
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from monitor.probes.base import SettingError

_MISSING: Any = object()

# RFC 1123 labels; underscores tolerated because real intranets use them.
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


_SHOW = reprlib.Repr()
_SHOW.maxlevel = 2
_SHOW.maxstring = _SHOW.maxother = _SHOW.maxlong = 60
_SHOW.maxlist = _SHOW.maxtuple = _SHOW.maxdict = _SHOW.maxset = 4


def show(value: object) -> str:
    """A short repr for error messages, bounded in time and size for any YAML value.

    Plain ``repr`` is not: a "billion laughs" document of shared aliases expands to
    gigabytes when printed, and a 10 MB string would become a 10 MB problem line.
    """
    try:
        return _SHOW.repr(value)
    except Exception:  # a value whose repr itself fails
        return f"<{type(value).__name__}>"


def format_timeout(seconds: float) -> str:
    """Render a timeout the way a user configured it: ``5s``, ``1.5s``, ``500ms``."""
    if seconds < 1:
        ms = round(seconds * 1000, 3)
        return f"{ms:g}ms"
    return f"{round(seconds, 3):g}s"


def timeout_cause(seconds: float) -> str:
    """The cause phrase for a probe that ran out of time."""
    return f"timeout after {format_timeout(seconds)}"


def is_valid_host(host: str) -> bool:
    """True for an IP literal or a syntactically valid DNS name (nothing is resolved)."""
    if not host or len(host) > 253:
        return False
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    if all(label.isdigit() for label in labels):
        return False  # looks numeric but was not a valid IPv4 literal
    return all(_LABEL.match(label) for label in labels)


def get_host(raw: Mapping[str, Any], key: str = "host") -> str:
    """The required host setting, syntax-checked only (resolution happens at probe time)."""
    value = raw.get(key, _MISSING)
    if value is _MISSING or value is None:
        raise SettingError(key, f"'{key}' is required")
    if not isinstance(value, str):
        raise SettingError(key, f"'{key}' must be a string, got {type(value).__name__}")
    value = value.strip()
    if not is_valid_host(value):
        raise SettingError(key, f"'{key}' is not a valid IP address or hostname: {show(value)}")
    return value


def get_int(
    raw: Mapping[str, Any],
    key: str,
    default: int | None = None,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    """An integer setting (numeric strings accepted, booleans rejected) within bounds."""
    value = raw.get(key, _MISSING)
    if value is _MISSING or value is None:
        if default is None:
            raise SettingError(key, f"'{key}' is required")
        return default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingError(key, f"'{key}' must be an integer, got {show(value)}")
    if minimum is not None and value < minimum:
        raise SettingError(key, f"'{key}' must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise SettingError(key, f"'{key}' must be at most {maximum}, got {value}")
    return value


def get_bool(raw: Mapping[str, Any], key: str, default: bool) -> bool:
    """A boolean setting; YAML already turns yes/no/true/false into bools."""
    value = raw.get(key, _MISSING)
    if value is _MISSING or value is None:
        return default
    if not isinstance(value, bool):
        raise SettingError(key, f"'{key}' must be true or false, got {show(value)}")
    return value


def get_str(raw: Mapping[str, Any], key: str, default: str | None = None) -> str | None:
    """An optional string setting."""
    value = raw.get(key, _MISSING)
    if value is _MISSING or value is None:
        return default
    if not isinstance(value, str):
        raise SettingError(key, f"'{key}' must be a string, got {type(value).__name__}")
    return value


def oserror_phrase(err: OSError) -> str:
    """A short lower-case phrase for an OS-level socket error."""
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    if isinstance(err, ConnectionResetError):
        return "connection reset"
    if isinstance(err, socket.gaierror):
        return "name resolution failed"
    text = err.strerror or str(err) or type(err).__name__
    return text.strip().lower()


# getaddrinfo() has no timeout of its own; a small bounded pool lets a probe give up
# on a hung resolver at its deadline (the lookup finishes in the background).
_RESOLVER = ThreadPoolExecutor(max_workers=8, thread_name_prefix="availmon-dns")


class ResolveTimeout(Exception):
    """Name resolution did not finish before the probe's deadline."""


def resolve(
    host: str, port: int | None, deadline: float, *, type_: int = socket.SOCK_STREAM
) -> list[tuple[int, tuple[Any, ...]]]:
    """(family, sockaddr) pairs for ``host``, giving up at monotonic ``deadline``.

    Raises ``socket.gaierror`` when the name does not resolve and ``ResolveTimeout``
    when the deadline passes first. IP literals never touch the resolver.
    """
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if ip.version == 6:
            return [(socket.AF_INET6, (str(ip), port or 0, 0, 0))]
        return [(socket.AF_INET, (str(ip), port or 0))]
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ResolveTimeout(host)
    future = _RESOLVER.submit(socket.getaddrinfo, host, port, 0, type_)
    try:
        infos = future.result(timeout=remaining)
    except FutureTimeout:
        future.cancel()
        raise ResolveTimeout(host) from None
    out: list[tuple[int, tuple[Any, ...]]] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6) and (family, sockaddr) not in out:
            out.append((family, sockaddr))
    if not out:
        raise socket.gaierror(socket.EAI_NONAME, "no usable address")
    return out
