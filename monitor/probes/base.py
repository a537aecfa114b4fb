"""What every probe type returns and how its settings are rejected.

One signature for every probe (blackbox_exporter style): ``run(settings, timeout)``.
A probe that waits on sockets without holding a thread (icmp) also offers
``start(settings, timeout, done)``, which returns at once and calls ``done(result)``
later. The runner owns deadlines, scheduling and the common metrics; a probe only
measures one target once and never raises for that target's failure.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProbeResult:
    """Outcome of one probe.

    ``cause`` is a short human phrase when the probe failed (``HTTP 503``,
    ``timeout after 5s``). ``details`` carries type-specific numbers exported
    as metrics, keyed by the metric's name without the ``probe_`` prefix
    (``http_status_code``, ``ssl_earliest_cert_expiry``, ``icmp_rtt_seconds``,
    ``icmp_packet_loss_ratio``).
    """

    success: bool
    duration_seconds: float
    cause: str | None = None
    details: Mapping[str, float] = field(default_factory=dict)


class SettingError(ValueError):
    """A probe setting is invalid. ``key`` is the offending key inside the target."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


class ProbeSetupError(RuntimeError):
    """The probe type cannot work on this machine at all (e.g. no ICMP socket)."""


Done = Callable[[ProbeResult], None]


def wait(begin: Callable[[Done], object]) -> ProbeResult:
    """Call ``begin(done)``, a probe started the ``start`` way, and wait for its result."""
    results: queue.SimpleQueue[ProbeResult] = queue.SimpleQueue()
    begin(results.put)
    return results.get()
