"""Probe registry: type name -> module, imported lazily.

A probe module defines ``KEYS`` (its target keys), ``Settings``,
``parse_settings(raw, env) -> Settings``, ``describe(settings) -> str`` and
``run(settings, timeout) -> ProbeResult``. Adding a type is one module plus
one line here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

REGISTRY: dict[str, str] = {
    "icmp": "monitor.probes.icmp",
    "http": "monitor.probes.http",
    "tcp": "monitor.probes.tcp",
}


def probe_module(type_name: str) -> ModuleType:
    """The module implementing probe type ``type_name`` (KeyError if unknown)."""
    return importlib.import_module(REGISTRY[type_name])
