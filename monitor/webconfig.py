"""``--web-config FILE``: TLS and basic auth for /metrics, in the format of the
Prometheus exporters' web configuration (exporter-toolkit), so admins reuse
the files and knowledge they already have::

    tls_server_config:
      cert_file: /etc/availmon/tls.crt
      key_file: /etc/availmon/tls.key
      client_ca_file: /etc/availmon/ca.crt          # optional
      client_auth_type: RequireAndVerifyClientCert  # optional
    basic_auth_users:
      prometheus: $2y$10$...                        # bcrypt hash (htpasswd -nBC 10 "")
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
import yaml

CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
TLS_KEYS = {"cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version"}
MIN_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}


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


@dataclass(frozen=True)
class WebConfig:
    tls: ssl.SSLContext | None
    auth: BasicAuth | None


def load(path: str) -> WebConfig:
    where = f"{path}: "
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WebConfigError(where + "file not found") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise WebConfigError(where + f"cannot read: {str(exc).splitlines()[0]}") from None
    raw = raw or {}
    if not isinstance(raw, dict):
        raise WebConfigError(where + "expected a mapping")
    unknown = set(raw) - {"tls_server_config", "basic_auth_users", "http_server_config"}
    if unknown:
        raise WebConfigError(where + f"unknown key {sorted(unknown)[0]!r}")
    tls = _tls(where, raw.get("tls_server_config"), Path(path).parent)
    users = raw.get("basic_auth_users")
    auth = None
    if users:
        if not isinstance(users, dict) or not all(
            isinstance(u, str) and isinstance(h, str) and h.startswith("$2")
            for u, h in users.items()
        ):
            raise WebConfigError(where + "basic_auth_users: expected user: bcrypt-hash pairs")
        auth = BasicAuth({u: h.encode() for u, h in users.items()})
    return WebConfig(tls, auth)


def _tls(where: str, spec: object, base: Path) -> ssl.SSLContext | None:
    if not spec:
        return None
    if not isinstance(spec, dict):
        raise WebConfigError(where + "tls_server_config: expected a mapping")
    unknown = set(spec) - TLS_KEYS
    if unknown:
        raise WebConfigError(where + f"tls_server_config.{sorted(unknown)[0]}: unknown key")
    for key in ("cert_file", "key_file"):
        if not isinstance(spec.get(key), str):
            raise WebConfigError(where + f"tls_server_config.{key}: required")
    auth_type = spec.get("client_auth_type", "NoClientCert")
    if auth_type not in CLIENT_AUTH:
        raise WebConfigError(
            where + "tls_server_config.client_auth_type: expected one of " + ", ".join(CLIENT_AUTH)
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MIN_VERSIONS.get(
        spec.get("min_version", "TLS12"), ssl.TLSVersion.TLSv1_2
    )
    try:
        context.load_cert_chain(base / spec["cert_file"], base / spec["key_file"])
        if spec.get("client_ca_file"):
            context.load_verify_locations(base / spec["client_ca_file"])
        elif auth_type in ("RequireAndVerifyClientCert", "VerifyClientCertIfGiven"):
            raise WebConfigError(where + f"tls_server_config: {auth_type} needs client_ca_file")
    except (OSError, ssl.SSLError) as exc:
        raise WebConfigError(where + f"tls_server_config: {exc}") from None
    context.verify_mode = CLIENT_AUTH[auth_type]
    return context
