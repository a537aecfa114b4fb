"""Live figures for the fleet (``run --fleet-figures``): the report's figures, to the digit.

Two vantages ``a`` and ``b`` probe ``web``, ``db`` and ``sw`` (office hours) into one
database, written through the Store API; ``spare`` is in targets.yaml but nobody probes
it.  Tuesday 5 March 2024: both fail ``web`` 09:00-10:00 (down), only ``a`` fails it
11:00-11:30 (not down).  Wednesday 6 March, now 12:00:10: ``a`` alone has an outage of
``web`` open since 10:00 (the fleet says up), both have one of ``db`` open since 11:00
(the fleet says down).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from monitor import config as config_mod
from monitor.config import FIGURE_FAMILIES
from monitor.figures import history
from monitor.figures.fleet import FleetFigures, compute_view, monitoring_now, refresh_every
from monitor.figures.periods import current_period
from monitor.figures.vantages import failing_now
from monitor.metrics import render_fleet
from monitor.shard import owned_targets
from monitor.store import CoverageSpan, Isolation, Outage, Store, StoreError, open_store
from tests.support import (
    FakeClock,
    assert_promtool_accepts,
    availmon_argv,
    fleet_targets_yaml,
    free_port,
    http_server,
    scrape,
)

CONFIG = """
timezone: Europe/London
schedules:
  office: {hours: {mon-fri: "08:00-18:00"}}
defaults: {schedule: office, objective: 99%, interval: 30s, timeout: 5s}
reporting: {year_start_month: 4}
groups:
  systems: {objective: 99%}
  net: {objective: 99.5%}
targets:
  - {name: web, type: http, url: "http://127.0.0.1:9/", group: systems}
  - {name: db, type: tcp, host: 127.0.0.1, port: 9, group: systems}
  - {name: sw, type: icmp, host: 127.0.0.1, group: net}
  - {name: spare, type: icmp, host: 127.0.0.2, group: net}
"""
PROBED = ("web", "db", "sw")


def config(**overrides: object) -> config_mod.Config:
    raw = yaml.safe_load(CONFIG)
    raw.update(overrides)
    return config_mod.parse(raw, "targets.yaml", {})


def at(day: int, clock: str) -> float:
    return datetime.fromisoformat(f"2024-03-0{day}T{clock}").replace(tzinfo=UTC).timestamp()


NOW = at(6, "12:00:10")


def sqlite_url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    return str(tmp_path / "fleet.db")


def postgres_url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("postgres").database()


@pytest.fixture(
    params=[
        pytest.param(sqlite_url, id="sqlite"),
        pytest.param(postgres_url, id="postgres", marks=pytest.mark.slow),  # starts a server
    ]
)
def fleet_db(request, tmp_path) -> Iterator[Store]:
    """The two vantages' history (module docstring), and a store reading it as the CLI does."""
    url: str = request.param(tmp_path, request)
    a = open_store(url, instance="mon-a", vantage="a")
    b = open_store(url, instance="mon-b", vantage="b")
    for store in (a, b):
        store.begin_coverage([(name, False) for name in PROBED], at(5, "08:00"))
        outage = store.insert_outage("web", at(5, "09:00"), "timeout", at(5, "09:01"))
        store.close_outage(outage, at(5, "10:00"))
        store.end_coverage(None, at(5, "18:00"))
        store.begin_coverage([(name, False) for name in PROBED], at(6, "08:00"))
        store.insert_outage("db", at(6, "11:00"), "refused", at(6, "11:01"))
        store.extend_coverage(at(6, "12:00"))
    only_a = a.insert_outage("web", at(5, "11:00"), "timeout", at(5, "11:01"))
    a.close_outage(only_a, at(5, "11:30"))
    a.insert_outage("web", at(6, "10:00"), "timeout", at(6, "10:01"))
    reader = open_store(url)
    yield reader
    for store in (a, b, reader):
        store.close()


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def test_fleet_figures_are_the_reports_figures_to_the_digit(fleet_db):
    cfg = config()
    clock = FakeClock(NOW)
    fleet = FleetFigures(fleet_db, cfg, clock)
    fleet.refresh()
    view = fleet.view()
    assert view is not None and view.now == NOW
    text = b"".join(render_fleet(view))
    got = samples(text)
    expected: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {
        ("availmon_fleet_computed_timestamp_seconds", ()): NOW
    }
    for kind, families in cfg.metrics.target_figures.items():
        period = current_period(kind, NOW, cfg.timezone, cfg.year_start_month)
        report = history.compute(cfg, history.load(fleet_db, cfg.targets, period, NOW))
        for family in families:
            for t in report.targets:
                labels = (("group", t.target.group), ("period", kind), ("target", t.target.name))
                value = getattr(t.figures, family)
                if value is not None:
                    expected[(f"availmon_fleet_{family}", labels)] = value
            for g in report.groups:
                value = getattr(g.figures, family)
                labels = (("group", g.name), ("period", kind))
                if value is not None:
                    expected[(f"availmon_fleet_group_{family}", labels)] = value
    figures = {k: v for k, v in got.items() if k[0] != "availmon_fleet_target_up"}
    assert figures == expected
    # To the last digit: the text is the figure's repr, as the report's JSON carries it.
    quarter = current_period("quarter", NOW, cfg.timezone, cfg.year_start_month)
    web = history.compute(cfg, history.load(fleet_db, cfg.targets, quarter, NOW)).targets[0]
    line = 'availmon_fleet_uptime_ratio{target="web",group="systems",period="quarter"} '
    assert f"{line}{web.figures.uptime_ratio!r}\n".encode() in text
    # Only the failure both vantages saw counts: Tuesday's hour, not a's half hour or
    # its outage open now, while both have db's open outage since 11:00.
    assert web.figures.downtime_seconds == 3600.0
    db = (("group", "systems"), ("period", "quarter"), ("target", "db"))
    assert got[("availmon_fleet_downtime_seconds", db)] == 3600.0


def test_fleet_state_now_one_vantage_failing_is_up_both_is_down(fleet_db):
    view = compute_view(config(), fleet_db, NOW)
    assert view.up == {"web": True, "db": False, "sw": True}  # spare: nobody monitors it
    text = b"".join(render_fleet(view)).decode()
    assert 'availmon_fleet_target_up{target="db",group="systems"} 0.0' in text
    # With a quorum of one, a's failure alone is confirmed.
    quorum_one = config(reporting={"year_start_month": 4, "vantage_quorum": 1})
    assert compute_view(quorum_one, fleet_db, NOW).up["web"] is False
    # Two heartbeats (15 s) after the last one nobody is known to be monitoring: no state.
    assert compute_view(config(), fleet_db, at(6, "12:00:30")).up == {
        "web": True,
        "db": False,
        "sw": True,
    }
    assert compute_view(config(), fleet_db, at(6, "12:00:31")).up == {}


def test_fleet_series_stay_within_the_series_budget(fleet_db):
    """Per target: its state and the five figures the default budget exports per target."""
    text = b"".join(render_fleet(compute_view(config(), fleet_db, NOW))).decode()
    for name in PROBED:
        assert text.count(f'target="{name}"') == 1 + 5
    # Never monitored: no state, and no uptime (quarter, year) without monitored time.
    assert text.count('target="spare"') == 5 - 2
    everything = config(metrics={"target_figures": {"month": "all"}})
    text = b"".join(render_fleet(compute_view(everything, fleet_db, NOW))).decode()
    assert text.count('target="web"') == 1 + len(FIGURE_FAMILIES)


def test_an_unreadable_store_keeps_the_last_view_and_says_so_once(fleet_db, monkeypatch, caplog):
    clock = FakeClock(NOW)
    fleet = FleetFigures(fleet_db, config(), clock)
    fleet.refresh()
    last = fleet.view()

    def away(*args: object, **kwargs: object) -> list[Outage]:
        raise StoreError("database away")

    monkeypatch.setattr(fleet_db, "outages", away)
    with caplog.at_level(logging.INFO, logger="availmon"):
        for _ in range(3):
            clock.advance(60)
            fleet.refresh()
            assert fleet.view() is last
        monkeypatch.undo()
        fleet.refresh()
    view = fleet.view()
    assert view is not None and view.now == NOW + 180
    assert [r.getMessage() for r in caplog.records] == [
        "fleet figures not refreshed, /metrics keeps the last ones: database away",
        "fleet figures refreshed again",
    ]


def test_refresh_every_two_intervals_of_the_most_frequent_target():
    cfg = config()
    assert refresh_every(cfg) == 60.0
    fast = yaml.safe_load(CONFIG)
    fast["targets"][2]["interval"] = "10s"
    assert refresh_every(config_mod.parse(fast, "targets.yaml", {})) == 20.0


@pytest.mark.slow
def test_promtool_check_metrics_is_clean_on_the_fleet_series(fleet_db):
    body = b"".join(render_fleet(compute_view(config(), fleet_db, NOW)))
    assert_promtool_accepts(body)


# -- the current-state rule, pure ------------------------------------------------------


@pytest.mark.parametrize(
    ("failing", "quorum", "expected"),
    [
        ([], None, None),  # nobody monitoring: no state
        ([], 1, None),
        ([False], None, False),
        ([True], None, True),
        ([True, False], None, False),  # one place alone: not confirmed
        ([True, True], None, True),
        ([True, False], 1, True),
        ([True, False, False], 2, False),
        ([True, True, False], 2, True),
        ([True], 2, True),  # fewer monitoring than the quorum: all of those agree
    ],
)
def test_failing_now_is_the_vantage_rule_at_one_instant(failing, quorum, expected):
    assert failing_now(failing, quorum) is expected


def test_failing_now_refuses_a_quorum_below_one():
    with pytest.raises(ValueError, match="at least 1"):
        failing_now([True], 0)


OFFICE = config().schedules["office"]
HB = 15.0


def span(vantage: str, end: float, all_hours: bool = False, source: str | None = None):
    return CoverageSpan("web", at(6, "08:00"), end, all_hours, source, vantage=vantage)


def open_outage(vantage: str, **changes: object) -> Outage:
    outage = Outage(1, "web", at(6, "09:00"), None, "timeout", "detected", False, None)
    return dataclasses.replace(outage, vantage=vantage, **changes)  # type: ignore[arg-type]


def isolation(vantage: str, end: float | None = None) -> Isolation:
    return Isolation(1, at(6, "09:30"), end, ("gw",), vantage=vantage)


@pytest.mark.parametrize(
    ("spans", "outages", "isolations", "expected"),
    [
        ([span("a", NOW), span("b", NOW)], [open_outage("a")], [], [True, False]),
        # b's last heartbeat is more than two heartbeats old: b is not monitoring.
        ([span("a", NOW), span("b", NOW - 2 * HB - 1)], [open_outage("a")], [], [True]),
        ([span("a", NOW), span("b", NOW - 2 * HB)], [open_outage("a")], [], [True, False]),
        # b is cut off now (an isolation open); one that ended does not matter.
        ([span("a", NOW), span("b", NOW)], [], [isolation("b")], [False]),
        ([span("a", NOW), span("b", NOW)], [], [isolation("b", NOW - 60)], [False, False]),
        # Closed and excluded outages, and manual ones, are not a vantage failing now.
        ([span("a", NOW)], [open_outage("a", end=NOW - 60)], [], [False]),
        ([span("a", NOW)], [open_outage("a", excluded=True)], [], [False]),
        ([span("a", NOW)], [open_outage("a", source="manual")], [], [False]),
        # A declared span is history, not a vantage monitoring now.
        ([span("", NOW, source="Nagios")], [], [], []),
        # Rows of the default vantage "" belong to every vantage's view.
        ([span("", NOW)], [open_outage("")], [], [True]),
        ([span("a", NOW), span("b", NOW)], [open_outage("")], [], [True, True]),
    ],
)
def test_monitoring_now(spans, outages, isolations, expected):
    assert monitoring_now(OFFICE, spans, outages, isolations, NOW, HB) == expected


def test_outside_working_hours_only_all_hours_spans_are_monitoring():
    night = at(6, "20:00")
    spans = [span("a", night), span("b", night, all_hours=True)]
    assert monitoring_now(OFFICE, spans, [open_outage("a")], [], night, HB) == [False]


# -- a real daemon -------------------------------------------------------------------


@pytest.mark.slow
def test_a_shard_run_with_fleet_figures_shows_the_other_shards_targets(tmp_path):
    """Two shards on one database; the one with --fleet-figures reports the other's
    target failing within its refresh (two 1 s intervals)."""
    with http_server() as one, http_server() as two:
        config = tmp_path / "targets.yaml"
        servers = {"site1": one, "site2": two}
        config.write_text(fleet_targets_yaml(servers))
        parsed = config_mod.load(str(config))
        mine = [t.name for t in owned_targets(parsed, (1, 2))]
        theirs = [t.name for t in owned_targets(parsed, (2, 2))]
        if not mine or not theirs:  # rendezvous hashing put both on one shard
            pytest.skip("both targets on one shard")
        db, port = str(tmp_path / "fleet.db"), free_port()
        # Created before the two start: two first starts at once race to make the schema.
        open_store(db).close()
        run = availmon_argv("run", "-c", config, "--db", db)
        log = (tmp_path / "daemons.log").open("ab")
        shard1 = subprocess.Popen(
            [*run, "--instance", "s1", "--shard", "1/2", "--listen", f"127.0.0.1:{port}",
             "--fleet-figures"],
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        shard2 = subprocess.Popen(
            [*run, "--instance", "s2", "--shard", "2/2", "--listen", f"127.0.0.1:{free_port()}"],
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        try:

            def fleet_up(name: str) -> float | None:
                return scrape(port).get(f"availmon_fleet_target_up{{group=systems,target={name}}}")

            def wait(what: str, holds: Callable[[], bool]) -> None:
                end = time.monotonic() + 60
                while time.monotonic() < end:
                    with contextlib.suppress(OSError):
                        if holds():
                            return
                    time.sleep(0.2)
                raise AssertionError(f"{what}\n{(tmp_path / 'daemons.log').read_text()}")

            both = (mine[0], theirs[0])
            wait("both up in the fleet view", lambda: all(fleet_up(n) == 1 for n in both))
            servers[theirs[0]].status = 500
            wait("the other shard's target down", lambda: fleet_up(theirs[0]) == 0)
            samples = scrape(port)
            assert f"availmon_target_up{{group=systems,target={theirs[0]}}}" not in samples
            assert fleet_up(mine[0]) == 1
            assert time.time() - samples["availmon_fleet_computed_timestamp_seconds{}"] < 30
        finally:
            for proc in (shard1, shard2):
                proc.send_signal(signal.SIGTERM)
            codes = [proc.wait(timeout=30) for proc in (shard1, shard2)]
        assert codes == [0, 0]
