"""Live running totals: base + tail must equal a full recomputation from the database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor import config as config_mod
from monitor.daemon import Monitor
from monitor.figures import history
from monitor.figures.periods import LIVE_PERIODS, current_period
from monitor.metrics import DaemonStatus, build_registry, exposition
from monitor.probes.base import ProbeResult
from monitor.scheduling import in_hours
from monitor.store import open_store
from tests.support import FakeClock

UP = ProbeResult(True, 0.01)
DOWN = ProbeResult(False, 0.01, "HTTP 503")


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


CONFIG = {
    "timezone": "Europe/London",
    "defaults": {"interval": "1m", "timeout": "5s"},
    "schedules": {
        "office": {
            "hours": {"mon-fri": "08:00-18:00"},
            "holidays": {"country": "GB", "subdiv": "ENG"},
        }
    },
    "groups": {"systems": {"objective": "99%"}},
    "reporting": {"year_start_month": 4},
    # every per-target series, so that /metrics shows each figure of each period
    "metrics": {
        "target_figures": dict.fromkeys(LIVE_PERIODS, "all"),
        "target_extras": ["target_info", "last_probe_timestamp_seconds"],
    },
    "targets": [
        {
            "name": "web",
            "group": "systems",
            "type": "tcp",
            "host": "127.0.0.1",
            "port": 9,
            "schedule": "office",
        },
        {
            "name": "db",
            "group": "systems",
            "type": "tcp",
            "host": "127.0.0.1",
            "port": 9,
            "schedule": "office",
            "probe_outside_hours": True,
        },
    ],
}


@pytest.fixture
def setup(tmp_path, clock):
    config = config_mod.parse(CONFIG, "t.yaml", {})
    store = open_store(tmp_path / "a.db")
    monitor = Monitor(config, store, clock)
    monitor.resume()
    return config, store, clock, monitor


def play(
    monitor: Monitor,
    clock: FakeClock,
    until: float,
    down: list[tuple[float, float]],
    step: float = 60,
) -> None:
    """Probe every ``step`` seconds (inside hours as the monitor decides) until ``until``."""
    while clock.now < until:
        clock.now += step
        is_down = any(s <= clock.now < e for s, e in down)
        for name in monitor.recorder.status:
            if in_hours(monitor.config, monitor.recorder.status[name].target, clock.now):
                monitor.recorder.record(name, DOWN if is_down else UP, clock.now)
        if int(clock.now) % 900 == 0:
            monitor.heartbeat()
        monitor.maintain_totals()


def assert_matches_recomputation(config, store, monitor, now):
    monitor.heartbeat()  # the stored coverage reaches now, as the live tail assumes
    snapshot = monitor.totals.snapshot(config, now)
    for kind in LIVE_PERIODS:
        period = current_period(kind, now, config.timezone, config.year_start_month)
        full = history.compute(config, history.load(store, config.targets, period, now))
        for result in full.targets:
            live = snapshot.target(result.target.name, kind)
            f = result.figures
            assert live.scheduled == pytest.approx(f.scheduled_seconds, abs=1e-6)
            assert live.monitored == pytest.approx(f.monitored_seconds, abs=1e-6)
            assert live.down == pytest.approx(f.downtime_seconds, abs=1e-6)
            assert live.error_budget_remaining == pytest.approx(
                f.error_budget_remaining_seconds, abs=1e-6
            )
            if f.uptime_ratio is None:
                assert live.uptime_ratio is None
            else:
                assert live.uptime_ratio == pytest.approx(f.uptime_ratio, abs=1e-12)
        for group in full.groups:
            live = snapshot.group(group.name, kind)
            assert live.down == pytest.approx(group.figures.downtime_seconds, abs=1e-6)
            assert live.error_budget_remaining == pytest.approx(
                group.figures.error_budget_remaining_seconds, abs=1e-6
            )


def test_hand_computed_day_figures(setup):
    config, store, clock, monitor = setup
    # Probed from 07:00; down 10:00-10:30 (failures at 10:01.. -> outage 10:01-10:31).
    play(
        monitor,
        clock,
        utc(2024, 3, 6, 12, 0),
        down=[(utc(2024, 3, 6, 10, 1), utc(2024, 3, 6, 10, 31))],
    )
    snapshot = monitor.totals.snapshot(config, clock.now)
    web = snapshot.target("web", "day")
    # Scheduled 08:00-12:00 = 14 400 s, all monitored; down 10:01-10:31 = 1800 s.
    assert (web.scheduled, web.monitored, web.down) == (
        14_400,
        14_400,
        1800,
    )
    assert web.uptime_ratio == 1 - 1800 / 14_400  # 0.875
    # Budget for the whole day: 1% of 10 h = 360 s; remaining 360 - 1800 = -1440.
    assert web.error_budget_remaining == -1440
    # The group: both targets scheduled 14 400 s and down 1800 s.
    group = snapshot.group("systems", "day")
    assert group.down == 3600 and group.uptime_ratio == 1 - 3600 / 28_800
    assert_matches_recomputation(config, store, monitor, clock.now)


def test_open_outage_counts_up_to_the_scrape(setup):
    config, _store, clock, monitor = setup
    play(
        monitor,
        clock,
        utc(2024, 3, 6, 11, 0),
        down=[(utc(2024, 3, 6, 10, 0), utc(2024, 3, 6, 23, 0))],
    )
    first = monitor.totals.snapshot(config, clock.now).target("web", "day").down
    clock.now += 90
    later = monitor.totals.snapshot(config, clock.now).target("web", "day").down
    assert later - first == 90


@pytest.mark.slow  # four weeks probed every five minutes
def test_base_plus_tail_equals_recomputation_over_weeks(setup):
    config, store, clock, monitor = setup
    outages = [
        (utc(2024, 3, 6, 17, 30), utc(2024, 3, 7, 9, 0)),  # across the night
        (utc(2024, 3, 8, 12, 0), utc(2024, 3, 8, 12, 10)),
        (utc(2024, 3, 29, 9, 0), utc(2024, 3, 29, 10, 0)),  # Good Friday
        (utc(2024, 3, 31, 23, 0), utc(2024, 4, 2, 9, 0)),
    ]  # across year end + holiday
    for stop in (utc(2024, 3, 7, 12, 0), utc(2024, 3, 12, 9, 30), utc(2024, 4, 2, 15, 0)):
        play(monitor, clock, stop, outages, step=300)
        assert_matches_recomputation(config, store, monitor, clock.now)


def test_corrections_apply_at_once(setup, tmp_path):
    config, store, clock, monitor = setup
    play(monitor, clock, utc(2024, 3, 6, 12, 0), down=[])
    assert monitor.totals.snapshot(config, clock.now).target("web", "day").down == 0
    other = open_store(tmp_path / "a.db")  # the CLI's own connection
    outage_id = other.add_manual_outage(
        "web", utc(2024, 3, 6, 9, 0), utc(2024, 3, 6, 9, 30), "helpdesk", "alice", clock.now
    )
    monitor.maintain_totals()
    assert monitor.totals.snapshot(config, clock.now).target("web", "day").down == 1800
    other.set_excluded(outage_id, True, "duplicate", "alice", clock.now)
    other.add_maintenance(
        "group",
        "systems",
        utc(2024, 3, 6, 11, 0),
        utc(2024, 3, 6, 13, 0),
        "patching",
        "alice",
        clock.now,
    )
    clock.now += 1
    monitor.maintain_totals()
    snapshot = monitor.totals.snapshot(config, clock.now)
    web = snapshot.target("web", "day")
    assert web.down == 0
    assert web.scheduled == 3 * 3600  # 08:00-11:00, then maintenance from 11:00
    assert snapshot.in_maintenance == {"web": True, "db": True}
    assert_matches_recomputation(config, store, monitor, clock.now)


def test_exported_figures(setup):
    _config, _store, clock, monitor = setup
    play(monitor, clock, utc(2024, 3, 6, 9, 0), down=[])
    text = b"".join(exposition(monitor, build_registry(monitor, DaemonStatus()))).decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }
    key = (("group", "systems"), ("period", "day"), ("target", "web"))
    assert samples[("availmon_uptime_ratio", key)] == 1.0
    assert samples[("availmon_scheduled_seconds", key)] == 3600  # 08:00-09:00
    # The financial quarter (Jan-Mar) began before monitoring: scheduled but unmonitored.
    quarter = (("group", "systems"), ("period", "quarter"), ("target", "web"))
    assert samples[("availmon_monitored_seconds", quarter)] == 3600
    assert samples[("availmon_uptime_ratio", quarter)] == 1.0
    assert (
        samples[("availmon_uptime_objective_ratio", (("group", "systems"), ("target", "web")))]
        == 0.99
    )
    assert (
        samples[("availmon_group_uptime_ratio", (("group", "systems"), ("period", "year")))] == 1.0
    )
    # No maintenance window this year: no in_maintenance series for the target at all.
    assert ("availmon_in_maintenance", (("group", "systems"), ("target", "web"))) not in samples
    # Whole-day budget: 1% of 10 h = 360 s (the remaining figure plus downtime so far).
    assert samples[("availmon_error_budget_seconds", key)] == 360
    assert (
        samples[
            (
                "availmon_target_info",
                (("group", "systems"), ("schedule", "office"), ("target", "web"), ("type", "tcp")),
            )
        ]
        == 1
    )
    assert (
        samples[
            (
                "availmon_last_probe_timestamp_seconds",
                (("group", "systems"), ("target", "web"), ("type", "tcp")),
            )
        ]
        == clock.now
    )
    assert samples[("availmon_store_errors_total", ())] == 0


def test_no_monitored_time_means_no_ratio(setup):
    config, _store, clock, monitor = setup
    # Saturday: no working hours at all this day -> ratio absent, never 1.
    clock.now = utc(2024, 3, 9, 12, 0)
    monitor.totals.rebuild(config, clock.now)
    text = b"".join(exposition(monitor, build_registry(monitor, DaemonStatus()))).decode()
    assert 'availmon_uptime_ratio{target="web",group="systems",period="day"}' not in text
    assert 'availmon_scheduled_seconds{target="web",group="systems",period="day"} 0.0' in text


def test_live_figures_are_this_daemons_vantage_only(tmp_path, clock):
    """Another vantage on the same database (its outage, its isolation) is its own view; a
    person's manual outage is everyone's."""
    config = config_mod.parse(CONFIG, "t.yaml", {})
    store = open_store(tmp_path / "a.db", instance="leeds", vantage="leeds")
    monitor = Monitor(config, store, clock)
    monitor.resume()
    york = open_store(tmp_path / "a.db", instance="york", vantage="york")
    york.begin_coverage([("web", False)], utc(2024, 3, 6, 8, 0))
    york.extend_coverage(utc(2024, 3, 6, 12, 0))
    york.insert_outage("web", utc(2024, 3, 6, 9, 0), "HTTP 503", utc(2024, 3, 6, 9, 0))
    york.insert_isolation(utc(2024, 3, 6, 10, 0), ["gw"], utc(2024, 3, 6, 10, 0))
    play(monitor, clock, utc(2024, 3, 6, 12, 0), down=[])
    web = monitor.totals.snapshot(config, clock.now).target("web", "day")
    assert (web.down, web.monitored) == (0, 4 * 3600)
    york.add_manual_outage(
        "web", utc(2024, 3, 6, 11, 0), utc(2024, 3, 6, 11, 30), "helpdesk", "alice", clock.now
    )
    monitor.maintain_totals()
    web = monitor.totals.snapshot(config, clock.now).target("web", "day")
    assert (web.down, web.monitored) == (1800, 4 * 3600)
