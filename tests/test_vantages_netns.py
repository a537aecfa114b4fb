"""Two vantage points end to end: a real `availmon run` inside MON (vantage "mon") and
another inside GW (vantage "gw"), probing the same targets over real ICMP and HTTP
(tests/topology.py), both writing one real PostgreSQL database.

    MON --- GW --- UP
             \\
              CORE --- HOSTS   host_a (ICMP) and web_a (HTTP on host_a)

PostgreSQL listens on the root namespace's loopback, which the namespaces cannot reach;
the daemons connect through its Unix socket, a file they share. There are no witnesses:
the faults here never cut a monitor off (tests/test_isolation_netns.py covers that), and
the vantage rule alone must keep a failure of one vantage's path out of the figures.

Each report figure is checked against the vantage rule (docs/design.md, "Several vantage
points") worked out here by hand from the rows the daemons stored.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.store import Outage, open_store
from tests.postgres import PostgresServer
from tests.support import Spans, intersect, length, minus, recent_report, samples, union
from tests.topology import Topology, topology

pytestmark = pytest.mark.slow  # real daemons in network namespaces, a real PostgreSQL

DEADLINE = 20.0  # bound on every wait for a daemon (each probes every second)
POLL = 0.25  # seconds between scrapes while waiting
FAILING = 5.0  # how long each fault lasts
# Each daemon is alone in its network namespace: any port is free there.
METRICS_PORT = 9464
TARGETS = ("host_a", "web_a")
EPSILON = 2e-3  # JSON seconds are rounded to the millisecond


def up(target: str) -> str:
    return f"availmon_target_up{{group=site,target={target}}}"


def probed(target: str) -> str:
    return f"probe_success{{group=site,target={target}}}"


class Vantage:
    """`availmon run --instance ROLE --vantage ROLE` inside the namespace of ``role``
    (mon or gw); its log in the test's folder."""

    def __init__(self, topo: Topology, role: str, config: Path, db: str) -> None:
        self.topo, self.role, self.config, self.db = topo, role, config, db
        self.log = config.parent / f"{role}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = self.topo.availmon(
            *("run", "-c", self.config, "--db", self.db),
            *("--instance", self.role, "--vantage", self.role),
            *("--listen", f"127.0.0.1:{METRICS_PORT}"),
            role=self.role,
            log=self.log,
        )

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)

    def wait_for(self, what: str, predicate: Callable[[dict[str, float]], bool]) -> None:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
            page = self.topo.fetch(f"http://127.0.0.1:{METRICS_PORT}/metrics", role=self.role)
            if page is not None and predicate(samples(page)):
                return
            time.sleep(POLL)
        raise AssertionError(f"{self.role}: timed out waiting for {what}\n{self.log.read_text()}")

    def sees(self, state: int) -> None:
        """Wait until this vantage's last probe of every target had ``state`` (1 up, 0
        down) and its view agrees (an outage open for 0, none for 1)."""
        self.wait_for(
            f"every target {'up' if state else 'down'}",
            lambda s: all(s.get(probed(t)) == state and s.get(up(t)) == state for t in TARGETS),
        )


@pytest.fixture
def net() -> Iterator[Topology]:
    with topology() as topo:
        yield topo


@pytest.fixture
def quorum(request: pytest.FixtureRequest) -> str:
    """``reporting.vantage_quorum``: "all" (the default) unless a test parametrizes it."""
    return getattr(request, "param", "all")


@pytest.fixture
def fleet(
    net: Topology, postgres: PostgresServer, tmp_path: Path, quorum: str
) -> Iterator[tuple[Vantage, Vantage]]:
    """The two vantages (mon, gw) on a fresh database, both running and seeing every
    target up."""
    config = tmp_path / "targets.yaml"
    config.write_text(
        "timezone: UTC\n"
        "storage: {heartbeat: 500ms}\n"
        f"reporting: {{vantage_quorum: {quorum}}}\n"
        "defaults: {interval: 1s, timeout: 500ms, failures_before_down: 2, schedule: always}\n"
        "targets:\n"
        f"  - {{name: host_a, group: site, type: icmp, host: {net.host_a}}}\n"
        f"  - {{name: web_a, group: site, type: http, url: '{net.url_a}'}}\n"
    )
    db = postgres.socket_url(postgres.database())
    mon, gw = Vantage(net, "mon", config, db), Vantage(net, "gw", config, db)
    for vantage in (mon, gw):
        vantage.start()
    for vantage in (mon, gw):
        vantage.sees(1)
    yield mon, gw
    for vantage in (mon, gw):
        if vantage.proc is not None and vantage.proc.poll() is None:
            vantage.stop(signal.SIGKILL)


# -- the store's rows, the vantage rule by hand, and the report ------------------------


View = tuple[Spans, list[Outage]]  # a vantage's coverage and its ended detected outages


def views(db: str, target: str) -> dict[str, View]:
    """Each vantage's view of ``target`` from the stored rows."""
    store = open_store(db, create=False)
    try:
        coverage = store.coverage(target, 0.0, time.time() + 60)
        outages = store.outages(target=target)
    finally:
        store.close()
    assert all(o.end is not None for o in outages), outages  # every fault was healed
    return {
        vantage: (
            union([(c.start, c.end) for c in coverage if c.vantage == vantage]),
            [o for o in outages if o.vantage == vantage],
        )
        for vantage in {c.vantage for c in coverage}
    }


def spans(outages: list[Outage]) -> Spans:
    return union([(o.start, o.end) for o in outages if o.end is not None])


def down_by_hand(seen: dict[str, View], quorum: str) -> Spans:
    """The vantage rule for two vantages: a second is down when all the vantages
    monitoring it (quorum all) or any one (quorum 1) saw the target fail."""
    if quorum == "1":
        return union(
            [s for cover, outages in seen.values() for s in intersect(spans(outages), cover)]
        )
    watched = union([s for cover, _ in seen.values() for s in cover])
    answering = union([s for cover, outages in seen.values() for s in minus(cover, spans(outages))])
    return minus(watched, answering)


def assert_report_follows_the_rule(mon: Vantage, quorum: str) -> dict[str, dict]:
    """Every target's monitored and down seconds, its outage count and each listed
    outage's counted seconds, as the rows and the rule give them. Returns each target's
    figures and its stored views (``target -> {"report": ..., "views": ...}``)."""
    document = recent_report(mon.config, mon.db, ZoneInfo("UTC"))
    assert document["basis"]["vantages"] == ["gw", "mon"]
    listed = {o["id"]: o for o in document["outages"]}
    found = {}
    for figures in document["targets"]:
        seen = views(mon.db, figures["name"])
        assert set(seen) == {"mon", "gw"}
        down = down_by_hand(seen, quorum)
        watched = union([s for cover, _ in seen.values() for s in cover])
        assert figures["monitored_seconds"] == pytest.approx(length(watched), abs=EPSILON)
        assert figures["downtime_seconds"] == pytest.approx(length(down), abs=EPSILON)
        # One failure recorded from both vantages is one incident; no down, no incident.
        assert figures["outages"] == len(union(down))
        assert figures["longest_outage_seconds"] == pytest.approx(
            max((e - s for s, e in union(down)), default=0.0), abs=EPSILON
        )
        for vantage, (_, outages) in seen.items():
            for outage in outages:
                assert listed[outage.id]["vantage"] == vantage
                assert listed[outage.id]["downtime_seconds"] == pytest.approx(
                    length(intersect(spans([outage]), down)), abs=EPSILON
                )
        found[figures["name"]] = {"report": figures, "views": seen}
    return found


# -- the scenarios ---------------------------------------------------------------------


@pytest.mark.parametrize("quorum", ["all", "1"], indirect=True)
def test_a_failure_of_one_vantages_path_counts_only_with_a_quorum_of_one(fleet, net, quorum):
    """MON's route to host_a is cut while GW still reaches it: MON records the outage,
    GW none. By default (all vantages watching must agree) it is not charged to the
    target; with ``vantage_quorum: 1`` MON alone is enough."""
    mon, gw = fleet
    net.block(net.host_a)
    mon.sees(0)
    time.sleep(FAILING)
    gw.sees(1)  # all along: GW's path is whole
    net.unblock(net.host_a)
    mon.sees(1)
    assert mon.stop() == 0 and gw.stop() == 0

    for target, found in assert_report_follows_the_rule(mon, quorum).items():
        seen, figures = found["views"], found["report"]
        assert seen["gw"][1] == [], target
        [outage] = seen["mon"][1]
        failed = spans([outage])
        assert length(failed) > FAILING - 1, target
        # GW watched all of it, so it was monitored throughout.
        assert intersect(failed, seen["gw"][0]) == failed, target
        expected = length(failed) if quorum == "1" else 0.0
        assert figures["downtime_seconds"] == pytest.approx(expected, abs=EPSILON), target


def test_a_failure_both_vantages_see_is_down_where_they_agree_and_one_incident(fleet, net):
    """HOSTS cut off behind CORE, inside a longer failure of MON's own path to host_a:
    both vantages record an outage of each target, MON's the longer. The target is down
    only where the two overlap (GW's stretch, not MON's), and the two are one outage."""
    mon, gw = fleet
    net.block(net.host_a)
    mon.sees(0)
    net.core_downstream_down()
    gw.sees(0)
    time.sleep(FAILING)
    net.core_downstream_up()
    gw.sees(1)
    net.unblock(net.host_a)
    mon.sees(1)
    assert mon.stop() == 0 and gw.stop() == 0

    for target, found in assert_report_follows_the_rule(mon, "all").items():
        seen, figures = found["views"], found["report"]
        [at_mon], [at_gw] = seen["mon"][1], seen["gw"][1]
        both = intersect(spans([at_mon]), spans([at_gw]))
        assert length(both) > FAILING - 1, target
        assert length(spans([at_mon])) > length(both) + 1, target  # not the union
        assert figures["downtime_seconds"] == pytest.approx(length(both), abs=EPSILON), target
        assert figures["outages"] == 1, target


def test_a_stopped_vantage_is_not_monitoring_so_the_other_ones_failure_counts(fleet, net):
    """GW is killed, then MON's path to host_a fails: the failure that did not count
    while GW watched host_a answer counts now that nobody else watches."""
    mon, gw = fleet
    assert gw.stop(signal.SIGKILL) == -signal.SIGKILL
    killed = time.time()
    net.block(net.host_a)
    mon.sees(0)
    time.sleep(FAILING)
    net.unblock(net.host_a)
    mon.sees(1)
    assert mon.stop() == 0

    for target, found in assert_report_follows_the_rule(mon, "all").items():
        seen, figures = found["views"], found["report"]
        gw_watched, gw_outages = seen["gw"]
        assert gw_outages == [] and gw_watched[-1][1] <= killed, target
        [outage] = seen["mon"][1]
        failed = intersect(spans([outage]), seen["mon"][0])
        assert length(failed) > FAILING - 1, target
        assert figures["downtime_seconds"] == pytest.approx(length(failed), abs=EPSILON), target
        assert figures["outages"] == 1, target
