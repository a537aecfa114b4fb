"""Outage rules (docs/design.md "Outage boundaries") on the pure tracker, with injected instants."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from monitor.recording.tracker import Closed, Opened, TargetState, carried, observe, resumed


def feed(outcomes: list[tuple[float, bool]], fbd: int, state: TargetState | None = None):
    state = state or TargetState()
    events = []
    for at, ok in outcomes:
        state, event = observe(state, ok, at, None if ok else f"fail@{at}", fbd)
        if event is not None:
            events.append(event)
    return state, events


def test_opens_after_n_failures_and_starts_at_first_failure():
    # probes every 30 s: ok, fail(30), fail(60) -> opened at 60 with start 30
    state, events = feed([(0, True), (30, False), (60, False)], fbd=2)
    assert events == [Opened(30, "fail@30")]
    assert state.down and state.outage_start == 30


def test_single_failure_is_not_an_outage():
    state, events = feed([(0, False), (30, True), (60, False), (90, True)], fbd=2)
    assert events == []
    assert not state.down


def test_ends_at_first_success():
    _, events = feed([(0, False), (30, False), (60, False), (90, True), (120, True)], fbd=2)
    assert events == [Opened(0, "fail@0"), Closed(0, 90)]


def test_failures_before_down_one_opens_immediately():
    _, events = feed([(10, False), (20, True)], fbd=1)
    assert events == [Opened(10, "fail@10"), Closed(10, 20)]


def test_outage_open_across_closed_hours_continues_or_ends_at_next_probe():
    # Fri 17:59 fail, 17:59:30 fail -> open; hours close; Mon 08:00 first probe.
    state, _events = feed([(0, False), (30, False)], fbd=2)
    still, more = feed([(300_000, False)], fbd=2, state=state)
    assert more == [] and still.outage_start == 0
    _, more = feed([(300_030, True)], fbd=2, state=still)
    assert more == [Closed(0, 300_030)]


def test_resumed_outage_continues_when_still_failing():
    # Daemon died at 500 (last heartbeat); restarts at 900, target still failing.
    state = resumed(outage_start=100, last_monitored=500)
    state, events = feed([(900, False), (930, True)], fbd=2, state=state)
    assert events == [Closed(100, 930)]


def test_resumed_outage_ends_at_last_monitored_instant_when_up_again():
    state = resumed(outage_start=100, last_monitored=500)
    _, events = feed([(900, True)], fbd=2, state=state)
    assert events == [Closed(100, 500)]


def test_resumed_outage_never_ends_before_it_starts():
    state = resumed(outage_start=100, last_monitored=None)
    _, events = feed([(900, True)], fbd=2, state=state)
    assert events == [Closed(100, 100)]


def reference(outcomes: list[tuple[float, bool]], fbd: int) -> list[tuple[float, float | None]]:
    """The rule restated over the whole sequence: runs of >= fbd failures."""
    outages, i = [], 0
    while i < len(outcomes):
        if outcomes[i][1]:
            i += 1
            continue
        j = i
        while j < len(outcomes) and not outcomes[j][1]:
            j += 1
        if j - i >= fbd:
            outages.append((outcomes[i][0], outcomes[j][0] if j < len(outcomes) else None))
        i = j
    return outages


@given(st.lists(st.booleans(), max_size=60), st.integers(1, 5))
def test_tracker_matches_the_rule_restated(oks: list[bool], fbd: int):
    outcomes = [(float(10 * k), ok) for k, ok in enumerate(oks)]
    state, events = feed(outcomes, fbd)
    got: list[tuple[float, float | None]] = []
    for event in events:
        if isinstance(event, Opened):
            got.append((event.start, None))
        else:
            assert got[-1] == (event.start, None)
            got[-1] = (event.start, event.end)
    assert got == reference(outcomes, fbd)
    assert state.down == (bool(got) and got[-1][1] is None)


def test_carried_outage_continues_from_the_cut_when_still_failing():
    # The monitor was isolated until 1000 and the target had an outage before: its first
    # probe after (1010) fails -> a new outage from 1000 at once, no second failure needed.
    state, events = feed([(1010, False), (1040, False), (1070, True)], fbd=3, state=carried(1000))
    assert events == [Opened(1000, "fail@1010"), Closed(1000, 1070)]
    assert not state.down


def test_carried_outage_ignores_a_failure_begun_before_the_cut_ended():
    # A probe begun at 995, inside the cut, reports its failure after the cut ended at
    # 1000: it decides nothing; the first probe begun after the cut does.
    state, events = feed([(995, False)], fbd=3, state=carried(1000))
    assert (state, events) == (carried(1000), [])
    state, events = feed([(1010, False)], fbd=3, state=state)
    assert events == [Opened(1000, "fail@1010")]


def test_carried_outage_is_dropped_when_the_target_answers():
    state, events = feed([(1010, True), (1040, False)], fbd=2, state=carried(1000))
    assert events == []
    assert state == TargetState(failures=1, streak_start=1040, streak_cause="fail@1040")
