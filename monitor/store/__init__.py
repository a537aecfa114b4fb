"""Where availmon keeps its history: the ``Store`` contract and its backends.

Callers depend on ``Store`` and get one from ``open_store``; only the factory
knows which backend a location means.
"""

from __future__ import annotations

import os

from monitor.store.base import (
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
from monitor.store.sqlite import SQLiteStore

__all__ = [
    "ISOLATION",
    "PARENT_RECOVERED",
    "Correction",
    "CoverageSpan",
    "Isolation",
    "Maintenance",
    "Outage",
    "SQLiteStore",
    "Store",
    "StoreError",
    "open_store",
]


def open_store(
    location: str | os.PathLike[str], *, create: bool = True, busy_timeout: float = 30.0
) -> Store:
    """The store at ``location``: today a SQLite database file path.

    ``create=False`` refuses a database that does not exist yet (the CLI reading
    before the daemon has run); ``busy_timeout`` is how long a write waits for a
    lock held elsewhere before failing.
    """
    if "://" in os.fspath(location):
        # Not echoed: a database URL may carry a password.
        raise StoreError("database URLs are not supported yet; give a SQLite file path")
    return SQLiteStore(location, create=create, busy_timeout=busy_timeout)
