"""The store contract: every backend behaves the same to the daemon, CLI, totals and reports.

Each test runs once per backend in ``BACKENDS``. A backend is a function that,
given the test's request and a fresh folder, returns a way to open connections to
one new database (a file in the folder, or a new database on the session's real
PostgreSQL server from tests/postgres.py); tests open a second connection where
they need "someone else" (the CLI beside the daemon, or the next daemon after a crash).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from monitor.store import DETECTED_IS_EVIDENCE, Store, StoreError, open_store

Connect = Callable[..., Store]  # keywords: the daemon's instance and vantage


def sqlite_backend(request: pytest.FixtureRequest, folder: Path) -> Connect:
    return lambda **who: open_store(folder / "contract.db", **who)


def postgres_backend(request: pytest.FixtureRequest, folder: Path) -> Connect:
    url = request.getfixturevalue("postgres").database()
    return lambda **who: open_store(url, **who)


BACKENDS = [
    pytest.param(sqlite_backend, id="sqlite"),
    pytest.param(postgres_backend, id="postgres", marks=pytest.mark.slow),  # starts a server
]


@pytest.fixture(params=BACKENDS)
def connect(request, tmp_path) -> Iterator[Connect]:
    """Opens connections to one fresh database of the backend under test; closes them after."""
    backend: Callable[[pytest.FixtureRequest, Path], Connect] = request.param
    new_store = backend(request, tmp_path)
    opened: list[Store] = []

    def connect(**who: str) -> Store:
        opened.append(new_store(**who))
        return opened[-1]

    yield connect
    for store in opened:
        store.close()


@pytest.fixture
def store(connect) -> Store:
    return connect()


def spans(store: Store, target: str, start: float = 0, end: float = 1e12):
    return [(c.target, c.start, c.end, c.all_hours) for c in store.coverage(target, start, end)]


# -- coverage ----------------------------------------------------------------


def test_coverage_begins_extends_and_ends(store):
    store.begin_coverage([("web", False), ("sw1", True)], 1000.0)
    store.extend_coverage(1015.0)
    store.end_coverage(["sw1"], 1020.0)
    store.extend_coverage(1030.0)  # only the open span moves on
    store.extend_coverage(1025.0)  # a heartbeat never pulls an end back
    assert spans(store, "web") == [("web", 1000.0, 1030.0, False)]
    assert spans(store, "sw1") == [("sw1", 1000.0, 1020.0, True)]
    assert store.last_coverage_end("sw1") == 1020.0
    assert store.last_coverage_end("never-seen") is None
    store.end_coverage(None, 1040.0)
    store.extend_coverage(2000.0)
    assert store.last_coverage_end("web") == 1040.0


def test_coverage_is_the_spans_overlapping_the_window(store):
    for start, end in ((100.0, 200.0), (300.0, 400.0), (500.0, 600.0)):
        store.begin_coverage([("web", False)], start)
        store.end_coverage(["web"], end)
    store.begin_coverage([("other", False)], 100.0)
    assert [(s, e) for _, s, e, _ in spans(store, "web", 200.0, 500.0)] == [(300.0, 400.0)]
    assert [(s, e) for _, s, e, _ in spans(store, "web", 150.0, 301.0)] == [
        (100.0, 200.0),
        (300.0, 400.0),
    ]


def test_stale_coverage_ends_at_the_last_heartbeat(connect):
    crashed = connect()
    crashed.begin_coverage([("web", False)], 1000.0)
    crashed.extend_coverage(1030.0)
    # The next daemon: spans the dead one left open stop at its last heartbeat.
    successor = connect()
    successor.close_stale_coverage()
    successor.begin_coverage([("web", False)], 5000.0)
    successor.extend_coverage(5010.0)
    assert [(s, e) for _, s, e, _ in spans(successor, "web")] == [
        (1000.0, 1030.0),
        (5000.0, 5010.0),
    ]


def test_declared_coverage_is_read_with_the_daemons_and_audited(connect):
    daemon, cli = connect(), connect()
    daemon.begin_coverage([("web", True)], 5000.0)
    daemon.extend_coverage(5010.0)
    nagios = cli.add_coverage(["web", "mail"], 100.0, 900.0, "Nagios", "alice", at=6000.0)
    # The next daemon's restart rule sees only its own spans, never a declared one.
    cli.add_coverage(["web"], 9000.0, 9500.0, "helpdesk log", "bob", at=6100.0)
    assert daemon.last_coverage_end("web") == 5010.0
    assert daemon.last_coverage_end("mail") is None
    daemon.close_stale_coverage()
    daemon.extend_coverage(7000.0)  # a heartbeat never moves a declared span
    assert [(c.start, c.end, c.all_hours, c.source) for c in daemon.coverage("web", 0, 1e12)] == [
        (100.0, 900.0, False, "Nagios"),
        (5000.0, 5010.0, True, None),
        (9000.0, 9500.0, False, "helpdesk log"),
    ]
    assert [(c.id, c.target, c.source) for c in cli.added_coverage()] == [
        (nagios[0], "web", "Nagios"),
        (nagios[1], "mail", "Nagios"),
        (cli.added_coverage()[2].id, "web", "helpdesk log"),
    ]
    cli.remove_coverage(nagios[1], "carol", at=6200.0)
    assert daemon.coverage("mail", 0, 1e12) == []
    with pytest.raises(StoreError, match=f"no declared coverage span with id {nagios[1]}"):
        cli.remove_coverage(nagios[1], "carol", at=6300.0)
    assert [(c.user, c.action, c.subject_id, c.reason) for c in cli.corrections()] == [
        ("alice", "coverage-add", nagios[0], "Nagios"),
        ("alice", "coverage-add", nagios[1], "Nagios"),
        ("bob", "coverage-add", cli.added_coverage()[1].id, "helpdesk log"),
        ("carol", "coverage-remove", nagios[1], None),
    ]


def test_the_daemons_own_coverage_cannot_be_removed(store):
    store.begin_coverage([("web", False)], 100.0)
    [span] = store.coverage("web", 0, 1e12)
    assert span.source is None
    with pytest.raises(StoreError, match="no declared coverage span"):
        store.remove_coverage(span.id, "mallory", at=200.0)
    assert store.coverage("web", 0, 1e12) == [span]
    assert store.corrections() == []


# -- outages -----------------------------------------------------------------


def test_outages_insert_close_and_filters(store):
    a = store.insert_outage("web", 100.0, "HTTP 503", at=130.0)
    b = store.insert_outage("sw1", 200.0, "100% packet loss", at=230.0)
    assert a != b
    store.close_outage(a, 160.0)
    assert [o.id for o in store.open_outages()] == [b]
    assert [(o.target, o.start, o.end, o.cause, o.source) for o in store.outages()] == [
        ("web", 100.0, 160.0, "HTTP 503", "detected"),
        ("sw1", 200.0, None, "100% packet loss", "detected"),
    ]
    assert [o.id for o in store.outages(target="web")] == [a]
    assert [o.id for o in store.outages(since=170.0)] == [b]  # open outages reach "now"
    assert [o.id for o in store.outages(since=160.0)] == [b]  # [since, ...): ended at since
    assert [o.id for o in store.outages(until=150.0)] == [a]
    assert [o.id for o in store.outages(until=100.0)] == []  # [..., until): starts at until
    assert [o.id for o in store.outages(target="sw1", since=0.0, until=1000.0)] == [b]
    store.close_outage(a, 999.0)  # closing twice keeps the first end
    assert store.outages(target="web")[0].end == 160.0


def test_open_outages_oldest_first(store):
    later = store.insert_outage("b", 300.0, "refused", at=300.0)
    earlier = store.insert_outage("a", 100.0, "refused", at=300.0)
    assert [o.id for o in store.open_outages()] == [earlier, later]


def test_outage_counts_are_detected_outages_per_target(store):
    store.close_outage(store.insert_outage("web", 100.0, "HTTP 503", at=100.0), 160.0)
    store.insert_outage("web", 200.0, "HTTP 503", at=200.0)
    store.insert_outage("sw1", 200.0, "timeout", at=200.0)
    store.add_manual_outage("web", 300.0, 400.0, "known elsewhere", "alice", at=500.0)
    assert store.outage_counts() == {"web": 2, "sw1": 1}


def test_outages_since_is_every_target_open_or_ended_after(store):
    old = store.insert_outage("web", 100.0, "HTTP 503", at=100.0)
    store.close_outage(old, 150.0)
    ended = store.insert_outage("sw1", 120.0, "timeout", at=120.0)
    store.close_outage(ended, 250.0)
    still_open = store.insert_outage("web", 300.0, "HTTP 503", at=300.0)
    assert [o.id for o in store.outages_since(200.0)] == [ended, still_open]
    assert [o.id for o in store.outages_since(150.0)] == [ended, still_open]


# -- corrections -------------------------------------------------------------


def test_unreachable_and_split_outages_keep_why(store):
    core = store.insert_outage("core", 100.0, "timeout after 2s", 101.0)
    edge = store.insert_outage("edge", 102.0, "timeout after 2s", 103.0, parent="core")
    store.close_outage(edge, 400.0, "parent-recovered")
    after = store.insert_outage("edge", 400.0, "HTTP 503", 405.0, continues=edge)
    store.close_outage(core, 400.0)
    by_id = {o.id: o for o in store.outages()}
    assert (by_id[core].state, by_id[core].parent, by_id[core].end_reason) == ("down", None, None)
    assert not by_id[core].unreachable
    assert (by_id[edge].state, by_id[edge].parent, by_id[edge].end_reason) == (
        "unreachable",
        "core",
        "parent-recovered",
    )
    assert by_id[edge].unreachable
    assert (by_id[after].state, by_id[after].continues, by_id[after].end) == ("down", edge, None)
    store.close_outage(edge, 999.0, "isolation")  # already closed: keeps its first end
    assert store.outages(target="edge")[0].end_reason == "parent-recovered"


def test_isolations_open_close_and_window(store):
    first = store.insert_isolation(100.0, ["gateway", "up-a"], 130.0)
    store.close_isolation(first, 200.0)
    store.close_isolation(first, 900.0)  # the first end stands
    second = store.insert_isolation(500.0, ["gateway"], 520.0)
    assert [(i.id, i.start, i.end, i.witnesses) for i in store.isolations()] == [
        (first, 100.0, 200.0, ("gateway", "up-a")),
        (second, 500.0, None, ("gateway",)),
    ]
    assert [i.id for i in store.isolations(since=200.0)] == [second]  # ends at since: out
    assert [i.id for i in store.isolations(since=150.0, until=500.0)] == [first]
    assert [i.id for i in store.isolations(since=10_000.0)] == [second]  # still open


def test_manual_outage_counts_its_whole_span_and_is_audited(store):
    outage_id = store.add_manual_outage("web", 100.0, 200.0, "fibre cut", "alice", at=900.0)
    [outage] = store.outages()
    assert (outage.id, outage.target, outage.start, outage.end) == (outage_id, "web", 100.0, 200.0)
    assert (outage.cause, outage.source, outage.excluded) == ("fibre cut", "manual", False)
    assert store.open_outages() == []
    [audit] = store.corrections()
    assert (audit.at, audit.user, audit.action, audit.subject_id, audit.reason) == (
        900.0,
        "alice",
        "outage-add",
        outage_id,
        "fibre cut",
    )


def test_exclusion_and_inclusion_are_audited(store):
    outage_id = store.insert_outage("web", 100.0, "HTTP 503", at=100.0)
    excluded = store.set_excluded(outage_id, True, "probe host rebooted", "bob", at=500.0)
    assert (excluded.excluded, excluded.excluded_reason) == (True, "probe host rebooted")
    # As read back to the letter: repr tells 100 from 100.0 (SQLite's UPDATE ... RETURNING
    # gives a whole REAL back as an integer).
    assert repr(store.outages()) == repr([excluded])
    included = store.set_excluded(outage_id, False, "it was real", "carol", at=600.0)
    assert (included.excluded, included.excluded_reason) == (False, None)
    assert [(c.user, c.action, c.subject_id, c.reason) for c in store.corrections()] == [
        ("bob", "exclude", outage_id, "probe host rebooted"),
        ("carol", "include", outage_id, "it was real"),
    ]


def test_excluding_an_unknown_outage_changes_nothing(store):
    with pytest.raises(StoreError, match="no outage with id 42"):
        store.set_excluded(42, True, "typo", "bob", at=500.0)
    assert store.corrections() == []


def test_maintenance_add_list_remove_with_audit(store):
    late = store.add_maintenance("all", None, 500.0, 600.0, "datacentre move", "alice", at=10.0)
    early = store.add_maintenance("group", "core", 100.0, 200.0, "switch firmware", "bob", at=20.0)
    assert [(m.id, m.scope, m.name, m.start, m.end, m.reason) for m in store.maintenance()] == [
        (early, "group", "core", 100.0, 200.0, "switch firmware"),
        (late, "all", None, 500.0, 600.0, "datacentre move"),
    ]
    store.remove_maintenance(early, "carol", at=30.0, reason="postponed")
    assert [m.id for m in store.maintenance()] == [late]
    with pytest.raises(StoreError, match=f"no maintenance window with id {early}"):
        store.remove_maintenance(early, "carol", at=40.0)
    assert [(c.at, c.user, c.action, c.subject_id, c.reason) for c in store.corrections()] == [
        (10.0, "alice", "maintenance-add", late, "datacentre move"),
        (20.0, "bob", "maintenance-add", early, "switch firmware"),
        (30.0, "carol", "maintenance-remove", early, "postponed"),
    ]
    # The removed window stays, marked, so the trail shows what was removed.
    removed = [m for m in store.maintenance(include_removed=True) if m.removed_at is not None]
    assert [(m.id, m.reason, m.removed_at, m.removed_by) for m in removed] == [
        (early, "switch firmware", 30.0, "carol")
    ]


def test_weekly_maintenance_is_kept_with_its_bounds(store):
    window = store.add_maintenance(
        "target", "web", -math.inf, math.inf, "patching", "alice", at=10.0, weekly="tue 07:00-08:00"
    )  # unbounded: it recurs for all time
    [m] = store.maintenance()
    assert (m.id, m.weekly, m.start, m.end) == (window, "tue 07:00-08:00", -math.inf, math.inf)


def test_manual_outage_edit_and_delete_keep_what_it_was(store):
    outage_id = store.add_manual_outage("web", 100.0, 200.0, "fibre cut", "alice", at=900.0)
    edited = store.edit_manual_outage(
        outage_id, 150.0, 260.0, "fibre cut (BT)", "times from the BT ticket", "bob", at=950.0
    )
    assert (edited.id, edited.start, edited.end, edited.cause) == (
        outage_id,
        150.0,
        260.0,
        "fibre cut (BT)",
    )
    assert repr(store.outages()) == repr([edited])  # to the letter: 150.0, not 150
    was = store.delete_manual_outage(outage_id, "duplicate of the detected one", "carol", 990.0)
    assert was == edited
    assert store.outages() == []
    trail = [(c.at, c.user, c.action, c.subject_id, c.reason) for c in store.corrections()]
    assert trail == [
        (900.0, "alice", "outage-add", outage_id, "fibre cut"),
        (950.0, "bob", "outage-edit", outage_id, "times from the BT ticket"),
        (990.0, "carol", "outage-delete", outage_id, "duplicate of the detected one"),
    ]
    edit, delete = (json.loads(c.detail) for c in store.corrections()[1:])
    assert edit == {"target": "web", "start": 100.0, "end": 200.0, "cause": "fibre cut"}
    assert delete == {"target": "web", "start": 150.0, "end": 260.0, "cause": "fibre cut (BT)"}


def test_detected_outages_are_not_edited_or_deleted(store):
    detected = store.insert_outage("web", 100.0, "HTTP 503", at=100.0)
    with pytest.raises(StoreError, match=DETECTED_IS_EVIDENCE):
        store.edit_manual_outage(detected, 0.0, 50.0, "x", "why", "bob", at=500.0)
    with pytest.raises(StoreError, match=DETECTED_IS_EVIDENCE):
        store.delete_manual_outage(detected, "why", "bob", at=500.0)
    with pytest.raises(StoreError, match="no outage with id 42"):
        store.delete_manual_outage(42, "why", "bob", at=500.0)
    assert [o.start for o in store.outages()] == [100.0]
    assert store.corrections() == []


# -- connections -------------------------------------------------------------


def test_change_token_changes_on_corrections_only(connect):
    daemon, other, cli = connect(instance="a"), connect(instance="b"), connect()
    token = daemon.change_token()
    for store in (daemon, other):  # its own writes, another daemon's and others' reads
        store.begin_coverage([("web", False)], 100.0)
        store.extend_coverage(200.0)
        store.close_outage(store.insert_outage("web", 150.0, "HTTP 503", at=150.0), 160.0)
        store.close_isolation(store.insert_isolation(170.0, ["gw"], at=170.0), 180.0)
        store.end_coverage(None, 210.0)
    cli.outages()
    assert daemon.change_token() == token
    cli.add_maintenance("all", None, 100.0, 200.0, "move", "alice", at=300.0)
    changed = daemon.change_token()
    assert changed != token
    assert daemon.change_token() == changed
    cli.set_excluded(cli.outages()[0].id, True, "uplink", "bob", at=400.0)
    assert daemon.change_token() != changed


def test_writes_are_seen_by_the_next_connection(connect):
    first = connect()
    outage_id = first.insert_outage("web", 100.0, "HTTP 503", at=100.0)
    first.begin_coverage([("web", False)], 50.0)
    first.close()
    second = connect()
    assert [o.id for o in second.open_outages()] == [outage_id]
    assert second.last_coverage_end("web") == 50.0


def test_one_daemon_per_instance_name_and_db_copy_alone(connect):
    first, second = connect(instance="a"), connect(instance="a")
    first.claim_instance()
    with pytest.raises(StoreError, match=r"another availmon daemon .* as instance 'a'"):
        second.claim_instance()
    other = connect(instance="b")
    other.claim_instance()  # another name runs beside it
    copying = connect()
    with pytest.raises(StoreError, match="another availmon daemon is already using"):
        copying.lock_exclusive()  # db copy waits for every daemon
    first.close()
    other.close()
    second.claim_instance()  # free again once the first has gone
    second.close()
    copying.lock_exclusive()
    with pytest.raises(StoreError, match="another availmon daemon is already using"):
        connect(instance="c").claim_instance()  # no daemon starts during a copy


# -- instances sharing the database -------------------------------------------


def test_daemon_writes_carry_who_wrote_them_and_reads_are_fleet_wide(connect):
    a = connect(instance="a", vantage="leeds")
    b = connect(instance="b", vantage="york")
    cli = connect()
    for store in (a, b):
        store.begin_coverage([("web", False)], 100.0)
        store.insert_outage("web", 150.0, "HTTP 503", at=150.0)
        store.insert_isolation(170.0, ["gw"], at=170.0)
    cli.add_manual_outage("web", 10.0, 20.0, "fibre cut", "alice", at=900.0)
    cli.add_coverage(["web"], 0.0, 50.0, "Nagios", "alice", at=900.0)
    who = [("a", "leeds"), ("b", "york")]
    for reader in (a, b, cli):
        assert [(o.instance, o.vantage) for o in reader.outages()] == [("", ""), *who]
        assert [(o.instance, o.vantage) for o in reader.outages_since(0.0)] == [("", ""), *who]
        assert [(c.instance, c.vantage) for c in reader.coverage("web", 0, 1e12)] == [
            ("", ""),
            *who,
        ]
        assert [(i.instance, i.vantage) for i in reader.isolations()] == who
        assert reader.outage_counts() == {"web": 2}


def test_a_daemon_resumes_and_upholds_only_its_own_rows(connect):
    a, b = connect(instance="a", vantage="a"), connect(instance="b", vantage="b")
    a.begin_coverage([("web", False), ("mail", False)], 100.0)
    b.begin_coverage([("web", False)], 110.0)
    mine = a.insert_outage("web", 150.0, "HTTP 503", at=150.0)
    theirs = b.insert_outage("web", 150.0, "HTTP 503", at=151.0)  # same target and start
    assert mine != theirs
    a.extend_coverage(200.0)
    b.extend_coverage(300.0)
    a.end_coverage(["mail"], 250.0)
    assert a.last_coverage_end("web") == 200.0 and b.last_coverage_end("web") == 300.0
    assert [o.id for o in a.open_outages()] == [mine]
    assert [o.id for o in b.open_outages()] == [theirs]
    b.end_coverage(None, 400.0)
    b.close_stale_coverage()
    a.extend_coverage(500.0)  # a's spans are still open: only b's closed
    assert [(c.instance, c.end) for c in a.coverage("web", 0, 1e12)] == [("a", 500.0), ("b", 400.0)]
    assert [c.end for c in a.coverage("mail", 0, 1e12)] == [250.0]
    a.close_stale_coverage()
    a.extend_coverage(600.0)
    assert [c.end for c in a.coverage("web", 0, 1e12)] == [500.0, 400.0]


def test_retried_writes_add_no_second_row(connect):
    """A write whose commit reached the database but whose reply was lost is retried."""
    store = connect(instance="a", vantage="a")
    first = store.insert_outage("web", 100.0, "HTTP 503", at=130.0)
    assert store.insert_outage("web", 100.0, "HTTP 503", at=130.0) == first
    isolation = store.insert_isolation(200.0, ["gw"], at=230.0)
    assert store.insert_isolation(200.0, ["gw"], at=230.0) == isolation
    store.begin_coverage([("web", False)], 300.0)
    store.begin_coverage([("web", False), ("mail", True)], 300.0)
    assert len(store.outages()) == 1 and len(store.isolations()) == 1
    assert [(c.target, c.start) for c in store.coverage("web", 0, 1e12)] == [("web", 300.0)]
    assert [(c.target, c.start) for c in store.coverage("mail", 0, 1e12)] == [("mail", 300.0)]
    store.end_coverage(["web"], 400.0)
    store.begin_coverage([("web", False)], 400.0)  # a reload: the next span opens
    assert [(c.start, c.end) for c in store.coverage("web", 0, 1e12)] == [
        (300.0, 400.0),
        (400.0, 400.0),
    ]


def test_the_first_named_instance_adopts_history_from_before_names(connect):
    old = connect()  # what an unnamed daemon wrote, before instances had names
    old.begin_coverage([("web", False)], 100.0)
    old.extend_coverage(200.0)
    done = old.insert_outage("web", 120.0, "HTTP 503", at=120.0)
    old.close_outage(done, 130.0)
    still = old.insert_outage("web", 150.0, "HTTP 503", at=150.0)
    old.insert_isolation(160.0, ["gw"], at=160.0)
    manual = old.add_manual_outage("web", 10.0, 20.0, "fibre cut", "alice", at=900.0)
    old.add_coverage(["web"], 0.0, 50.0, "Nagios", "alice", at=900.0)
    old.close()
    first = connect(instance="a", vantage="leeds")
    assert first.claim_instance() == 4  # two outages, a span, an isolation
    assert [o.id for o in first.open_outages()] == [still]
    assert first.last_coverage_end("web") == 200.0
    assert {(o.id, o.instance, o.vantage) for o in first.outages()} == {
        (manual, "", ""),  # a person's rows stay a person's
        (done, "a", "leeds"),
        (still, "a", "leeds"),
    }
    assert [(c.source, c.vantage) for c in first.coverage("web", 0, 1e12)] == [
        ("Nagios", ""),
        (None, "leeds"),
    ]
    assert [i.vantage for i in first.isolations()] == ["leeds"]
    second = connect(instance="b", vantage="york")
    assert second.claim_instance() == 0 and second.open_outages() == []
