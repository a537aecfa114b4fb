"""The monitor against real loopback HTTP servers, with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor import config as config_mod
from monitor.daemon import Monitor
from monitor.store import Store, open_store
from tests.support import FakeClock

# Wednesday 2024-03-06 10:00 UTC (= 10:00 GMT, inside office hours)
WED_10 = datetime(2024, 3, 6, 10, 0, tzinfo=UTC).timestamp()
# Saturday 2024-03-09 10:00 UTC (outside office hours)
SAT_10 = datetime(2024, 3, 9, 10, 0, tzinfo=UTC).timestamp()


def make_config(url: str, **target: object) -> config_mod.Config:
    doc = {
        "defaults": {"interval": "30s", "timeout": "2s"},
        "schedules": {
            "office": {
                "hours": {"mon-fri": "08:00-18:00"},
                "holidays": {"country": "GB", "subdiv": "ENG"},
            }
        },
        "targets": [{"name": "web", "group": "systems", "type": "http", "url": url, **target}],
    }
    return config_mod.parse(doc, "test.yaml", {})


def probe_at(monitor: Monitor, clock: FakeClock, at: float) -> None:
    clock.now = at
    monitor.scheduler.probe_job("web")


def test_outage_detected_recorded_and_closed(tmp_path, server):
    store = open_store(tmp_path / "a.db")
    clock = FakeClock(WED_10)
    monitor = Monitor(make_config(server.url), store, clock)
    monitor.resume()
    probe_at(monitor, clock, WED_10)
    server.status = 503
    probe_at(monitor, clock, WED_10 + 30)  # first failure: no outage yet
    assert store.open_outages() == []
    probe_at(monitor, clock, WED_10 + 60)  # second: opens, starting at the first
    [outage] = store.open_outages()
    assert (outage.start, outage.cause) == (WED_10 + 30, "HTTP 503")
    status = monitor.recorder.status  # a live view: each read is the current status
    assert status["web"].state.down and status["web"].outages_total == 1
    assert monitor.recorder.outage("web").id == outage.id
    server.status = 200
    probe_at(monitor, clock, WED_10 + 90)  # first success ends it
    [closed] = store.outages()
    assert (closed.start, closed.end) == (WED_10 + 30, WED_10 + 90)
    assert (status["web"].successes, status["web"].failures) == (2, 2)


def test_no_probing_outside_working_hours(tmp_path, server):
    store = open_store(tmp_path / "a.db")
    clock = FakeClock(SAT_10)
    monitor = Monitor(make_config(server.url, schedule="office"), store, clock)
    monitor.resume()
    server.status = 503
    for k in range(5):
        probe_at(monitor, clock, SAT_10 + 30 * k)
    live = monitor.recorder.status["web"]
    assert (live.successes, live.failures, live.last) == (0, 0, None)
    # ... unless the target asks to be probed around the clock
    monitor = Monitor(
        make_config(server.url, schedule="office", probe_outside_hours=True), store, clock
    )
    monitor.resume()
    probe_at(monitor, clock, SAT_10)
    assert monitor.recorder.status["web"].failures == 1


def crash_with_open_outage(tmp_path, server) -> tuple[Store, int, float]:
    """Run until an outage is open, heartbeat, then 'die' (no clean stop)."""
    store = open_store(tmp_path / "a.db")
    clock = FakeClock(WED_10)
    monitor = Monitor(make_config(server.url), store, clock)
    monitor.resume()
    server.status = 503
    probe_at(monitor, clock, WED_10)
    probe_at(monitor, clock, WED_10 + 30)
    clock.now = WED_10 + 45
    monitor.heartbeat()  # last instant known to be monitoring
    [outage] = store.open_outages()
    store.close()
    return open_store(tmp_path / "a.db"), outage.id, WED_10 + 45


def test_restart_outage_continues_when_still_failing(tmp_path, server):
    store, outage_id, _ = crash_with_open_outage(tmp_path, server)
    clock = FakeClock(WED_10 + 600)
    monitor = Monitor(make_config(server.url), store, clock)
    monitor.resume()
    assert monitor.recorder.status["web"].state.down
    probe_at(monitor, clock, WED_10 + 600)  # still failing: same outage, still open
    assert [o.id for o in store.open_outages()] == [outage_id]
    server.status = 200
    probe_at(monitor, clock, WED_10 + 630)
    [outage] = store.outages()
    assert (outage.id, outage.start, outage.end) == (outage_id, WED_10, WED_10 + 630)


def test_restart_outage_ends_at_last_heartbeat_when_up_again(tmp_path, server):
    store, outage_id, last_heartbeat = crash_with_open_outage(tmp_path, server)
    server.status = 200
    clock = FakeClock(WED_10 + 600)
    monitor = Monitor(make_config(server.url), store, clock)
    monitor.resume()
    probe_at(monitor, clock, WED_10 + 600)
    [outage] = store.outages()
    assert (outage.id, outage.end) == (outage_id, last_heartbeat)
    # The gap is unmonitored: coverage has a hole between the runs.
    spans = [(c.start, c.end) for c in store.coverage("web", 0, WED_10 + 10_000)]
    assert spans == [(WED_10, last_heartbeat), (WED_10 + 600, WED_10 + 600)]


def test_target_removed_while_down_ends_where_monitoring_ended(tmp_path, server):
    store, outage_id, last_heartbeat = crash_with_open_outage(tmp_path, server)
    doc_without_web = config_mod.parse(
        {"targets": [{"name": "other", "type": "tcp", "host": "127.0.0.1", "port": 9}]},
        "t.yaml",
        {},
    )
    monitor = Monitor(doc_without_web, store, FakeClock(WED_10 + 600))
    monitor.resume()
    [outage] = store.outages()
    assert (outage.id, outage.end) == (outage_id, last_heartbeat)


def test_reload_adds_removes_and_changes_targets(tmp_path, server):
    store = open_store(tmp_path / "a.db")
    clock = FakeClock(WED_10)
    first = config_mod.parse(
        {
            "targets": [
                {"name": "a", "type": "http", "url": server.url, "interval": "1h"},
                {"name": "b", "type": "http", "url": server.url, "interval": "1h"},
            ]
        },
        "t.yaml",
        {},
    )
    monitor = Monitor(first, store, clock)
    monitor.start()
    try:
        server.status = 503
        for k in range(2):
            clock.now = WED_10 + k
            monitor.scheduler.probe_job("b")
        assert monitor.recorder.status["b"].state.down
        clock.now = WED_10 + 100
        second = config_mod.parse(
            {
                "targets": [
                    {"name": "a", "type": "http", "url": server.url, "interval": "2h"},
                    {"name": "c", "type": "tcp", "host": "127.0.0.1", "port": 9, "interval": "1h"},
                ]
            },
            "t.yaml",
            {},
        )
        monitor.reload(second)
        assert sorted(monitor.recorder.status) == ["a", "c"]
        assert monitor.recorder.status["a"].target.interval == 7200
        [b_outage] = store.outages(target="b")
        assert b_outage.end == WED_10 + 100  # removed target: its outage ends now
        assert store.last_coverage_end("b") == WED_10 + 100
        assert [(c.start, c.end) for c in store.coverage("c", 0, 2e10)] == [
            (WED_10 + 100, WED_10 + 100)
        ]
    finally:
        monitor.stop()
    assert store.open_outages() == []


def test_clock_step_detection():
    from monitor.scheduling import clock_step

    offset = 1_000_000.0 - 50.0  # wall 1 000 000 when monotonic was 50
    assert clock_step(offset, 1_000_010.0, 60.0) is None  # ticked 10 s
    assert clock_step(offset, 1_000_010.5, 60.0) is None  # slewed, within tolerance
    assert clock_step(offset, 996_410.0, 60.0) == -3600.0  # stepped back an hour
    assert clock_step(offset, 1_003_610.0, 60.0) == 3600.0  # stepped forward


def test_clock_step_reanchors_jobs_at_now(tmp_path, server):
    import time

    from monitor.scheduling import slot_id, slot_of

    store = open_store(tmp_path / "a.db")
    config = config_mod.parse(
        {
            "targets": [
                {"name": "a", "type": "http", "url": server.url, "interval": "1h", "timeout": "1s"},
            ]
        },
        "t.yaml",
        {},
    )
    monitor = Monitor(config, store)  # the real clock: APScheduler runs on it
    monitor.start()
    try:
        scheduler = monitor.scheduler
        key = slot_of(config.target("a"))
        before = scheduler.slots[key].first_run
        monitor.on_clock_step(-3600)
        next_run = scheduler.next_run(slot_id(key))
        now = time.time()
        # Re-anchored: the next run is the stable spread offset after *now*, within the
        # interval, whatever the wall clock did.
        assert now - 5 <= next_run.timestamp() <= now + 3600
        assert next_run.timestamp() == pytest.approx(scheduler.slots[key].first_run)
        assert scheduler.slots[key].first_run >= before
        assert "heartbeat" in scheduler.job_ids()
    finally:
        monitor.stop()


def test_targets_due_in_one_slot_share_a_job_and_reload_keeps_slots_exact(tmp_path):
    from monitor.scheduling import slot_id, slot_of

    def targets(names, interval):
        return [
            {
                "name": n,
                "type": "tcp",
                "host": "127.0.0.1",
                "port": 9,
                "interval": interval,
                "timeout": "0.5s",
            }
            for n in names
        ]

    def probe_jobs(monitor):
        return {j for j in monitor.scheduler.job_ids() if j.startswith("probe:")}

    def expected(monitor):
        return {slot_id(slot_of(status.target)) for status in monitor.recorder.status.values()}

    store = open_store(tmp_path / "a.db")
    first = config_mod.parse({"targets": targets([f"t{i}" for i in range(40)], "1s")}, "t.yaml", {})
    monitor = Monitor(first, store)
    monitor.start()
    try:
        assert probe_jobs(monitor) == expected(monitor)
        assert len(probe_jobs(monitor)) <= 4  # a 1 s interval has four 0.25 s slots
        names = [n for slot in monitor.scheduler.slots.values() for n in slot.names]
        assert sorted(names) == sorted(monitor.recorder.status)  # each target in exactly one slot
        second = config_mod.parse(
            {
                "targets": targets([f"t{i}" for i in range(5)], "1s")
                + targets([f"t{i}" for i in range(5, 10)], "1h")
            },
            "t.yaml",
            {},
        )
        monitor.reload(second)
        assert probe_jobs(monitor) == expected(monitor)  # no job left for an emptied slot
        names = [n for slot in monitor.scheduler.slots.values() for n in slot.names]
        assert (
            sorted(names) == sorted(monitor.recorder.status) == sorted(f"t{i}" for i in range(10))
        )
    finally:
        monitor.stop()


def test_icmp_probe_reports_later_and_never_overlaps_itself(tmp_path):
    import time

    config = config_mod.parse(
        {
            "targets": [
                {
                    "name": "ping",
                    "type": "icmp",
                    "host": "127.0.0.1",
                    "count": 3,
                    "interval": "30s",
                    "timeout": "2s",
                    "schedule": "always",
                }
            ]
        },
        "t.yaml",
        {},
    )
    monitor = Monitor(config, open_store(tmp_path / "a.db"), FakeClock(WED_10))
    monitor.resume()
    status, scheduler = monitor.recorder.status, monitor.scheduler
    scheduler.probe_job("ping")  # returns once the first echo is out (3 echoes 0.2 s apart)
    assert scheduler.in_flight("ping") and status["ping"].last is None
    scheduler.probe_job("ping")  # still in flight: not begun a second time
    for _ in range(100):  # the result arrives from the ICMP engine
        if status["ping"].last is not None:
            break
        time.sleep(0.05)
    live = status["ping"]
    assert live.last is not None and live.last.success
    assert (live.successes, live.failures, scheduler.in_flight("ping")) == (1, 0, False)


def test_reload_diff_names_removed_changed_and_added_targets():
    from monitor.reload import diff_targets

    def config(*targets):
        return config_mod.parse(
            {"targets": [{"type": "tcp", "host": "127.0.0.1", **t} for t in targets]}, "t.yaml", {}
        )

    old = config({"name": "a", "port": 1}, {"name": "b", "port": 2}, {"name": "c", "port": 3})
    new = config({"name": "d", "port": 4}, {"name": "c", "port": 30}, {"name": "a", "port": 1})
    removed, changed, added = diff_targets(old, new)
    assert removed == ["b"]
    assert [(t.name, t.settings) for t in changed] == [("c", new.target("c").settings)]
    assert [t.name for t in added] == ["d"]
    assert diff_targets(new, new) == ([], [], [])
