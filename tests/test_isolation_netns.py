"""Isolation and dependencies end to end: the real daemon inside MON (tests/topology.py),
real ICMP and HTTP, links cut and restored under it.

    MON --- GW --- UP      witnesses: gateway, witness_a, witness_b
             \\
              CORE --- HOSTS  core; host_a and web_a depend on core

What each fault must leave in the store, on /metrics and in the report is checked
against figures worked out here by hand from the store's own rows.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.store import ISOLATION, Isolation, Outage, open_store
from tests.support import Spans, availmon, intersect, length, minus
from tests.topology import Topology, topology

pytestmark = pytest.mark.slow

DEADLINE = 15.0  # bound on every wait for the daemon (it probes every second)
POLL = 0.25  # seconds between scrapes while waiting
# MON is a fresh network namespace: nothing else listens there, so any port is free.
METRICS_PORT = 9464
INTERVAL, TIMEOUT = 1.0, 0.5  # every target's, in the targets file below
SLACK = 0.6  # for the scheduler and the probes on a busy machine
WITNESSES = ("gateway", "witness_a", "witness_b")
BEHIND_CORE = ("host_a", "web_a")
TARGETS = (*WITNESSES, "core", *BEHIND_CORE)


class Monitor:
    """``availmon run`` inside MON on a targets file written here; its database and log
    live in the test's directory, which the root namespace sees too."""

    def __init__(self, topo: Topology, tmp_path: Path, failures_before_down: int) -> None:
        self.topo = topo
        self.config = tmp_path / "targets.yaml"
        self.db = tmp_path / "availmon.db"
        self.log = tmp_path / "daemon.log"
        self.config.write_text(
            "timezone: UTC\n"
            f"listen: 127.0.0.1:{METRICS_PORT}\n"
            "storage: {heartbeat: 1s}\n"
            # The flapping test counts failed probes: an opt-in series (README, Metrics).
            "metrics: {target_extras: [probes_total]}\n"
            f"defaults: {{interval: {INTERVAL}s, timeout: {TIMEOUT}s, "
            f"failures_before_down: {failures_before_down}, schedule: always}}\n"
            f"monitor: {{witnesses: [{', '.join(WITNESSES)}]}}\n"
            "targets:\n"
            f"  - {{name: gateway, group: uplink, type: icmp, host: {topo.gateway}}}\n"
            f"  - {{name: witness_a, group: uplink, type: icmp, host: {topo.witness_a}}}\n"
            f"  - {{name: witness_b, group: uplink, type: icmp, host: {topo.witness_b}}}\n"
            f"  - {{name: core, group: site, type: icmp, host: {topo.core}}}\n"
            f"  - {{name: host_a, group: site, type: icmp, host: {topo.host_a}, "
            "depends_on: [core]}\n"
            f"  - {{name: web_a, group: site, type: http, url: '{topo.url_a}', "
            "depends_on: [core]}\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = self.topo.availmon("run", "-c", self.config, "--db", self.db, log=self.log)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=10)

    def scrape(self) -> dict[str, float] | None:
        """Each sample of /metrics without a period label, as ``name``, ``name[target]``
        or ``name[target,result]``; None while the daemon does not answer."""
        text = self.topo.fetch(f"http://127.0.0.1:{METRICS_PORT}/metrics")
        if text is None:
            return None
        samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = sample.labels
                if "period" in labels:
                    continue
                keys = [labels[k] for k in ("target", "result") if k in labels]
                samples[f"{sample.name}[{','.join(keys)}]" if keys else sample.name] = sample.value
        return samples

    def wait_for(self, what: str, predicate: Callable[[dict[str, float]], bool]) -> dict:
        deadline = time.monotonic() + DEADLINE
        for _ in range(int(DEADLINE / POLL) + 1):
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
            samples = self.scrape()
            if samples is not None and predicate(samples):
                return samples
            if time.monotonic() > deadline:
                break
            time.sleep(POLL)
        raise AssertionError(f"timed out waiting for {what}\n{self.log.read_text()}")

    def wait_all_up(self) -> dict[str, float]:
        return self.wait_for("every target up and answering", all_up)

    def outages(self) -> dict[str, list[Outage]]:
        store = open_store(self.db, create=False)
        try:
            return {t: store.outages(target=t) for t in TARGETS}
        finally:
            store.close()

    def cli(self, *args: str) -> object:
        """An ``availmon`` reading command, run in the root namespace (the database file
        is the same), its JSON output parsed."""
        done = availmon(*args, "-c", self.config, "--db", self.db, timeout=30)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


def began_near(instant: float, change: float) -> bool:
    """Whether ``instant``, a probe's (when it began), can be the first to see a link
    ``change`` made at that wall-clock time: a probe is decided up to a timeout after it
    began, so one begun just before may see it, and one begins every interval."""
    return change - TIMEOUT <= instant <= change + INTERVAL + SLACK


def all_up(samples: dict[str, float]) -> bool:
    return samples.get("availmon_monitor_isolated") == 0 and all(
        samples.get(f"availmon_target_up[{t}]") == 1 and samples.get(f"probe_success[{t}]") == 1
        for t in TARGETS
    )


@pytest.fixture
def net() -> Iterator[Topology]:
    with topology() as topo:
        yield topo


@pytest.fixture
def monitor(net: Topology, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Monitor]:
    """The daemon, started and seen with every target up; ``failures_before_down`` is 2
    unless a test parametrizes this fixture (``indirect=True``) with another."""
    failures = getattr(request, "param", 2)
    daemon = Monitor(net, tmp_path, failures)
    daemon.start()
    daemon.wait_all_up()
    yield daemon
    if daemon.proc is not None and daemon.proc.poll() is None:
        daemon.stop(signal.SIGKILL)


def day_of(instant: float) -> tuple[str, Spans]:
    """The UTC day containing ``instant``: its label and its span."""
    start = datetime.fromtimestamp(instant, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start.date().isoformat(), [(start.timestamp(), (start + timedelta(days=1)).timestamp())]


def expected_day(monitor: Monitor, day: Spans) -> dict[str, dict[str, float]]:
    """Each target's monitored, isolated and down seconds of ``day``, from the rows the
    daemon stored (docs/design.md): C is its coverage minus isolated time, isolated is
    its coverage inside an isolation, down its detected outages inside C."""
    store = open_store(monitor.db, create=False)
    try:
        isolated = [(i.start, i.end) for i in store.isolations() if i.end is not None]
        figures = {}
        for target in TARGETS:
            probed = intersect(
                [(c.start, c.end) for c in store.coverage(target, day[0][0], day[0][1])], day
            )
            covered = minus(probed, isolated)
            outages = [(o.start, o.end) for o in store.outages(target=target) if o.end]
            figures[target] = {
                "monitored_seconds": length(covered),
                "isolated_seconds": length(intersect(probed, isolated)),
                "downtime_seconds": length(intersect(outages, covered)),
            }
        return figures
    finally:
        store.close()


def reported_day(monitor: Monitor, label: str) -> dict[str, dict[str, float]]:
    report = monitor.cli("report", "--period", label, "--format", "json")
    assert isinstance(report, dict)
    keys = ("monitored_seconds", "isolated_seconds", "downtime_seconds", "unmonitored_seconds")
    return {t["name"]: {k: t[k] for k in keys} for t in report["targets"]}


def assert_report_matches_store(monitor: Monitor, instant: float) -> dict[str, dict]:
    """The report of the day containing ``instant`` agrees with the hand calculation for
    every target (JSON seconds are rounded to the millisecond)."""
    label, day = day_of(instant)
    expected = expected_day(monitor, day)
    reported = reported_day(monitor, label)
    for target in TARGETS:
        for key, value in expected[target].items():
            assert reported[target][key] == pytest.approx(value, abs=2e-3), (target, key)
    return reported


# -- the scenarios -------------------------------------------------------------------


def test_hosts_cut_behind_a_working_core_are_down_not_unreachable(monitor, net):
    """CORE answers while its downstream link is cut: its children fail on their own
    account, so they are down. (CORE's HOSTS-facing address cannot stand in for a
    failing parent here: Linux answers for a local address whatever the state of the
    interface holding it, so it keeps answering; the unreachable case is the next test.)"""
    cut = time.time()
    net.core_downstream_down()
    monitor.wait_for(
        "host_a and web_a down, core up",
        lambda s: (
            s["availmon_target_up[core]"] == 1
            and all(s[f"availmon_target_up[{t}]"] == 0 for t in BEHIND_CORE)
            and all(s[f"availmon_target_unreachable[{t}]"] == 0 for t in BEHIND_CORE)
        ),
    )
    time.sleep(max(0.0, cut + 6 - time.time()))
    healed = time.time()
    net.core_downstream_up()
    monitor.wait_all_up()
    assert monitor.stop() == 0

    outages = monitor.outages()
    assert {t: len(o) for t, o in outages.items()} == {
        "gateway": 0,
        "witness_a": 0,
        "witness_b": 0,
        "core": 0,
        "host_a": 1,
        "web_a": 1,
    }
    for target in BEHIND_CORE:
        [outage] = outages[target]
        assert (outage.state, outage.parent, outage.end_reason) == ("down", None, None)
        # It starts at the first failed probe and ends at the first that answered.
        assert began_near(outage.start, cut), target
        assert outage.end is not None and began_near(outage.end, healed), target
    listed = monitor.cli("outages", "list", "--format", "json")
    assert isinstance(listed, list)
    assert sorted((o["target"], o["state"], o["parent"]) for o in listed) == [
        ("host_a", "down", None),
        ("web_a", "down", None),
    ]


def test_core_down_makes_the_hosts_behind_it_unreachable(monitor, net):
    cut = time.time()
    net.core_down()
    during = monitor.wait_for(
        "core down, host_a and web_a unreachable",
        lambda s: (
            s["availmon_target_up[core]"] == 0
            and all(s[f"availmon_target_unreachable[{t}]"] == 1 for t in BEHIND_CORE)
        ),
    )
    assert during["availmon_monitor_isolated"] == 0
    assert all(during[f"availmon_target_up[{t}]"] == 1 for t in WITNESSES)
    assert all(during[f"availmon_target_up[{t}]"] == 0 for t in BEHIND_CORE)
    time.sleep(max(0.0, cut + 6 - time.time()))
    healed = time.time()
    net.core_up()
    after = monitor.wait_all_up()
    assert all(after[f"availmon_target_unreachable[{t}]"] == 0 for t in BEHIND_CORE)
    assert monitor.stop() == 0

    outages = monitor.outages()
    assert {t: len(o) for t, o in outages.items()} == {
        "gateway": 0,
        "witness_a": 0,
        "witness_b": 0,
        "core": 1,
        "host_a": 1,
        "web_a": 1,
    }
    [core] = outages["core"]
    assert (core.state, core.parent, core.end_reason) == ("down", None, None)
    assert began_near(core.start, cut)
    assert core.end is not None and began_near(core.end, healed)
    for target in BEHIND_CORE:
        [outage] = outages[target]
        assert (outage.state, outage.parent) == ("unreachable", "core"), target
        assert began_near(outage.start, cut), target
        # It ends when core is back (parent-recovered) or when it answered itself first.
        assert outage.end is not None and began_near(outage.end, healed), target
        if outage.end_reason is not None:
            assert (outage.end_reason, outage.end) == ("parent-recovered", core.end), target
    listed = monitor.cli("outages", "list", "--format", "json")
    assert isinstance(listed, list)
    assert sorted((o["target"], o["state"], o["parent"]) for o in listed) == [
        ("core", "down", None),
        ("host_a", "unreachable", "core"),
        ("web_a", "unreachable", "core"),
    ]


def assert_only_trimmed(outages: dict[str, list[Outage]], start: float, cut: float) -> None:
    """Targets other than the witnesses opened no outage of their own during the
    isolation beginning at ``start``: any outage they opened as it began (their probes
    failed before the quorum was confirmed) ends where it began, or at its own start."""
    for target in ("core", *BEHIND_CORE):
        assert len(outages[target]) <= 1, (target, outages[target])
        for outage in outages[target]:
            assert outage.end_reason == ISOLATION, (target, outage)
            assert outage.end == max(start, outage.start), (target, outage)
            assert began_near(outage.start, cut), (target, outage)


def assert_witnesses_ended_it(outages: dict[str, list[Outage]], isolation: Isolation) -> None:
    """One outage per witness (carried over any restart), the evidence of the isolation.
    The witness result that took the count below the quorum ended it.  Each instant is
    when a probe began, and results arrive when probes end: a witness whose probe began
    earlier but answered later (its first echo lost) may end up to a timeout before."""
    ends = []
    for witness in WITNESSES:
        [outage] = outages[witness]
        assert (outage.state, outage.end_reason) == ("down", None), outage
        assert outage.start <= isolation.start and outage.end is not None, outage
        ends.append(outage.end)
    assert isolation.end in ends
    assert min(ends) >= isolation.end - TIMEOUT


def test_uplink_cut_isolates_the_monitor_and_no_target_goes_down(monitor, net):
    cut = time.time()
    net.uplink_down()
    isolated = monitor.wait_for("isolated", lambda s: s["availmon_monitor_isolated"] == 1)
    since = isolated["availmon_monitor_isolation_start_timestamp_seconds"]
    # The quorum (all three) was reached at the last witness's first failed probe.
    assert began_near(since, cut)
    time.sleep(max(0.0, cut + 8 - time.time()))
    during = monitor.scrape()
    assert during is not None and during["availmon_monitor_isolated"] == 1
    # Still probed, and failing, but nothing opened an outage.
    assert {t: during[f"probe_success[{t}]"] for t in TARGETS} == dict.fromkeys(TARGETS, 0)
    assert {t: during[f"availmon_target_up[{t}]"] for t in ("core", *BEHIND_CORE)} == {
        "core": 1,
        "host_a": 1,
        "web_a": 1,
    }
    healed = time.time()
    net.uplink_up()
    after = monitor.wait_all_up()
    assert "availmon_monitor_isolation_start_timestamp_seconds" not in after
    assert monitor.stop() == 0

    store = open_store(monitor.db, create=False)
    [isolation] = store.isolations()
    store.close()
    assert isolation.start == since
    assert isolation.witnesses == WITNESSES
    assert isolation.end is not None
    assert began_near(isolation.end, healed), (isolation, healed)
    outages = monitor.outages()
    assert all(began_near(outages[w][0].start, cut) for w in WITNESSES)
    assert_witnesses_ended_it(outages, isolation)
    assert_only_trimmed(outages, since, cut)

    reported = assert_report_matches_store(monitor, since)
    span = isolation.end - isolation.start
    assert span == pytest.approx(8, abs=2.0)
    for target in ("core", *BEHIND_CORE):
        # All of the isolation was inside the daemon's coverage.
        assert reported[target]["isolated_seconds"] == pytest.approx(span, abs=2e-3)
        # Only what failed before the isolation began counts as down.
        before = sum(since - o.start for o in outages[target])
        assert reported[target]["downtime_seconds"] == pytest.approx(before, abs=2e-3)
        assert before <= since - (cut - TIMEOUT)


@pytest.mark.parametrize("monitor", [3], indirect=True)
def test_uplink_flapping_faster_than_the_threshold_records_nothing(monitor, net):
    """Down 1.5 s, up 1.5 s: every target fails a probe or two per cycle (one begins
    every second; an ICMP probe sends its last echo 0.17 s after it began, so any begun
    in the first 1.33 s of a cut fails), never the three in a row that open an outage,
    so no witness fails and the monitor is never isolated.  (A shorter cut, 0.4 s,
    would fail hardly any probe, and the test could not tell flapping from nothing.)"""
    before = monitor.scrape()
    assert before is not None
    cycles = 3
    for _ in range(cycles):
        down = time.time()
        net.uplink_down()
        time.sleep(max(0.0, down + 1.5 - time.time()))
        up = time.time()
        net.uplink_up()
        after = monitor.wait_for("a scrape", lambda s: True)
        assert after["availmon_monitor_isolated"] == 0
        time.sleep(max(0.0, up + 1.5 - time.time()))
    after = monitor.wait_all_up()
    assert monitor.stop() == 0

    for target in TARGETS:
        failures = f"availmon_probes_total[{target},failure]"
        assert after[failures] - before[failures] >= cycles, target
        assert after[f"availmon_outages_total[{target}]"] == 0, target
    store = open_store(monitor.db, create=False)
    assert store.isolations() == []
    store.close()
    assert all(o == [] for o in monitor.outages().values())


def test_sigkill_mid_isolation_and_restart_while_still_isolated(monitor, net):
    cut = time.time()
    net.uplink_down()
    isolated = monitor.wait_for("isolated", lambda s: s["availmon_monitor_isolated"] == 1)
    since = isolated["availmon_monitor_isolation_start_timestamp_seconds"]
    assert began_near(since, cut)
    time.sleep(1.5)  # a heartbeat extends the coverage into the isolation
    killed = time.time()
    assert monitor.stop(signal.SIGKILL) == -signal.SIGKILL
    time.sleep(1.0)  # dead for a while: nobody watches
    restarted = time.time()
    monitor.start()
    # The isolation found open goes on (same start) once the witnesses fail again.
    again = monitor.wait_for(
        "isolated again after the witnesses' first probes",
        lambda s: (
            s.get("availmon_monitor_isolated") == 1
            and all(s.get(f"probe_success[{w}]") == 0 for w in WITNESSES)
        ),
    )
    assert again["availmon_monitor_isolation_start_timestamp_seconds"] == since
    time.sleep(max(0.0, restarted + 3 - time.time()))
    healed = time.time()
    net.uplink_up()
    monitor.wait_all_up()
    assert monitor.stop() == 0

    store = open_store(monitor.db, create=False)
    [isolation] = store.isolations()
    coverage = [(c.start, c.end) for c in store.coverage("core", since - 60, healed + 60)]
    store.close()
    assert isolation.start == since
    assert isolation.end is not None
    assert began_near(isolation.end, healed), (isolation, healed)
    # Two runs: the first watched until its last heartbeat before the kill, the second
    # from its start; the gap between is inside the isolation.
    assert len(coverage) == 2
    assert since < coverage[0][1] <= killed < restarted <= coverage[1][0] < isolation.end
    outages = monitor.outages()
    assert_witnesses_ended_it(outages, isolation)
    assert_only_trimmed(outages, since, cut)

    reported = assert_report_matches_store(monitor, since)
    span = isolation.end - isolation.start
    gap = coverage[1][0] - coverage[0][1]
    for target in ("core", *BEHIND_CORE):
        # Watched but for the isolation: the span less the gap; none of it monitored.
        assert reported[target]["isolated_seconds"] == pytest.approx(span - gap, abs=2e-3)
        assert reported[target]["unmonitored_seconds"] >= span - 2e-3
