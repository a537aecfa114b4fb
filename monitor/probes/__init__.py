"""Probe registry (type name -> its ``ProbeType``) and the one way to run a probe.

Each module named in ``REGISTRY`` defines ``PROBE_TYPE``, an object satisfying
``monitor.probes.base.ProbeType``; modules are imported lazily, on first use of their
type. Adding a type is one module plus one line here: configuration, scheduling, the
set-up check and /metrics ask the registry, never a type by name.
"""

from __future__ import annotations

import functools
import importlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from monitor.probes.base import DetailMetric, Done, ProbeResult, ProbeType, SettingError, wait

REGISTRY: dict[str, str] = {
    "icmp": "monitor.probes.icmp",
    "http": "monitor.probes.http",
    "tcp": "monitor.probes.tcp",
    "dns": "monitor.probes.dns",
}

log = logging.getLogger("availmon")


@functools.cache  # asked once per probe
def probe_type(type_name: str) -> ProbeType:
    """The implementation of probe type ``type_name`` (KeyError if unknown)."""
    implementation: ProbeType = importlib.import_module(REGISTRY[type_name]).PROBE_TYPE
    return implementation


def detail_metrics() -> dict[str, DetailMetric]:
    """Every registered type's ``ProbeResult.details`` key -> the metric it is exported as."""
    return {key: m for name in REGISTRY for key, m in probe_type(name).detail_metrics.items()}


def parse_settings(type_name: str, raw: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    """A target's settings for its type; raises only ``SettingError``, whatever the type does."""
    if not isinstance(raw, Mapping):
        raise SettingError("type", "target must be a mapping")
    try:
        return probe_type(type_name).parse_settings(raw, env)
    except SettingError:
        raise
    except Exception as exc:  # a bug in the type's parser; its text may hold a secret
        raise SettingError("type", f"invalid {type_name} settings ({type(exc).__name__})") from None


def begin(type_name: str, settings: Any, timeout: float, done: Done) -> None:
    """Begin one probe; ``done(result)`` is called once with its result: from the type's
    own thread when it is event-driven, else on this one before returning. A bug in a
    probe becomes a failed result, never an exception for the caller (an exception from
    ``done`` itself still reaches the caller)."""
    implementation = probe_type(type_name)
    started = time.monotonic()
    reported = False

    def report(result: ProbeResult) -> None:
        nonlocal reported
        reported = True
        done(result)

    try:
        implementation.begin(settings, timeout, report)
    except Exception as exc:
        if reported:
            raise
        # a probe must not raise; if one does, say so loudly
        log.exception(
            "%s probe of %s raised (this is a bug in availmon)",
            type_name,
            implementation.describe(settings),
        )
        done(ProbeResult(False, time.monotonic() - started, f"internal error: {exc}"))


def probe_once(type_name: str, settings: Any, timeout: float) -> ProbeResult:
    """Probe once and wait for the result (the ``probe`` command, tests)."""
    return wait(lambda done: begin(type_name, settings, timeout, done))
