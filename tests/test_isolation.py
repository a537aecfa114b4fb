"""Witness quorum rules on the pure isolation state, with injected instants."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.recording.isolation import (
    Began,
    Ended,
    Isolation,
    reconfigured,
    resumed,
    witness_failed,
    witness_recovered,
)

W = frozenset({"gateway", "up-a", "up-b"})


def run(state: Isolation, events: list[tuple[str, str, float]]):
    changes = []
    for kind, name, at in events:
        if kind == "fail":
            state, change = witness_failed(state, name, at)
        else:
            state, change = witness_recovered(state, name, at)
        if change is not None:
            changes.append(change)
    return state, changes


def test_all_must_fail_by_default_and_start_is_when_the_last_one_began_failing():
    state, changes = run(
        Isolation(W, 3),
        [("fail", "up-a", 100), ("fail", "gateway", 95), ("fail", "up-b", 104)],
    )
    assert changes == [Began(104)]
    assert state.isolated


def test_two_of_three_fail_is_not_isolation_with_quorum_all():
    state, changes = run(Isolation(W, 3), [("fail", "up-a", 100), ("fail", "gateway", 95)])
    assert changes == [] and not state.isolated


@pytest.mark.parametrize(
    ("quorum", "start"),
    [(1, 100), (2, 104), (3, 104)],
)
def test_quorum_n_starts_at_the_nth_earliest_failure_known_when_reached(quorum, start):
    # Outages are reported in the order their trackers confirm them, which need not be
    # the order of their first failed probes: up-a (first failed probe at 100) is
    # confirmed first, then up-b (104), then gateway (95).  The isolation starts at the
    # quorum-th earliest first failure among the witnesses failing when the quorum is
    # reached: quorum 1 at up-a's report, sorted {100}[0] = 100; quorum 2 at up-b's,
    # sorted {100, 104}[1] = 104; quorum 3 at gateway's, sorted {95, 100, 104}[2] = 104.
    _, changes = run(
        Isolation(W, quorum),
        [("fail", "up-a", 100), ("fail", "up-b", 104), ("fail", "gateway", 95)],
    )
    assert changes[0] == Began(start)


def test_ends_at_the_probe_that_takes_the_count_below_the_quorum():
    state, changes = run(
        Isolation(W, 2),
        [
            ("fail", "up-a", 100),
            ("fail", "up-b", 101),
            ("fail", "gateway", 102),
            ("recover", "gateway", 500),  # still two failing: isolated
            ("recover", "up-a", 530),  # one left: ends here
            ("recover", "up-b", 560),
        ],
    )
    assert changes == [Began(101), Ended(101, 530)]
    assert not state.isolated and state.failing == {}


def test_non_witness_and_unknown_recoveries_change_nothing():
    state, changes = run(Isolation(W, 1), [("fail", "printer", 10), ("recover", "up-a", 20)])
    assert changes == [] and state == Isolation(W, 1)


def test_no_witnesses_never_isolates():
    _, changes = run(Isolation(), [("fail", "anything", 1)])
    assert changes == []


def test_reload_that_drops_the_failing_witnesses_ends_the_isolation_then():
    state, _ = run(Isolation(W, 1), [("fail", "up-a", 100)])
    state, change = reconfigured(state, frozenset({"gateway"}), 1, {"up-a": 100}, at=700)
    assert change == Ended(100, 700) and not state.isolated


def test_reload_that_makes_a_quorum_starts_at_the_reload_not_earlier():
    state, _ = run(Isolation(W, 3), [("fail", "up-a", 100)])
    state, change = reconfigured(state, W, 1, {"up-a": 100}, at=700)
    assert change == Began(700) and state.since == 700


def test_reload_keeping_the_quorum_keeps_the_isolation():
    state, _ = run(Isolation(W, 1), [("fail", "up-a", 100)])
    state, change = reconfigured(state, W, 2, {"up-a": 100, "up-b": 90}, at=700)
    assert change is None and state.since == 100


def test_resumed_isolation_ends_when_the_carried_witness_outage_ends():
    # Killed while isolated; on restart the witnesses' outages are carried over and end
    # at the last heartbeat (600) when they answer: so does the isolation.
    state = resumed(W, 3, {"gateway": 95, "up-a": 100, "up-b": 104}, since=104)
    state, changes = run(state, [("recover", "up-b", 600)])
    assert changes == [Ended(104, 600)]


events = st.lists(
    st.tuples(st.sampled_from(["fail", "recover"]), st.sampled_from(sorted(W)), st.integers(0, 99)),
    max_size=30,
)


@given(events=events, quorum=st.integers(1, 3))
def test_isolated_exactly_when_the_quorum_is_failing(events, quorum):
    # Times only move forward, as probes do; a witness fails only when it is up.
    state, t, up = Isolation(W, quorum), 0, set(W)
    spans = []
    for kind, name, dt in events:
        t += dt
        if (kind == "fail") != (name in up):
            continue
        if kind == "fail":
            up.discard(name)
            state, change = witness_failed(state, name, t)
        else:
            up.add(name)
            state, change = witness_recovered(state, name, t)
        assert state.isolated == (len(W) - len(up) >= quorum)
        if isinstance(change, Ended):
            spans.append((change.start, change.end))
            assert change.start <= change.end
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
