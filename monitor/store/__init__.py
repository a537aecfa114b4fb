"""Where availmon keeps its history: the ``Store`` contract and its backends.

Callers depend on ``Store`` and get one from ``open_store``; only the factory
knows which backend a location means.
"""

from __future__ import annotations

import os

from monitor.store.base import (
    DETECTED_IS_EVIDENCE,
    ISOLATION,
    PARENT_RECOVERED,
    Correction,
    CoverageSpan,
    Isolation,
    Maintenance,
    Outage,
    Store,
    StoreError,
)
from monitor.store.postgres import PostgresStore, is_url, without_password
from monitor.store.sqlite import SQLiteStore

__all__ = [
    "DETECTED_IS_EVIDENCE",
    "ISOLATION",
    "PARENT_RECOVERED",
    "Correction",
    "CoverageSpan",
    "Isolation",
    "Maintenance",
    "Outage",
    "PostgresStore",
    "SQLiteStore",
    "Store",
    "StoreError",
    "is_url",
    "open_store",
    "shown",
]


def open_store(
    location: str | os.PathLike[str],
    *,
    create: bool = True,
    busy_timeout: float = 30.0,
    instance: str = "",
    vantage: str = "",
) -> Store:
    """The store at ``location``: a ``postgresql://`` (or ``postgres://``) URL, else a
    SQLite database file path.

    ``create=False`` refuses a database that does not exist yet (the CLI reading
    before the daemon has run); ``busy_timeout`` is how long a write waits for a
    lock held elsewhere before failing. ``instance`` and ``vantage`` say which daemon
    the store writes for, and from where ("" for the CLI).
    """
    location = os.fspath(location)
    who = {"instance": instance, "vantage": vantage}
    if is_url(location):
        return PostgresStore(location, create=create, busy_timeout=busy_timeout, **who)
    if "://" in location:
        # Not echoed: a database URL may carry a password.
        raise StoreError("unsupported database URL; give a postgresql:// URL or a SQLite file path")
    return SQLiteStore(location, create=create, busy_timeout=busy_timeout, **who)


def shown(location: str | os.PathLike[str]) -> str:
    """``location`` as it may be logged or printed: a URL without its password."""
    location = os.fspath(location)
    return without_password(location) if "://" in location else location
