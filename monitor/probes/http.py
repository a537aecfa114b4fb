"""HTTP(S) probe on requests, with a hard total deadline and bounded body reads.

Deadline: requests' ``timeout`` bounds each socket operation, not the exchange, so a
server trickling one byte a second would never time out. Each call therefore arms a
watchdog that shuts down every socket the call opened when the deadline passes (one
thread keeps every call's deadline: a ``threading.Timer`` per call cost as much as the
request); sockets are registered by urllib3 connection subclasses installed through a
private adapter, and found through a thread-local because requests runs the whole
exchange on the calling thread. Per-operation timeouts are the remaining time.

Each probe thread keeps one ``requests.Session`` (making one per call cost more than the
request). Nothing carries over from one call to the next: its cookies are cleared first,
and its pools close every connection handed back to them, so each call opens its own
(as blackbox_exporter, which disables keep-alives, does).
Known gap: a hung system resolver inside urllib3 is bounded only by the resolver's own
timeouts (there is no socket to shut yet).

Redirects are followed by hand (``allow_redirects=False``) so that only http(s) targets
are followed, intermediate bodies are never read, and credentials are dropped when a
redirect leaves the original scheme/host/port.

Certificate expiry: the HTTPS connection subclass keeps the peer's leaf certificate in
DER right after the handshake; ``_tls.cert_not_after`` reads notAfter from it, so it
works with ``tls_verify: false`` too. Only the leaf is seen (Python 3.11 has no API for
the peer chain), so ``ssl_earliest_cert_expiry`` is the leaf's notAfter.
"""

from __future__ import annotations

import base64
import contextlib
import heapq
import http.client
import itertools
import os
import re
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

if TYPE_CHECKING:  # urllib3 defines this protocol for type checkers only
    from urllib3._base_connection import BaseHTTPConnection

from monitor.probes import _common, _tls
from monitor.probes._common import show
from monitor.probes.base import (
    BlockingProbeType,
    DetailMetric,
    ProbeResult,
    ProbeType,
    SettingError,
)

KEYS: frozenset[str] = frozenset(
    {
        "url",
        "method",
        "expect_status",
        "body_matches",
        "body_not_matches",
        "tls_verify",
        "ca_file",
        "headers",
        "basic_auth",
        "bearer_token_file",
        "bearer_token_env",
        "max_redirects",
        "follow_redirects",
    }
)

# ``tls_verify: false`` is a deliberate per-target choice; warning on every probe is noise.
warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)

BODY_LIMIT = 1024 * 1024  # bytes of body read at most; regexes see only this much
_CHUNK = 64 * 1024
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})
_USER_AGENT = "availmon/0.1"
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


@dataclass(frozen=True)
class Settings:
    """A validated http target. Secrets are read at parse time and kept out of repr."""

    url: str
    method: str = "GET"
    expect_status: tuple[tuple[int, int], ...] = ((200, 399),)
    body_matches: re.Pattern[str] | None = None
    body_not_matches: re.Pattern[str] | None = None
    tls_verify: bool = True
    ca_file: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    authorization: str | None = field(default=None, repr=False)
    max_redirects: int = 5
    follow_redirects: bool = True


# --------------------------------------------------------------------------- settings


def _parse_url(value: Any) -> str:
    if value is None:
        raise SettingError("url", "'url' is required")
    if not isinstance(value, str):
        raise SettingError("url", f"'url' must be a string, got {type(value).__name__}")
    url = value.strip()
    if not url or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise SettingError("url", f"'url' is empty or contains whitespace: {show(value)}")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise SettingError(
            "url", f"'url' must start with http:// or https://, got {show(_strip_userinfo(url))}"
        )
    host = parts.hostname
    if not host or not _common.is_valid_host(host):
        raise SettingError("url", f"'url' has no valid host: {show(_strip_userinfo(url))}")
    try:
        port = parts.port
    except ValueError:
        raise SettingError(
            "url", f"'url' has an invalid port: {show(_strip_userinfo(url))}"
        ) from None
    if port == 0:
        raise SettingError("url", f"'url' has an invalid port: {show(_strip_userinfo(url))}")
    return url


def _parse_status(value: Any) -> tuple[tuple[int, int], ...]:
    if value is None:
        return ((200, 399),)
    items = value if isinstance(value, list | tuple) else [value]
    if not items:
        raise SettingError("expect_status", "'expect_status' must not be empty")
    out: list[tuple[int, int]] = []
    for item in items:
        lo: int
        hi: int
        if isinstance(item, int) and not isinstance(item, bool):
            lo = hi = item
        elif isinstance(item, str) and (m := re.fullmatch(r"\s*([1-5])xx\s*", item, re.I)):
            lo, hi = int(m[1]) * 100, int(m[1]) * 100 + 99
        elif isinstance(item, str) and (
            m := re.fullmatch(r"\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?", item)
        ):
            lo = int(m[1])
            hi = int(m[2]) if m[2] else lo
        else:
            raise SettingError(
                "expect_status",
                "'expect_status' entries must be codes like 200, '2xx' or '200-399', "
                f"got {show(item)}",
            )
        if not (100 <= lo <= hi <= 599):
            raise SettingError(
                "expect_status", f"'expect_status' has an invalid code or range: {show(item)}"
            )
        out.append((lo, hi))
    return tuple(out)


def _parse_regex(raw: Mapping[str, Any], key: str) -> re.Pattern[str] | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SettingError(key, f"'{key}' must be a regular expression string")
    try:
        return re.compile(value)
    except re.error as exc:
        raise SettingError(key, f"'{key}' is not a valid regular expression: {exc}") from None


def _parse_headers(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise SettingError("headers", "'headers' must be a mapping of header name to value")
    out: list[tuple[str, str]] = []
    for name, val in value.items():
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise SettingError("headers", f"'headers' has an invalid header name: {show(name)}")
        if isinstance(val, bool) or not isinstance(val, str | int | float):
            raise SettingError("headers", f"header {show(name)} must have a string value")
        text = str(val)
        if "\r" in text or "\n" in text:
            raise SettingError("headers", f"header {show(name)} must not contain line breaks")
        out.append((name, text))
    return tuple(out)


def _read_secret(
    key: str, file_key: str, env_key: str, spec: Mapping[str, Any], env: Mapping[str, str]
) -> str:
    """One secret from exactly one of a file or an environment variable; never echoed."""
    path, var = spec.get(file_key), spec.get(env_key)
    if (path is None) == (var is None):
        raise SettingError(key, f"exactly one of '{file_key}' or '{env_key}' is required")
    if path is not None:
        if not isinstance(path, str) or not path:
            raise SettingError(
                f"{key}.{file_key}" if key != file_key else key, f"'{file_key}' must be a path"
            )
        try:
            with open(path, encoding="utf-8") as fh:
                secret = fh.read().rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = (
                exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            )
            raise SettingError(key, f"cannot read '{file_key}' {path}: {reason}") from None
    else:
        if not isinstance(var, str) or not var:
            raise SettingError(key, f"'{env_key}' must name an environment variable")
        found = env.get(var)
        if found is None:
            raise SettingError(key, f"environment variable {var} (from '{env_key}') is not set")
        secret = str(found)
    source = file_key if path is not None else env_key
    if not secret or "\r" in secret or "\n" in secret or "\x00" in secret:
        raise SettingError(
            key,
            f"the secret from '{source}' is empty or spans lines",
        )
    return secret


def _parse_auth(raw: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    basic = raw.get("basic_auth")
    has_bearer = raw.get("bearer_token_file") is not None or raw.get("bearer_token_env") is not None
    if basic is not None and has_bearer:
        raise SettingError("basic_auth", "use either 'basic_auth' or a bearer token, not both")
    if basic is not None:
        if not isinstance(basic, Mapping):
            raise SettingError(
                "basic_auth",
                "'basic_auth' must be a mapping with username and password_file or password_env",
            )
        unknown = set(basic) - {"username", "password_file", "password_env"}
        if unknown:
            raise SettingError(
                "basic_auth",
                f"'basic_auth' has unknown keys: {', '.join(sorted(map(str, unknown)))}",
            )
        user = basic.get("username")
        if not isinstance(user, str) or not user or ":" in user:
            raise SettingError(
                "basic_auth.username",
                "'basic_auth.username' must be a non-empty string without ':'",
            )
        password = _read_secret("basic_auth", "password_file", "password_env", basic, env)
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return f"Basic {token}"
    if has_bearer:
        key = (
            "bearer_token_file" if raw.get("bearer_token_file") is not None else "bearer_token_env"
        )
        return "Bearer " + _read_secret(key, "bearer_token_file", "bearer_token_env", raw, env)
    return None


def parse_settings(raw: Mapping[str, Any], env: Mapping[str, str]) -> Settings:
    """Validate an http target's keys and read its secrets: ``SettingError`` if bad."""
    url = _parse_url(raw.get("url"))
    method = raw.get("method", "GET")
    if not isinstance(method, str) or method.upper() not in _METHODS:
        raise SettingError(
            "method",
            f"'method' must be one of {', '.join(sorted(_METHODS))}, got {show(method)}",
        )
    ca_file = _common.get_str(raw, "ca_file")
    if ca_file is not None and not os.path.isfile(ca_file):
        raise SettingError("ca_file", f"'ca_file' does not exist or is not a file: {ca_file}")
    return Settings(
        url=url,
        method=method.upper(),
        expect_status=_parse_status(raw.get("expect_status")),
        body_matches=_parse_regex(raw, "body_matches"),
        body_not_matches=_parse_regex(raw, "body_not_matches"),
        tls_verify=_common.get_bool(raw, "tls_verify", True),
        ca_file=ca_file,
        headers=_parse_headers(raw.get("headers")),
        authorization=_parse_auth(raw, env),
        max_redirects=_common.get_int(raw, "max_redirects", 5, minimum=0, maximum=100),
        follow_redirects=_common.get_bool(raw, "follow_redirects", True),
    )


def _strip_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def describe(settings: Settings) -> str:
    """The URL without any user:password part."""
    return _strip_userinfo(settings.url)


# --------------------------------------------------------------------------- deadline


class _Watch:
    """Sockets of one probe call, shut down together when its deadline passes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._done = False
        self.expired = False

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.append(sock)
            if self.expired:
                _abort(sock)

    def fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            for sock in self._socks:
                _abort(sock)

    def finish(self) -> None:
        with self._lock:
            self._done = True


class _Deadlines:
    """Fires each call's watch at its deadline, all from one thread."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def arm(self, deadline: float, watch: _Watch) -> None:
        with self._changed:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="http-deadlines")
                self._thread.daemon = True
                self._thread.start()
            heapq.heappush(self._heap, (deadline, next(self._order), watch))
            if self._heap[0][2] is watch:  # a new earliest deadline: wake up for it
                self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                now = time.monotonic()
                while not self._heap or self._heap[0][0] > now:
                    self._changed.wait(self._heap[0][0] - now if self._heap else None)
                    now = time.monotonic()
                due = []
                while self._heap and self._heap[0][0] <= now:
                    due.append(heapq.heappop(self._heap)[2])
            for watch in due:
                watch.fire()  # a no-op for a call that has finished


_deadlines = _Deadlines()


def _abort(sock: socket.socket) -> None:
    # The plain socket method also works on an SSLSocket without touching its SSL state;
    # a closed socket (fd -1) just raises, so a reused descriptor is never hit.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


_local = threading.local()


def _track(sock: socket.socket) -> None:
    watch: _Watch | None = getattr(_local, "watch", None)
    if watch is not None:
        watch.track(sock)


class _HTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _track(sock)
        return sock


class _HTTPSConnection(HTTPSConnection):
    peer_der: bytes | None = None

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _track(sock)  # covers connect; the TLS socket replaces it after the handshake
        return sock

    def connect(self) -> None:
        super().connect()
        sock = self.sock
        if sock is not None:
            _track(sock)
            if isinstance(sock, ssl.SSLSocket):
                self.peer_der = sock.getpeercert(binary_form=True)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection

    def _put_conn(self, conn: BaseHTTPConnection | None) -> None:
        _close_instead(conn)


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection

    def _put_conn(self, conn: BaseHTTPConnection | None) -> None:
        _close_instead(conn)


def _close_instead(conn: BaseHTTPConnection | None) -> None:
    """A connection handed back to its pool is closed, never kept: every call opens its own."""
    if conn is not None:
        conn.close()


class _Adapter(HTTPAdapter):
    """An adapter whose connections register with the calling thread's watchdog."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


# --------------------------------------------------------------------------- probing


class _Failed(Exception):
    """A probe failure with its cause phrase (and details gathered so far)."""

    def __init__(self, cause: str, details: dict[str, float] | None = None) -> None:
        super().__init__(cause)
        self.cause = cause
        self.details = details or {}


class _Expired(Exception):
    """The deadline passed between steps."""


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _Expired
    return left


def _read_body(resp: requests.Response, deadline: float) -> bytes:
    """At most BODY_LIMIT bytes; the watchdog ends a read that runs past the deadline."""
    chunks: list[bytes] = []
    total = 0
    while total < BODY_LIMIT:
        _remaining(deadline)
        chunk = resp.raw.read(min(_CHUNK, BODY_LIMIT - total), decode_content=True)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _exchange(settings: Settings, session: requests.Session, deadline: float) -> dict[str, float]:
    """Do the request (following redirects) and judge it; raises _Failed on failure."""
    url, method = settings.url, settings.method
    headers = dict(settings.headers)
    if settings.authorization:
        headers["Authorization"] = settings.authorization
    origin = _origin(url)
    verify: bool | str = (settings.ca_file or True) if settings.tls_verify else False
    hops = 0
    while True:
        left = _remaining(deadline)
        prepared = session.prepare_request(requests.Request(method, url, headers=headers))
        resp = session.send(
            prepared, stream=True, timeout=(left, left), verify=verify, allow_redirects=False
        )
        if not (settings.follow_redirects and resp.is_redirect):
            break
        location = session.get_redirect_target(resp) or ""
        status = resp.status_code
        resp.close()  # never read an intermediate body
        hops += 1
        if hops > settings.max_redirects:
            raise _Failed("too many redirects", {"http_status_code": status})
        next_url = urljoin(url, location)
        scheme = urlsplit(next_url).scheme.lower()
        if scheme not in ("http", "https"):
            raise _Failed(
                f"redirect to unsupported scheme {scheme or '(none)'}", {"http_status_code": status}
            )
        if method != "HEAD" and (status in (302, 303) or (status == 301 and method == "POST")):
            method = "GET"
        if _origin(next_url) != origin:
            headers.pop("Authorization", None)  # never hand credentials to another site
        url = next_url

    details: dict[str, float] = {"http_status_code": float(resp.status_code)}
    try:
        conn = getattr(resp.raw, "connection", None)
        der = getattr(conn, "peer_der", None)
        if der and url.lower().startswith("https:"):
            expiry = _tls.cert_not_after(der)
            if expiry is not None:
                details["ssl_earliest_cert_expiry"] = expiry
        if not any(lo <= resp.status_code <= hi for lo, hi in settings.expect_status):
            raise _Failed(f"HTTP {resp.status_code}", details)
        body = b"" if method == "HEAD" else _read_body(resp, deadline)
    finally:
        resp.close()
    if settings.body_matches is None and settings.body_not_matches is None:
        return details
    try:
        text = body.decode(resp.encoding or "utf-8", errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")
    if settings.body_matches is not None and not settings.body_matches.search(text):
        raise _Failed(f"body did not match /{settings.body_matches.pattern}/", details)
    if settings.body_not_matches is not None and settings.body_not_matches.search(text):
        raise _Failed(f"body matched /{settings.body_not_matches.pattern}/", details)
    return details


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps (cause, context, urllib3 .reason, args)."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < 50:
        cur = todo.pop(0)
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        yield cur
        nested = [cur.__cause__, cur.__context__, getattr(cur, "reason", None), *cur.args]
        todo.extend(e for e in nested if isinstance(e, BaseException))


_TLS_EXPIRED, _TLS_HOSTNAME, _TLS_IP = 10, 62, 64


def _cause_for(exc: BaseException, timeout: float) -> str:
    """Map whatever requests/urllib3/ssl raised to a short cause phrase."""
    chain = list(_chain(exc))

    def has(*types: type[BaseException]) -> bool:
        return any(isinstance(e, types) for e in chain)

    for e in chain:
        if isinstance(e, ssl.SSLCertVerificationError):
            if e.verify_code == _TLS_EXPIRED:
                return "TLS certificate expired"
            if e.verify_code in (_TLS_HOSTNAME, _TLS_IP):
                return "TLS hostname mismatch"
            return "TLS certificate not trusted"
        if isinstance(e, ssl.CertificateError):
            return "TLS hostname mismatch"
    if has(urllib3.exceptions.NameResolutionError, socket.gaierror):
        return "name resolution failed"
    if has(ConnectionRefusedError):
        return "connection refused"
    if has(requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError):
        return _common.timeout_cause(timeout)
    if has(ssl.SSLError):
        return "TLS handshake failed"
    if has(http.client.RemoteDisconnected):
        return "connection closed without response"
    if has(http.client.IncompleteRead, urllib3.exceptions.IncompleteRead) or any(
        "ended prematurely" in str(e) for e in chain
    ):
        return "connection closed mid-response"
    if has(
        http.client.HTTPException,
        urllib3.exceptions.HeaderParsingError,
        requests.exceptions.InvalidHeader,
    ):
        return "invalid HTTP response"
    if has(ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        return "connection reset"
    if has(requests.exceptions.ContentDecodingError, urllib3.exceptions.DecodeError):
        return "invalid response encoding"
    if has(requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError):
        return "invalid HTTP response"
    if has(requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema):
        return "invalid URL"
    for e in chain:
        if isinstance(e, OSError) and e.strerror:
            return _common.oserror_phrase(e)
    return f"request failed ({type(exc).__name__})"


def _session() -> requests.Session:
    """This thread's session, made on its first call."""
    session: requests.Session | None = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
        session.trust_env = False  # no proxy variables, no ~/.netrc credentials
        session.headers["User-Agent"] = _USER_AGENT
        adapter = _Adapter()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session


def run(settings: Settings, timeout: float) -> ProbeResult:
    """One request within ``timeout`` seconds in total; never raises for the target's failure."""
    start = time.monotonic()
    deadline = start + timeout
    watch = _Watch()
    session = _session()
    session.cookies.clear()  # cookies live for one call's redirects only
    previous = getattr(_local, "watch", None)
    _local.watch = watch
    _deadlines.arm(deadline, watch)
    success, cause, details = False, None, {}
    try:
        details = _exchange(settings, session, deadline)
        success = True
    except _Failed as failed:
        cause, details = failed.cause, failed.details
    except _Expired:
        cause = _common.timeout_cause(timeout)
    except Exception as exc:  # any target-side failure becomes a cause, never an exception
        try:
            cause = _common.timeout_cause(timeout) if watch.expired else _cause_for(exc, timeout)
        except Exception:  # a mapping bug must not turn a failure into a crash
            cause = f"request failed ({type(exc).__name__})"
    finally:
        watch.finish()
        _local.watch = previous
    if watch.expired:  # the watchdog cut something short: whatever we saw is not trustworthy
        success, cause = False, _common.timeout_cause(timeout)
    return ProbeResult(success, time.monotonic() - start, cause, details)


PROBE_TYPE: ProbeType = BlockingProbeType(
    KEYS,
    parse_settings,
    describe,
    run,
    detail_metrics={
        "http_status_code": DetailMetric("probe_http_status_code", "Response HTTP status code."),
        "ssl_earliest_cert_expiry": DetailMetric(
            "probe_ssl_earliest_cert_expiry", "Earliest SSL cert expiry in unixtime."
        ),
    },
)
