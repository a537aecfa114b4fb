"""The probe contract: what a probe type offers, what a probe returns, how it fails.

One signature for every probe (blackbox_exporter style): ``run(settings, timeout)``.
A type whose probes wait on sockets without holding a thread (icmp) is
``event_driven``: its ``begin(settings, timeout, done)`` returns at once and calls
``done(result)`` later. Any other type's ``begin`` runs the probe on the caller's
thread, so a scheduler calls it on a pool. The scheduler owns deadlines and the common
metrics; a probe only measures one target once and never raises for that target's
failure. ``BlockingProbeType`` and ``EventDrivenProbeType`` build a ``ProbeType`` from
a module's functions, deriving the one of ``run``/``begin`` the module does not write.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable


@dataclass(frozen=True)
class ProbeResult:
    """Outcome of one probe.

    ``cause`` is a short human phrase when the probe failed (``HTTP 503``,
    ``timeout after 5s``). ``details`` carries type-specific numbers, each exported
    as the metric its type declares in ``detail_metrics`` (``http_status_code``,
    ``ssl_earliest_cert_expiry``, ``icmp_rtt_seconds``, ``icmp_packet_loss_ratio``).
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


@dataclass(frozen=True)
class DetailMetric:
    """The gauge one ``ProbeResult.details`` key is exported as.

    ``labels`` are added to the target's own labels (``(("phase", "rtt"),)``).
    """

    name: str
    help: str
    labels: tuple[tuple[str, str], ...] = ()


@runtime_checkable
class ProbeType(Protocol):
    """A probe type: the keys it takes in a target, how to read and run them."""

    @property
    def keys(self) -> frozenset[str]:
        """The target keys of this type, beside the common ones."""
        ...

    @property
    def detail_metrics(self) -> Mapping[str, DetailMetric]:
        """``ProbeResult.details`` key -> the metric it is exported as."""
        ...

    @property
    def event_driven(self) -> bool:
        """True when ``begin`` returns at once and reports from the type's own thread;
        else ``begin`` runs the probe on the caller's thread, so call it on a pool."""
        ...

    def parse_settings(self, raw: Mapping[str, Any], env: Mapping[str, str]) -> Any:
        """The target's settings; raises only ``SettingError``."""
        ...

    def describe(self, settings: Any) -> str:
        """The target's address as people write it (``mail:25``), never a secret."""
        ...

    def check_setup(self, settings: Sequence[Any]) -> None:
        """Raise ``ProbeSetupError`` if probes of these settings cannot work here at all;
        called before the daemon starts or reloads with targets of this type."""
        ...

    def run(self, settings: Any, timeout: float) -> ProbeResult:
        """Probe once and wait for the result."""
        ...

    def begin(self, settings: Any, timeout: float, done: Done) -> None:
        """Begin one probe; ``done(result)`` is called once, by the deadline at the latest."""
        ...


def wait(begin: Callable[[Done], object]) -> ProbeResult:
    """Call ``begin(done)``, which begins a probe, and wait for the result ``done`` gets."""
    results: queue.SimpleQueue[ProbeResult] = queue.SimpleQueue()
    begin(results.put)
    return results.get()


def _no_setup(settings: Sequence[Any]) -> None:
    """A type that works wherever Python does needs no setup check."""


@dataclass(frozen=True)
class BlockingProbeType:
    """A ``ProbeType`` whose ``run`` holds the calling thread until the probe ends."""

    keys: frozenset[str]
    parse_settings: Callable[[Mapping[str, Any], Mapping[str, str]], Any]
    describe: Callable[[Any], str]
    run: Callable[[Any, float], ProbeResult]
    detail_metrics: Mapping[str, DetailMetric] = field(default_factory=dict)
    check_setup: Callable[[Sequence[Any]], None] = _no_setup
    event_driven: ClassVar[bool] = False

    def begin(self, settings: Any, timeout: float, done: Done) -> None:
        done(self.run(settings, timeout))


@dataclass(frozen=True)
class EventDrivenProbeType:
    """A ``ProbeType`` whose ``begin`` returns at once and reports from its own thread."""

    keys: frozenset[str]
    parse_settings: Callable[[Mapping[str, Any], Mapping[str, str]], Any]
    describe: Callable[[Any], str]
    begin: Callable[[Any, float, Done], None]
    detail_metrics: Mapping[str, DetailMetric] = field(default_factory=dict)
    check_setup: Callable[[Sequence[Any]], None] = _no_setup
    event_driven: ClassVar[bool] = True

    def run(self, settings: Any, timeout: float) -> ProbeResult:
        return wait(lambda done: self.begin(settings, timeout, done))
