"""Fixtures shared by the test files.

The fake clock itself lives in tests/support.py (one definition, importable by name); the
fixture here hands a fresh one to any test that only needs "an ordinary working day"."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import settings

from tests.postgres import PostgresServer
from tests.support import FakeClock, SwitchableServer, http_server

# `HYPOTHESIS_PROFILE=fast pytest -m "not slow"` is the inner loop: property tests run a tenth
# of their examples (support.examples for those that name a number). CI runs the default.
settings.register_profile("fast", max_examples=10)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# Wednesday 6 March 2024, 07:00 UTC (= GMT in London): a plain working day, no holiday,
# an hour before the 08:00-18:00 office schedule most test configurations use.
WED_0700 = datetime(2024, 3, 6, 7, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def clock() -> FakeClock:
    """A clock stopped at WED_0700 that moves only when the test moves it."""
    return FakeClock(WED_0700)


@pytest.fixture
def server() -> Iterator[SwitchableServer]:
    """A loopback HTTP server answering every GET with ``server.status`` (200 at first)."""
    with http_server() as srv:
        yield srv


@pytest.fixture
def alice(monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands run as user alice, not through sudo and outside systemd (no
    STATE_DIRECTORY), so trails name her and the database is the one the test gives."""
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    for variable in ("LOGNAME", "USER"):  # getpass.getuser reads these first
        monkeypatch.setenv(variable, "alice")
    monkeypatch.delenv("SUDO_USER", raising=False)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (``database()`` gives each test its own)."""
    server = PostgresServer()
    yield server
    server.remove()


@pytest.fixture
def restartable(postgres: PostgresServer) -> Iterator[PostgresServer]:
    """The session's server, running again after the test whatever the test did to it."""
    yield postgres
    with contextlib.suppress(RuntimeError):  # already stopped
        postgres.stop()
    postgres.start()
