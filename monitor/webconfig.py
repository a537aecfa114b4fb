"""``--web-config FILE``: TLS, basic auth, response headers and rate limiting for
/metrics, in the Prometheus exporters' web configuration format (exporter-toolkit,
docs/web-configuration.md), so a file that works for node_exporter works here::

    tls_server_config:
      cert_file: /etc/availmon/tls.crt        # or cert: <PEM>
      key_file: /etc/availmon/tls.key         # or key: <PEM>
      client_ca_file: /etc/availmon/ca.crt    # or client_ca: <PEM>
      client_auth_type: RequireAndVerifyClientCert
      client_allowed_sans: [prometheus.example.org]
      min_version: TLS12                      # TLS10 .. TLS13
      max_version: TLS13
      cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]   # Go's names
      prefer_server_cipher_suites: true
      curve_preferences: [X25519]             # Go's names
    http_server_config:
      http2: true                             # accepted; the server speaks HTTP/1.1
      headers: {X-Frame-Options: deny}
    basic_auth_users:
      prometheus: $2y$10$...                  # bcrypt hash (htpasswd -nBC 10 "")
    rate_limit: {interval: 1s, burst: 10}

Go's names are mapped to OpenSSL's; where Python's ``ssl`` module cannot express
the Go behaviour, the difference is documented in the README.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from monitor.config import parse_duration

# client_auth_type -> verify mode. Python's ssl verifies every certificate a client sends,
# so RequestClientCert and RequireAnyClientCert also check it (Go takes any certificate).
CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "RequireClientCert": ssl.CERT_REQUIRED,  # the toolkit's old name for RequireAnyClientCert
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
SAN_AUTH_TYPES = ("RequireAnyClientCert", "RequireClientCert", "RequireAndVerifyClientCert")
TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# Go's crypto/tls.CipherSuites() names -> OpenSSL's. None: a TLS 1.3 suite, which neither
# Go nor Python lets a server choose (both always offer all three).
CIPHERS: dict[str, str | None] = {
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_AES_128_GCM_SHA256": None,
    "TLS_AES_256_GCM_SHA384": None,
    "TLS_CHACHA20_POLY1305_SHA256": None,
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
}
# Go's net/http refuses a TLS 1.2 cipher list without one of these while HTTP/2 is on.
HTTP2_CIPHERS = ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
# Go's tls.CurveID names -> OpenSSL's group names.
CURVES = {
    "CurveP256": "prime256v1",
    "CurveP384": "secp384r1",
    "CurveP521": "secp521r1",
    "X25519": "X25519",
    "X25519MLKEM768": "X25519MLKEM768",
    "SecP256r1MLKEM768": "SecP256r1MLKEM768",
    "SecP384r1MLKEM1024": "SecP384r1MLKEM1024",
}
# The only headers the toolkit lets a file set, with the values allowed (None: any).
HEADERS: dict[str, tuple[str, ...] | None] = {
    "Strict-Transport-Security": None,
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": None,
    "Content-Security-Policy": None,
}
TOP_KEYS = {"tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"}
TLS_KEYS = {
    "cert",
    "key",
    "client_ca",
    "cert_file",
    "key_file",
    "client_auth_type",
    "client_ca_file",
    "client_allowed_sans",
    "min_version",
    "max_version",
    "cipher_suites",
    "prefer_server_cipher_suites",
    "curve_preferences",
}
# Setting any of these turns TLS on (the toolkit's TLSConfig.IsEnabled).
TLS_ENABLING = (
    "cert",
    "key",
    "client_ca",
    "cert_file",
    "key_file",
    "client_ca_file",
    "client_auth_type",
)


class WebConfigError(Exception):
    """The web config file cannot be used; the message is one line."""


@dataclass
class BasicAuth:
    """Checks credentials against bcrypt hashes; remembers successes, since bcrypt is slow
    by design and Prometheus sends the same credentials on every scrape."""

    users: dict[str, bytes]
    _verified: set[bytes] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, user: str, password: str) -> bool:
        hashed = self.users.get(user)
        if hashed is None:
            return False
        key = hashlib.sha256(user.encode() + b"\0" + password.encode() + b"\0" + hashed).digest()
        with self._lock:
            if any(hmac.compare_digest(key, known) for known in self._verified):
                return True
        try:
            ok = bcrypt.checkpw(password.encode(), hashed)
        except ValueError:
            return False
        if ok:
            with self._lock:
                self._verified.add(key)
        return ok


@dataclass
class RateLimiter:
    """A token bucket like Go's rate.Limiter: ``burst`` tokens, one more every ``interval``
    seconds; a request without a token is answered 429. Starts full."""

    interval: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _tokens: float = field(init=False)
    _last: float = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)
        self._last = self.clock()

    def allow(self) -> bool:
        with self._lock:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) / self.interval)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


@dataclass(frozen=True)
class WebConfig:
    tls: ssl.SSLContext | None
    auth: BasicAuth | None
    headers: Mapping[str, str] = field(default_factory=dict)
    limiter: RateLimiter | None = None
    client_allowed_sans: frozenset[str] | None = None

    def client_allowed(self, peercert: Mapping[str, Any] | None) -> bool:
        """True unless client_allowed_sans is set and no SAN of the (verified) client
        certificate is on it: DNS names, e-mail addresses, IP addresses and URIs."""
        if self.client_allowed_sans is None:
            return True
        sans = peercert.get("subjectAltName", ()) if peercert else ()
        return any(_san_value(kind, value) in self.client_allowed_sans for kind, value in sans)


def _san_value(kind: str, value: str) -> str:
    """Python spells IPv6 SANs out in full (0:0:0:0:0:0:0:1); Go compares ``::1``."""
    if kind == "IP Address":
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            return value
    return value


def load(path: str) -> WebConfig:
    where = f"{path}: "
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WebConfigError(where + "file not found") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise WebConfigError(where + f"cannot read: {str(exc).splitlines()[0]}") from None
    try:
        return _parse(raw or {}, Path(path).parent)
    except WebConfigError as exc:
        raise WebConfigError(where + str(exc)) from None


def _parse(raw: object, base: Path) -> WebConfig:
    section = _mapping("", raw, TOP_KEYS)
    http = _mapping("http_server_config", section.get("http_server_config"), {"http2", "headers"})
    http2 = http.get("http2", True)
    if not isinstance(http2, bool):
        raise WebConfigError("http_server_config.http2: expected true or false")
    tls_spec = _mapping("tls_server_config", section.get("tls_server_config"), TLS_KEYS)
    tls, sans = (
        _tls(tls_spec, base, http2)
        if any(tls_spec.get(k) for k in TLS_ENABLING)
        else (
            None,
            None,
        )
    )
    return WebConfig(
        tls,
        _users(section.get("basic_auth_users")),
        _headers(http.get("headers")),
        _rate_limit(section.get("rate_limit")),
        sans,
    )


def _mapping(name: str, spec: object, keys: set[str]) -> dict[str, object]:
    """Unknown keys are refused, as the toolkit's strict YAML parsing does."""
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise WebConfigError((name + ": " if name else "") + "expected a mapping")
    unknown = sorted(set(map(str, spec)) - keys)
    if unknown:
        raise WebConfigError(f"{name + '.' if name else ''}{unknown[0]}: unknown key")
    return spec


def _users(users: object) -> BasicAuth | None:
    if not users:
        return None
    if not isinstance(users, dict) or not all(
        isinstance(u, str) and isinstance(h, str) and h.startswith("$2") for u, h in users.items()
    ):
        raise WebConfigError("basic_auth_users: expected user: bcrypt-hash pairs")
    return BasicAuth({u: h.encode() for u, h in users.items()})


def _headers(spec: object) -> dict[str, str]:
    headers = _mapping("http_server_config.headers", spec, set(HEADERS))
    result = {}
    for name, value in headers.items():
        if isinstance(value, bool | dict | list):
            raise WebConfigError(f"http_server_config.headers.{name}: expected a string")
        text = "" if value is None else str(value)
        allowed = HEADERS[name]
        if text and allowed is not None and text not in allowed:
            raise WebConfigError(
                f"http_server_config.headers: invalid value for {name}: expected one of "
                f"{', '.join(allowed)}, got {text!r}"
            )
        if any(c in text for c in "\r\n"):
            raise WebConfigError(f"http_server_config.headers.{name}: no line breaks")
        if text:  # "unset if blank"
            result[name] = text
    return result


def _rate_limit(spec: object) -> RateLimiter | None:
    limit = _mapping("rate_limit", spec, {"interval", "burst"})
    interval, burst = limit.get("interval", 0), limit.get("burst", 0)
    if not isinstance(burst, int) or isinstance(burst, bool) or burst < 0:
        raise WebConfigError("rate_limit.burst: expected a whole number, 0 or more")
    if interval in (0, "0", "0s", None):
        return None  # "set to 0 to disable rate limiter"
    if not isinstance(interval, str):
        raise WebConfigError("rate_limit.interval: expected a duration with a unit, like 1s")
    try:
        return RateLimiter(parse_duration(interval), burst)
    except ValueError as exc:
        raise WebConfigError(f"rate_limit.interval: {exc}") from None


def _names(key: str, spec: dict[str, object], known: Mapping[str, object], what: str) -> list[str]:
    names = spec.get(key) or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise WebConfigError(f"tls_server_config.{key}: expected a list of names")
    for name in names:
        if name not in known:
            raise WebConfigError(f"tls_server_config.{key}: unknown {what}: {name}")
    return names


def _tls(
    spec: dict[str, object], base: Path, http2: bool
) -> tuple[ssl.SSLContext, frozenset[str] | None]:
    def text(key: str) -> str:
        value = spec.get(key) or ""
        if not isinstance(value, str):
            raise WebConfigError(f"tls_server_config.{key}: expected a string")
        return value

    if not (text("cert_file") or text("cert")):
        raise WebConfigError("tls_server_config: missing one of cert or cert_file")
    if not (text("key_file") or text("key")):
        raise WebConfigError("tls_server_config: missing one of key or key_file")
    auth_type = text("client_auth_type") or "NoClientCert"
    if auth_type not in CLIENT_AUTH:
        raise WebConfigError(
            f"tls_server_config.client_auth_type: invalid ClientAuth {auth_type!r}, expected one "
            "of " + ", ".join(CLIENT_AUTH)
        )
    ca_file = base / text("client_ca_file") if text("client_ca_file") else None
    if ca_file is not None and not ca_file.exists():
        raise WebConfigError(f"tls_server_config.client_ca_file: {ca_file}: no such file")
    if auth_type == "NoClientCert" and (text("client_ca_file") or text("client_ca")):
        raise WebConfigError(
            "tls_server_config: client CA's have been configured without a Client Auth Policy "
            "(client_auth_type)"
        )
    sans = spec.get("client_allowed_sans")
    if sans is not None:
        if not isinstance(sans, list) or not all(isinstance(s, str) for s in sans):
            raise WebConfigError("tls_server_config.client_allowed_sans: expected a list")
        if auth_type not in SAN_AUTH_TYPES:
            raise WebConfigError(
                "tls_server_config: client_allowed_sans requires client_auth_type to be one of "
                "RequireAnyClientCert or RequireAndVerifyClientCert"
            )
    versions = []
    for key, default in (("min_version", "TLS12"), ("max_version", "TLS13")):
        name = spec.get(key, default)
        if name not in TLS_VERSIONS:
            raise WebConfigError(f"tls_server_config.{key}: unknown TLS version: {name}")
        versions.append(TLS_VERSIONS[str(name)])
    if versions[0] > versions[1]:
        raise WebConfigError("tls_server_config: min_version is above max_version")
    cipher_names = _names("cipher_suites", spec, CIPHERS, "cipher")
    ciphers = [c for c in map(CIPHERS.get, cipher_names) if c]
    if (
        http2
        and ciphers
        and versions[0] < ssl.TLSVersion.TLSv1_3
        and not set(cipher_names) & set(HTTP2_CIPHERS)
    ):
        raise WebConfigError(
            "tls_server_config.cipher_suites: missing an HTTP/2-required cipher (one of "
            + " or ".join(HTTP2_CIPHERS)
            + "); add one or set http_server_config.http2: false, as Go exporters require"
        )
    curves = [CURVES[c] for c in _names("curve_preferences", spec, CURVES, "curve")]
    prefer_server = spec.get("prefer_server_cipher_suites", True)
    if not isinstance(prefer_server, bool):
        raise WebConfigError(
            "tls_server_config.prefer_server_cipher_suites: expected true or false"
        )

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version, context.maximum_version = versions
    if prefer_server:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    try:
        if ciphers:
            context.set_ciphers(":".join(ciphers))
        if len(curves) == 1:  # Python's ssl sets one group only; a longer list keeps OpenSSL's
            context.set_ecdh_curve(curves[0])
    except (ssl.SSLError, ValueError) as exc:
        raise WebConfigError(f"tls_server_config: {ssl.OPENSSL_VERSION} refuses: {exc}") from None
    _load_cert_chain(context, spec, base, text)
    if ca_file is not None:
        _load(context.load_verify_locations, "client_ca_file", ca_file)
    elif text("client_ca"):
        _load(context.load_verify_locations, "client_ca", None, cadata=text("client_ca"))
    elif auth_type != "NoClientCert":
        context.load_default_certs(ssl.Purpose.CLIENT_AUTH)  # Go: the system roots
    context.verify_mode = CLIENT_AUTH[auth_type]
    return context, (frozenset(map(_normal_san, sans)) if sans is not None else None)


def _normal_san(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value


def _load(call: Callable[..., object], what: str, *args: object, **kwargs: object) -> None:
    try:
        call(*args, **kwargs)
    except ssl.SSLError as exc:  # before OSError, its base class
        raise WebConfigError(
            f"tls_server_config.{what}: no usable PEM data ({exc.reason or exc})"
        ) from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise WebConfigError(f"tls_server_config.{what}: {reason}") from None


def _load_cert_chain(
    context: ssl.SSLContext, spec: dict[str, object], base: Path, text: Callable[[str], str]
) -> None:
    """A file wins over inline PEM, as in the toolkit. OpenSSL loads only from files, so
    inline PEM goes through a private temporary directory, removed at once."""
    with tempfile.TemporaryDirectory(prefix="availmon-web-") as tmp:
        paths = []
        for file_key, inline_key in (("cert_file", "cert"), ("key_file", "key")):
            if text(file_key):
                paths.append(base / text(file_key))
                if not paths[-1].is_file():
                    raise WebConfigError(f"tls_server_config.{file_key}: {paths[-1]}: no such file")
            else:
                paths.append(Path(tmp) / inline_key)
                fd = os.open(paths[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(text(inline_key))
        _load(context.load_cert_chain, "cert_file/key_file", *paths)
