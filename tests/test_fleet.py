"""Instances sharing one database, as real `availmon run` processes on loopback targets:
two shards and a second vantage read back by one report, an HA pair with one instance
killed, PostgreSQL stopped mid-outage or failed over, one daemon per instance name.

Every figure the report gives is checked against a hand computation from the spans the
instances recorded: a second is monitored when any instance was watching, down when an
outage said so while it was watched.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest

from monitor import config as config_mod
from monitor.shard import owned_targets
from tests.support import (
    LONDON,
    SwitchableServer,
    availmon_argv,
    fleet_targets_yaml,
    free_port,
    http_server,
    intersect,
    length,
    recent_report,
    scrape,
    union,
)

pytestmark = pytest.mark.slow  # real daemons and a real PostgreSQL server

DEADLINE = 60.0  # bound on every wait in this file
HEALTHY = "availmon_store_healthy{}"


def up(target: str) -> str:
    return f"availmon_target_up{{group=systems,target={target}}}"


def probed(target: str) -> str:
    return f"probe_success{{group=systems,target={target}}}"


class Instance:
    """One `availmon run --instance NAME` process on its own /metrics port."""

    def __init__(self, folder: Path, config: Path, db: str, name: str, *flags: str) -> None:
        self.port = free_port()
        self.command = availmon_argv("run", "-c", config, "--db", db, "--instance", name)
        self.command += ["--listen", f"127.0.0.1:{self.port}", *flags]
        self.log = folder / f"{name}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=self.log.open("ab")
        )

    def wait_for(self, what: str, predicate: Callable[[dict[str, float]], bool]) -> None:
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
            try:
                if predicate(scrape(self.port)):
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}\n{self.log.read_text()}")

    def probing(self, targets: Iterable[str]) -> None:
        names = list(targets)
        self.wait_for(f"{names} probed", lambda s: all(s.get(probed(t)) == 1 for t in names))

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


@pytest.fixture
def instances(tmp_path) -> Iterator[Callable[..., Instance]]:
    """Makes instances; any still running at the end is killed."""
    made: list[Instance] = []

    def make(config: Path, db: str, name: str, *flags: str) -> Instance:
        made.append(Instance(tmp_path, config, db, name, *flags))
        return made[-1]

    yield make
    for instance in made:
        if instance.proc is not None and instance.proc.poll() is None:
            instance.stop(signal.SIGKILL)


@pytest.fixture
def targets(tmp_path) -> Iterator[Callable[[list[str]], tuple[Path, dict[str, SwitchableServer]]]]:
    """Writes a targets.yaml of HTTP targets, each on its own loopback server."""
    with ExitStack() as stack:

        def make(names: list[str]) -> tuple[Path, dict[str, SwitchableServer]]:
            servers = {name: stack.enter_context(http_server()) for name in names}
            config = tmp_path / "targets.yaml"
            config.write_text(fleet_targets_yaml(servers))
            return config, servers

        yield make


def rows(url: str, sql: str, args: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as db:
        return db.execute(sql, args).fetchall()


def outages(url: str) -> list[tuple]:
    return rows(url, 'SELECT id, target, start, "end", instance, vantage FROM outages ORDER BY id')


def report(config: Path, db: str) -> dict:
    """The report's targets by name."""
    return {t["name"]: t for t in recent_report(config, db, LONDON)["targets"]}


def by_hand(url: str, target: str) -> tuple[float, float]:
    """(monitored, down) seconds of ``target``: every instance's spans united, and its
    outages counted where they were watched."""
    watched = union(rows(url, 'SELECT start, "end" FROM coverage WHERE target = %s', (target,)))
    down = union((s, e) for _, t, s, e, _, _ in outages(url) if t == target and e is not None)
    return length(watched), length(intersect(down, watched))


# -- the tests ----------------------------------------------------------------


def test_two_shards_and_a_second_vantage_make_one_report(postgres, instances, targets):
    url = postgres.database()
    names = [f"site{i}" for i in range(1, 7)]
    config, servers = targets(names)
    parsed = config_mod.load(str(config))
    first = [t.name for t in owned_targets(parsed, (1, 2))]
    second = [t.name for t in owned_targets(parsed, (2, 2))]
    assert first and second and sorted(first + second) == names
    shard1 = instances(config, url, "shard1", "--shard", "1/2")
    shard2 = instances(config, url, "shard2", "--shard", "2/2")
    york = instances(config, url, "york2", "--shard", "2/2", "--vantage", "york")
    for instance in (shard1, shard2, york):
        instance.start()
    for instance, owned in ((shard1, first), (shard2, second), (york, second)):
        instance.probing(owned)
    failing = first[0]
    servers[failing].status = 503
    shard1.wait_for("outage open", lambda s: s.get(up(failing)) == 0)
    time.sleep(2.0)  # a stretch of real downtime
    servers[failing].status = 200
    shard1.wait_for("outage over", lambda s: s.get(up(failing)) == 1)
    for instance in (shard1, shard2, york):
        assert instance.stop() == 0

    figures = report(config, url)
    assert sorted(figures) == names  # the whole targets file, whichever shard probed it
    for name in names:
        monitored, down = by_hand(url, name)
        assert monitored > 1.0
        assert figures[name]["monitored_seconds"] == pytest.approx(monitored, abs=2e-3)
        assert figures[name]["downtime_seconds"] == pytest.approx(down, abs=2e-3)
        assert (down > 1.0) == (name == failing)
    assert {(t, i, v) for _, t, _, _, i, v in outages(url)} == {(failing, "shard1", "shard1")}
    seen_from = rows(url, "SELECT DISTINCT target, vantage FROM coverage")
    assert set(seen_from) == {(t, "shard1") for t in first} | {
        (t, v) for t in second for v in ("shard2", "york")
    }


def test_an_ha_pair_stays_monitored_while_one_is_killed(postgres, instances, targets):
    url = postgres.database()
    config, _ = targets(["web"])
    a, b = instances(config, url, "a"), instances(config, url, "b")
    a.start()
    b.start()
    a.probing(["web"])
    b.probing(["web"])
    assert a.stop(signal.SIGKILL) == -signal.SIGKILL
    killed = time.time()
    time.sleep(3.0)  # only b is monitoring
    restarting = time.time()
    a.start()  # the same name again: the killed one's claim went with its connection
    a.probing(["web"])
    time.sleep(1.0)
    assert a.stop() == 0 and b.stop() == 0

    spans = rows(url, 'SELECT start, "end", instance FROM coverage ORDER BY start')
    gap = [(killed, restarting)]
    assert intersect(union((s, e) for s, e, i in spans if i == "a"), gap) == []  # a saw none of it
    watched = union((s, e) for s, e, _ in spans)
    assert len(watched) == 1  # the fleet never stopped watching
    assert length(intersect(watched, gap)) == pytest.approx(restarting - killed)
    assert report(config, url)["web"]["monitored_seconds"] == pytest.approx(
        length(watched), abs=2e-3
    )


@pytest.fixture
def watching_web(restartable, instances, targets) -> tuple[str, Instance, SwitchableServer]:
    """Instance a probing web, on a database of the restartable PostgreSQL server: (its
    URL, the instance, web's server)."""
    url = restartable.database()
    config, servers = targets(["web"])
    daemon = instances(config, url, "a")
    daemon.start()
    daemon.probing(["web"])
    return url, daemon, servers["web"]


def test_postgres_stopped_for_30s_mid_outage(restartable, watching_web):
    url, daemon, web = watching_web
    web.status = 503
    daemon.wait_for("outage open", lambda s: s.get(up("web")) == 0)
    [(outage_id, _, start, end, _, _)] = outages(url)  # exported, therefore committed
    assert end is None
    restartable.stop()
    stopped = time.monotonic()
    daemon.wait_for("writes failing", lambda s: s.get(HEALTHY) == 0)
    time.sleep(5.0)
    web.status = 200
    recovered = time.time()
    # Probing and /metrics go on: the outage ends while the database is away.
    daemon.wait_for("outage over", lambda s: s.get(up("web")) == 1 and s.get(HEALTHY) == 0)
    seen_up = time.time()
    time.sleep(max(0.0, 30.0 - (time.monotonic() - stopped)))
    restartable.start()
    daemon.wait_for("held changes written", lambda s: s.get(HEALTHY) == 1)
    [(same_id, target, same_start, end, instance, _)] = outages(url)  # intact, not doubled
    assert (same_id, target, same_start, instance) == (outage_id, "web", start, "a")
    assert recovered - 1.0 <= end <= seen_up  # the first successful probe, as it happened
    assert daemon.stop() == 0


def test_a_postgres_failover_loses_no_committed_outage(restartable, watching_web):
    url, daemon, web = watching_web
    for status, state in ((503, 0), (200, 1), (503, 0)):  # one outage ended, one open
        web.status = status
        daemon.wait_for(f"up = {state}", lambda s, state=state: s.get(up("web")) == state)
    committed = outages(url)
    assert [end is None for _, _, _, end, _, _ in committed] == [False, True]
    restartable.stop()  # immediate: as the primary failing
    restartable.start()  # on the same data
    assert outages(url) == committed
    web.status = 200
    daemon.wait_for("recovered", lambda s: s.get(up("web")) == 1 and s.get(HEALTHY) == 1)
    after = outages(url)
    assert [o[:3] for o in after] == [o[:3] for o in committed]
    assert after[0] == committed[0] and after[1][3] is not None
    restartable.stop()
    assert daemon.stop() == 0  # a clean exit: the next start ends its spans
    assert "coverage left open" in daemon.log.read_text()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_one_daemon_per_instance_name(backend, request, tmp_path, instances, targets):
    db = (
        str(tmp_path / "fleet.db")
        if backend == "sqlite"
        else request.getfixturevalue("postgres").database()
    )
    config, _ = targets(["web"])
    first = instances(config, db, "a")
    first.start()
    first.probing(["web"])
    twin = instances(config, db, "a")
    twin.start()
    assert twin.proc is not None and twin.proc.wait(timeout=30) == 2
    [line] = twin.log.read_text().splitlines()
    assert "another availmon daemon is already using this database as instance 'a'" in line
    other = instances(config, db, "b")
    other.start()
    other.probing(["web"])
    first.probing(["web"])  # still running beside it
    assert first.stop() == 0 and other.stop() == 0
