"""A real, throwaway PostgreSQL server for the tests (Debian's ``postgresql`` package).

``initdb`` into a temporary folder, ``pg_ctl start`` on a free 127.0.0.1 port and a Unix
socket in that folder, and everything removed at the end, as tests/test_prometheus.py runs
a real Prometheus. As root the binaries run as the ``postgres`` user (initdb refuses root).
Every connection needs a password (scram-sha-256, socket included), so the tests use URLs
that carry one. The socket is for daemons in network namespaces the tests make, which
cannot reach the root namespace's loopback but share its files.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from tests.support import free_port, unavailable

USER = "availmon"
PASSWORD = "s3cret-Pa55word"  # what the tests look for in messages: it must never appear


def binaries() -> Path:
    """The newest installed server's bin folder; in CI its absence fails, locally it skips."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version)
    if not found:
        unavailable(
            "PostgreSQL not installed (Debian package: postgresql; scripts/test.sh installs it)"
        )
    return Path(found[-1]).parent


def _version(pg_ctl: str) -> int:
    return int(Path(pg_ctl).parent.parent.name.split(".")[0])


class PostgresServer:
    """One server in its own temporary folder; ``database()`` makes a fresh database."""

    def __init__(self) -> None:
        self.bin = binaries()
        self.root = Path(tempfile.mkdtemp(prefix="availmon-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._databases = 0
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self._as_postgres:
            shutil.chown(pwfile, "postgres", "postgres")
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256",
            "--no-sync",
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            # Loopback and the socket only. fsync off: an immediate stop (the tests' "crash") keeps
            # what the OS holds, so nothing committed is lost; only a power cut would.
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.root}'\nfsync = off\n"
                "full_page_writes = off\n"
            )
        self.start()

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "start")

    def stop(self) -> None:
        """Stop at once (sessions are cut), as a crash or a restart by an administrator."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, database: str = "postgres", password: str = PASSWORD) -> str:
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def socket_url(self, url: str) -> str:
        """``url`` (one of this server's) through the Unix socket instead of loopback TCP."""
        database = url.rsplit("/", 1)[1]
        return f"postgresql://{USER}:{PASSWORD}@/{database}?host={self.root}&port={self.port}"

    def database(self) -> str:
        """The URL of a new, empty database."""
        self._databases += 1
        name = f"test_{self._databases}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name} STRATEGY FILE_COPY")
        return self.url(name)

    def remove(self) -> None:
        # It may not be running: a test stopped it and failed before starting it again.
        with contextlib.suppress(RuntimeError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
