"""The monitor's own faults in the recorder, with an injected clock and a real store:
witness isolation (trimming, splitting, flapping, restarts, reloads) and parent
dependencies (unreachable vs down, either one recovering first, on-demand parent checks
against real loopback servers)."""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor import config as config_mod
from monitor.cli import main
from monitor.daemon import Monitor
from monitor.figures import history
from monitor.figures.periods import parse_period
from monitor.metrics import render_targets
from monitor.probes.base import ProbeResult
from monitor.recording.recorder import IsolationStatus
from monitor.reload import diff_targets
from monitor.store import open_store
from tests.support import FakeClock, http_server

T0 = datetime(2024, 3, 6, 10, 0, tzinfo=UTC).timestamp()  # Wed 10:00 GMT, working hours
UP = ProbeResult(True, 0.01)
DOWN = ProbeResult(False, 0.01, "timeout after 2s")


def config(**extra: object) -> config_mod.Config:
    doc: dict = {
        "defaults": {"interval": "30s", "timeout": "2s", "failures_before_down": 2},
        "monitor": {"witnesses": ["gw", "up-a", "up-b"]},
        "targets": [
            {"name": "gw", "group": "monitor", "type": "tcp", "host": "127.0.0.1", "port": 1},
            {"name": "up-a", "group": "monitor", "type": "tcp", "host": "127.0.0.1", "port": 1},
            {"name": "up-b", "group": "monitor", "type": "tcp", "host": "127.0.0.1", "port": 1},
            {"name": "core", "group": "network", "type": "tcp", "host": "127.0.0.1", "port": 1},
            {"name": "edge", "group": "network", "type": "tcp", "host": "127.0.0.1", "port": 1,
             "depends_on": ["core"]},
            {"name": "web", "group": "systems", "type": "tcp", "host": "127.0.0.1", "port": 1},
        ],
    }  # fmt: skip
    doc.update(extra)
    return config_mod.parse(doc, "t.yaml", {})


@pytest.fixture
def monitor(tmp_path):
    clock = FakeClock(T0)
    m = Monitor(config(), open_store(tmp_path / "a.db"), clock)
    m.resume()
    yield m
    m.store.close()


def probe(m: Monitor, at: float, **results: ProbeResult) -> None:
    """Every named target's probe result at ``at`` (the clock moves there first)."""
    m.clock.now = at  # type: ignore[attr-defined]
    for name, result in results.items():
        m.recorder.record(name, result, at)
    m.heartbeat()


def everyone(result: ProbeResult) -> dict[str, ProbeResult]:
    return dict.fromkeys(("gw", "up-a", "up-b", "core", "edge", "web"), result)


def outages(m: Monitor, target: str | None = None):
    return [
        (o.target, o.start - T0, None if o.end is None else o.end - T0, o.state, o.end_reason)
        for o in m.store.outages(target=target)
    ]


def isolations(m: Monitor):
    return [(i.start - T0, None if i.end is None else i.end - T0) for i in m.store.isolations()]


def test_uplink_failure_is_isolation_not_outages(monitor):
    # web's probes fail first (at 5 and 35: its outage opens at 35 from 5); the witnesses
    # fail at 10 and 40 -> isolated from 10 (the last witness's first failure).
    probe(monitor, T0 + 5, web=DOWN)
    probe(monitor, T0 + 10, gw=DOWN, **{"up-a": DOWN, "up-b": DOWN})
    probe(monitor, T0 + 20, core=DOWN, edge=DOWN)
    probe(monitor, T0 + 35, web=DOWN)
    assert outages(monitor, "web") == [("web", 5, None, "down", None)]
    probe(monitor, T0 + 40, gw=DOWN, **{"up-a": DOWN, "up-b": DOWN})
    assert isolations(monitor) == [(10, None)]
    # web's outage is trimmed where the isolation began; nothing else opens while cut off.
    assert outages(monitor, "web") == [("web", 5, 10, "down", "isolation")]
    for t in range(50, 300, 30):
        probe(monitor, T0 + t, core=DOWN, edge=DOWN, web=DOWN)
    assert outages(monitor, "core") == outages(monitor, "edge") == []
    assert monitor.isolation().since == T0 + 10
    # The uplink returns at 310: the first witness answering below the quorum ends it.
    probe(monitor, T0 + 310, gw=UP, **{"up-a": UP, "up-b": UP})
    assert isolations(monitor) == [(10, 310)]
    # web still fails: its cut outage continues from the isolation's end at once;
    # core answers: nothing.  edge fails again on its own: a fresh streak (two failures).
    probe(monitor, T0 + 320, web=DOWN, core=UP, edge=DOWN)
    [first, second] = monitor.store.outages(target="web")
    assert (second.start - T0, second.end, second.continues) == (310, None, first.id)
    assert outages(monitor, "core") == []
    probe(monitor, T0 + 350, web=UP, edge=DOWN)
    assert outages(monitor, "edge") == [("edge", 320, None, "down", None)]
    assert outages(monitor, "web")[-1] == ("web", 310, 350, "down", None)


def test_figures_treat_isolated_time_as_unmonitored(monitor):
    probe(monitor, T0 + 0, **everyone(UP))
    for t in (600, 630):
        probe(monitor, T0 + t, **everyone(DOWN))
    for t in range(660, 1800, 30):
        probe(monitor, T0 + t, **everyone(DOWN))
    probe(monitor, T0 + 1800, **everyone(UP))
    assert isolations(monitor) == [(600, 1800)]
    for t in range(1830, 3601, 30):
        probe(monitor, T0 + t, **everyone(UP))
    day = parse_period("2024-03-06", "Europe/London", 1)
    now = T0 + 3600
    figures = history.compute(
        monitor.config, history.load(monitor.store, monitor.config.targets, day, now)
    )
    for r in figures.targets:
        # Probed 10:00-11:00 (3 600 s of the "always" day so far); 20 min isolated.
        assert r.figures.isolated_seconds == 1200, r.target.name
        assert r.figures.monitored_seconds == 2400, r.target.name
        if r.target.name not in ("gw", "up-a", "up-b"):
            assert r.figures.downtime_seconds == 0, r.target.name
    # The live running totals say the same as the report.
    monitor.clock.now = now
    monitor.totals.rebuild(monitor.config, now)
    snapshot = monitor.totals.snapshot(monitor.config, now)
    assert snapshot.target("web", "day").monitored == 2400
    assert snapshot.target("web", "day").down == 0
    text = b"".join(render_targets(monitor, now)).decode()
    assert 'availmon_target_unreachable{target="edge",group="network",type="tcp"} 0.0' in text
    assert 'availmon_target_unreachable{target="web"' not in text  # no parents: no series


def test_uplink_flapping_faster_than_the_threshold_records_nothing(monitor):
    for t in range(0, 600, 60):  # every other probe fails, everywhere
        probe(monitor, T0 + t, **everyone(DOWN))
        probe(monitor, T0 + t + 30, **everyone(UP))
    assert isolations(monitor) == [] and outages(monitor) == []


def test_quorum_of_two_ignores_one_failed_witness(tmp_path):
    m = Monitor(
        config(monitor={"witnesses": ["gw", "up-a", "up-b"], "isolated_when": 2}),
        open_store(tmp_path / "a.db"),
        FakeClock(T0),
    )
    m.resume()
    for t in (0, 30, 60):
        probe(m, T0 + t, **{"up-a": DOWN, "web": DOWN})
    assert isolations(m) == []
    assert [o[0] for o in outages(m)] == ["up-a", "web"]
    probe(m, T0 + 90, **{"up-b": DOWN})
    probe(m, T0 + 120, **{"up-b": DOWN})
    assert isolations(m) == [(90, None)]
    assert outages(m, "web") == [("web", 0, 90, "down", "isolation")]


def test_a_probe_begun_in_the_isolation_decides_nothing_after_it_ends(monitor):
    """Results arrive when probes finish, stamped with when they began: a failure begun
    while cut off that reports after the isolation ended does not continue the cut
    outage; only a probe begun after the isolation can."""
    probe(monitor, T0 + 0, web=DOWN)
    probe(monitor, T0 + 5, web=DOWN)
    probe(monitor, T0 + 10, gw=DOWN, **{"up-a": DOWN, "up-b": DOWN})
    probe(monitor, T0 + 40, gw=DOWN, **{"up-a": DOWN, "up-b": DOWN})  # isolated from 10
    probe(monitor, T0 + 100, gw=UP)  # the isolation ends at 100
    monitor.recorder.record("web", DOWN, T0 + 99)  # begun at 99, reports now
    probe(monitor, T0 + 130, web=UP)
    assert outages(monitor, "web") == [("web", 0, 10, "down", "isolation")]


def test_a_probe_begun_before_the_parent_recovered_decides_nothing_after(monitor):
    probe(monitor, T0 + 0, core=DOWN, edge=DOWN)
    probe(monitor, T0 + 5, core=DOWN, edge=DOWN)  # edge unreachable behind core
    probe(monitor, T0 + 100, core=UP)  # core back at 100
    monitor.recorder.record("edge", DOWN, T0 + 98)  # begun while core failed, reports now
    probe(monitor, T0 + 130, edge=UP)
    assert outages(monitor, "edge") == [("edge", 0, 100, "unreachable", "parent-recovered")]


def test_outage_opened_after_the_isolation_began_counts_nothing(monitor):
    # web's first failure (20) is after the witnesses' (10): trimmed to nothing.
    probe(monitor, T0 + 10, gw=DOWN, **{"up-a": DOWN, "up-b": DOWN})
    probe(monitor, T0 + 20, web=DOWN)
    probe(monitor, T0 + 25, web=DOWN)  # opens at 25 from 20, before the witnesses confirm
    probe(monitor, T0 + 40, gw=DOWN, **{"up-a": DOWN, "up-b": DOWN})
    assert outages(monitor, "web") == [("web", 20, 20, "down", "isolation")]


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        # core and edge fail together; core recovers first (at 300), edge still fails and
        # stays down on its own until 400: unreachable 0-300, then down 300-400.
        (
            [(0, "DD"), (30, "DD"), (300, "UD"), (330, "UD"), (400, "UU")],
            [("core", 0, 300, "down", None), ("edge", 0, 300, "unreachable", "parent-recovered"),
             ("edge", 300, 400, "down", None)],
        ),
        # edge recovers first (at 200): its unreachable outage just ends there.
        (
            [(0, "DD"), (30, "DD"), (200, "DU"), (300, "UU")],
            [("core", 0, 300, "down", None), ("edge", 0, 200, "unreachable", None)],
        ),
        # Both come back together: edge answers at core's recovery probe.
        (
            [(0, "DD"), (30, "DD"), (300, "UU")],
            [("core", 0, 300, "down", None), ("edge", 0, 300, "unreachable", "parent-recovered")],
        ),
        # edge fails alone: down, not unreachable.
        (
            [(0, "UD"), (30, "UD"), (60, "UU")],
            [("edge", 0, 60, "down", None)],
        ),
    ],
)  # fmt: skip
def test_unreachable_behind_a_failed_parent(monitor, events, expected):
    codes = {"U": UP, "D": DOWN}
    for t, (core, edge) in events:
        probe(monitor, T0 + t, core=codes[core], edge=codes[edge])
    assert sorted(outages(monitor), key=lambda o: (o[0], o[1])) == expected


def cut_off_from_0_to_90(db: Path) -> Monitor:
    """A monitor on ``db`` whose witnesses all fail every probe from 0 to 90."""
    first = Monitor(config(), open_store(db), FakeClock(T0))
    first.resume()
    for t in (0, 30, 60, 90):
        probe(first, T0 + t, **everyone(DOWN))
    return first


def restarted_at_600(db: Path) -> Monitor:
    """A new monitor on ``db``, started at 600."""
    second = Monitor(config(), open_store(db), FakeClock(T0 + 600))
    second.resume()
    return second


def test_restart_mid_isolation_resumes_it_then_ends_by_the_restart_rule(tmp_path):
    db = tmp_path / "a.db"
    first = cut_off_from_0_to_90(db)
    assert isolations(first) == [(0, None)]
    first.store.close()  # killed: nothing more written; last heartbeat at 90
    second = restarted_at_600(db)
    assert second.isolation().since == T0
    probe(second, T0 + 600, **everyone(DOWN))  # still cut off
    assert isolations(second) == [(0, None)]
    assert outages(second, "web") == []
    # Still failing at the first probe after the restart, so the witnesses' outages and
    # the isolation continue (restart rule) until they answer at 630; the gap 90-600
    # had no coverage anyway.
    probe(second, T0 + 630, **everyone(UP))
    assert isolations(second) == [(0, 630)]
    assert outages(second, "web") == []
    second.store.close()


def test_restart_after_the_isolation_ended_meanwhile_ends_it_at_the_last_heartbeat(tmp_path):
    db = tmp_path / "a.db"
    first = cut_off_from_0_to_90(db)
    first.store.close()  # killed at 90, cut off
    second = restarted_at_600(db)
    probe(second, T0 + 600, **everyone(UP))  # the witnesses answer at once
    assert isolations(second) == [(0, 90)]  # ends where monitoring was last known
    second.store.close()


def test_reload_adding_witnesses_applies_from_the_reload(monitor):
    new = config(monitor={"witnesses": ["gw"]})
    for t in (0, 30):
        probe(monitor, T0 + t, gw=DOWN)  # gw alone failing: not the quorum of three
    assert isolations(monitor) == []
    monitor.clock.now = T0 + 45
    monitor.recorder.reload(new, diff_targets(monitor.config, new), T0 + 45)
    assert isolations(monitor) == [(45, None)]  # from the reload, not from gw's failure
    monitor.recorder.reload(config(monitor={}), diff_targets(new, config(monitor={})), T0 + 100)
    assert isolations(monitor) == [(45, 100)]


def test_stale_parent_is_probed_before_the_child_is_judged(tmp_path):
    # Real loopback servers: core (the parent) is down too, but its last probe was a
    # success from before edge began failing; the daemon probes core at once.
    with http_server() as core_srv, http_server() as edge_srv:
        doc = {
            "defaults": {"interval": "30s", "timeout": "2s"},
            "targets": [
                {"name": "core", "type": "http", "url": core_srv.url},
                {"name": "edge", "type": "http", "url": edge_srv.url, "depends_on": ["core"]},
            ],
        }
        m = Monitor(config_mod.parse(doc, "t.yaml", {}), open_store(tmp_path / "a.db"),
                    FakeClock(T0))  # fmt: skip
        m.resume()
        probe(m, T0, core=UP, edge=UP)
        core_srv.status = edge_srv.status = 503
        probe(m, T0 + 10, edge=DOWN)
        probe(m, T0 + 40, edge=DOWN)  # opens; core last heard at T0 (before 10): check it
        deadline = time.monotonic() + 10
        while m.store.outages(target="edge") == [] and time.monotonic() < deadline:
            time.sleep(0.02)
        [edge] = m.store.outages(target="edge")
        assert (edge.state, edge.parent) == ("unreachable", "core")
        assert m.recorder.status["core"].last is not None
        assert not m.recorder.status["core"].last.success  # the on-demand probe's result
        m.store.close()


def test_fresh_parent_is_not_probed_again(monitor):
    # core answered at 20, after edge's first failure (10): core is up, edge is down.
    probe(monitor, T0 + 10, edge=DOWN)
    probe(monitor, T0 + 20, core=UP)
    probe(monitor, T0 + 40, edge=DOWN)
    assert outages(monitor, "edge") == [("edge", 10, None, "down", None)]


def test_monitor_status_for_metrics(monitor):
    for t in (0, 30):
        probe(monitor, T0 + t, core=DOWN, edge=DOWN)
    status = monitor.recorder.status
    assert status["edge"].outage_parent == "core" and status["core"].outage_parent is None
    text = b"".join(render_targets(monitor, T0 + 30)).decode()
    assert 'availmon_target_unreachable{target="edge",group="network",type="tcp"} 1.0' in text
    assert dataclasses.replace(status["edge"]).outage_cause == "timeout after 2s"


def test_outages_list_says_why(monitor, tmp_path, capsys):
    for t in (0, 30):
        probe(monitor, T0 + t, core=DOWN, edge=DOWN)
    probe(monitor, T0 + 60, core=UP, edge=UP)
    db = str(tmp_path / "a.db")
    assert main(["outages", "list", "--db", db, "-c", str(tmp_path / "none.yaml")]) == 0
    text = capsys.readouterr().out
    assert "[unreachable: core was down (outage 1); ended when core answered again]" in text
    assert main(["outages", "list", "--db", db, "--format", "json", "--target", "edge"]) == 0
    [edge] = json.loads(capsys.readouterr().out)
    assert (edge["state"], edge["parent"], edge["end_reason"]) == (
        "unreachable",
        "core",
        "parent-recovered",
    )
    assert edge["parent_outage"] is None  # core's outage is not in a list of edge's


def test_a_restart_resumes_its_own_isolation_not_another_instances(tmp_path):
    db = tmp_path / "a.db"
    elsewhere = open_store(db, instance="york", vantage="york")
    elsewhere.insert_isolation(T0, ["gw", "up-a", "up-b"], T0 + 60)  # york is cut off
    here = Monitor(config(), open_store(db, instance="leeds", vantage="leeds"), FakeClock(T0))
    here.resume()
    assert here.isolation() == IsolationStatus(None, ())
    for t in (0, 30):
        probe(here, T0 + 100 + t, web=DOWN)
    # Not held back by york's isolation:
    assert outages(here, "web") == [("web", 100, None, "down", None)]
    here.store.close()
    elsewhere.close()
