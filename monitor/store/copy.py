"""``availmon db copy``: a whole history from one store to another, SQLite to PostgreSQL
or back, so an install can move without losing its past years.

Rows move as they are, ids included (corrections and split outages name rows by id):
read from the source in one snapshot, written to the destination in one transaction,
so the destination ends with all of it or none of it.
"""

from __future__ import annotations

import os

from monitor.store import StoreError, is_url, open_store, shown


def copy_history(source: str, destination: str, *, replace: bool = False) -> dict[str, int]:
    """Copy every row of ``source`` into ``destination`` (which must hold none, unless
    ``replace``); returns how many rows each table had."""
    if _same(source, destination):
        raise StoreError("the source and the destination are the same database")
    if not is_url(source) and not os.path.exists(source):
        raise StoreError(f"no database at {os.path.abspath(source)}")  # and none is made
    reading = open_store(source, create=False)
    try:
        dump = reading.dump()
    finally:
        reading.close()
    writing = open_store(destination)
    try:
        writing.lock_exclusive()  # a daemon using it refuses the copy; none starts during it
        writing.load(dump, replace=replace)
    finally:
        writing.close()
    return {table: len(rows) for table, rows in dump.items()}


def _same(a: str, b: str) -> bool:
    if is_url(a) or is_url(b):
        return shown(a) == shown(b)
    return os.path.realpath(a) == os.path.realpath(b)
