"""Isolated and unreachable time in the figures, hand-computed (docs/design.md)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.figures.sla import (
    OutageSpan,
    Policy,
    UnreachablePolicy,
    group_figures,
    target_figures,
)
from tests.test_sla import HOUR, OFFICE, WORKDAY, L, period

# Wed 22 May 2024, office hours 08:00-18:00 (36 000 s), coverage all day unless given.
DAY = "2024-05-22"


def at(h: int, mi: int = 0) -> float:
    return L(2024, 5, 22, h, mi)


def test_isolation_is_unmonitored_never_down():
    # The monitor's uplink failed 10:00-11:30; every probe failed and the target's own
    # (detected) outage says 10:00-11:30 too.  Isolated time is taken out of C, so the
    # detected outage counts nothing: scheduled 36 000, monitored 36 000 - 5 400 = 30 600,
    # down 0, unmonitored 5 400, isolated 5 400; ratio 1 under `excluded`.
    f = figures_with(outages=[OutageSpan(at(10), at(11, 30))], isolated=[(at(10), at(11, 30))])
    assert f.scheduled_seconds == WORKDAY
    assert (f.monitored_seconds, f.unmonitored_seconds) == (30_600, 5_400)
    assert f.downtime_seconds == 0
    assert f.isolated_seconds == 5_400
    assert f.uptime_ratio == 1.0
    assert f.outage_downtimes == (0.0,)


@pytest.mark.parametrize(
    ("policy", "ratio"),
    [
        # Isolation 12:00-13:00, an outage of the target 09:00-10:00 (3 600 s down).
        # excluded: 1 - 3600 / (36000 - 3600)         = 0.888...
        (Policy.EXCLUDED, 1 - 3600 / 32_400),
        # up:       1 - 3600 / 36000                   = 0.9
        (Policy.UP, 0.9),
        # down:     1 - (3600 + 3600) / 36000          = 0.8
        (Policy.DOWN, 0.8),
    ],
)
def test_isolated_time_follows_the_unmonitored_policy(policy, ratio):
    f = figures_with(
        outages=[OutageSpan(at(9), at(10))], isolated=[(at(12), at(13))], policy=policy
    )
    assert (f.downtime_seconds, f.unmonitored_seconds, f.isolated_seconds) == (3600, 3600, 3600)
    assert f.uptime_ratio == pytest.approx(ratio, abs=1e-15)


def test_isolation_outside_working_hours_or_coverage_counts_nothing():
    # Isolated 06:00-09:00 (two hours before opening) and 12:00-14:00 while the daemon was
    # stopped 12:00-13:00: isolated counts only scheduled, probed time: 1 h + 1 h.
    f = figures_with(
        coverage=[(at(0), at(12)), (at(13), at(23, 59))],
        isolated=[(at(6), at(9)), (at(12), at(14))],
    )
    assert f.isolated_seconds == 2 * HOUR
    assert f.monitored_seconds == WORKDAY - 3 * HOUR  # 1 h stopped + 2 h isolated
    assert f.unmonitored_seconds == 3 * HOUR


def test_manual_outage_counts_even_while_isolated():
    # An admin recorded the finance system down 10:00-12:00 (known from the helpdesk);
    # the monitor was isolated 11:00-12:00.  Manual outages count over their whole span.
    f = figures_with(
        outages=[OutageSpan(at(10), at(12), detected=False)], isolated=[(at(11), at(12))]
    )
    assert f.downtime_seconds == 2 * HOUR
    assert f.monitored_seconds == WORKDAY
    assert f.isolated_seconds == HOUR


@pytest.mark.parametrize(
    ("unreachable", "down", "monitored", "ratio"),
    [
        # Unreachable 14:00-15:00 behind a failed router, own outage 09:00-09:30.
        # down: 1 800 + 3 600 = 5 400 down of 36 000      -> 0.85
        (UnreachablePolicy.DOWN, 5_400, 36_000, 0.85),
        # unmonitored: 1 800 down of 36 000 - 3 600        -> 1 - 1800/32400
        (UnreachablePolicy.UNMONITORED, 1_800, 32_400, 1 - 1800 / 32_400),
    ],
)
def test_unreachable_under_both_policies(unreachable, down, monitored, ratio):
    f = figures_with(
        outages=[
            OutageSpan(at(9), at(9, 30)),
            OutageSpan(at(14), at(15), unreachable=True),
        ],
        unreachable=unreachable,
    )
    assert f.downtime_seconds == down
    assert f.monitored_seconds == monitored
    assert f.unreachable_seconds == HOUR  # shown apart under either policy
    assert f.uptime_ratio == pytest.approx(ratio, abs=1e-15)
    expected_each = (1800.0, 3600.0 if unreachable is UnreachablePolicy.DOWN else 0.0)
    assert f.outage_downtimes == expected_each
    assert f.outages == (2 if unreachable is UnreachablePolicy.DOWN else 1)


def test_unreachable_while_isolated_is_isolated():
    # Isolation 14:30-16:00 overlaps the unreachable span 14:00-15:00: only 14:00-14:30
    # was seen as unreachable; the rest is isolated (unmonitored).
    f = figures_with(
        outages=[OutageSpan(at(14), at(15), unreachable=True)],
        isolated=[(at(14, 30), at(16))],
    )
    assert f.unreachable_seconds == 1800
    assert f.downtime_seconds == 1800
    assert f.isolated_seconds == 5400


def test_group_sums_isolated_and_unreachable():
    a = figures_with(isolated=[(at(10), at(11))])
    b = figures_with(
        isolated=[(at(10), at(11))], outages=[OutageSpan(at(12), at(13), unreachable=True)]
    )
    g = group_figures([a, b], 0.99, Policy.EXCLUDED)
    assert (g.isolated_seconds, g.unreachable_seconds) == (7200, 3600)
    assert g.downtime_seconds == 3600
    assert g.monitored_seconds == 2 * WORKDAY - 7200


spans = st.lists(
    st.tuples(st.integers(0, 24 * 60), st.integers(1, 6 * 60)).map(
        lambda p: (at(0) + p[0] * 60, at(0) + (p[0] + p[1]) * 60)
    ),
    max_size=4,
)


@given(
    outages=st.lists(
        st.tuples(st.integers(0, 24 * 60), st.integers(1, 6 * 60), st.booleans(), st.booleans()),
        max_size=4,
    ),
    isolated=spans,
    policy=st.sampled_from(list(Policy)),
    unreachable=st.sampled_from(list(UnreachablePolicy)),
)
def test_isolation_and_unreachable_keep_the_invariants(outages, isolated, policy, unreachable):
    given_outages = [
        OutageSpan(at(0) + s * 60, at(0) + (s + d) * 60, detected=det, unreachable=unr and det)
        for s, d, det, unr in outages
    ]
    f = figures_with(
        outages=given_outages, isolated=isolated, policy=policy, unreachable=unreachable
    )
    assert 0 <= f.downtime_seconds <= f.monitored_seconds <= f.scheduled_seconds
    assert f.monitored_seconds + f.unmonitored_seconds == pytest.approx(f.scheduled_seconds)
    assert f.isolated_seconds <= f.unmonitored_seconds + 1e-6 or any(
        not o.detected for o in given_outages
    )
    assert f.unreachable_seconds <= f.scheduled_seconds
    # Isolation only ever takes time away from what the probes alone would show.
    plain = figures_with(outages=given_outages, policy=policy, unreachable=unreachable)
    assert f.downtime_seconds <= plain.downtime_seconds + 1e-6
    assert f.monitored_seconds <= plain.monitored_seconds + 1e-6


def figures_with(*, isolated=(), unreachable=UnreachablePolicy.DOWN, **kwargs):
    """A target's figures on DAY: office hours, probed all day unless ``coverage`` says."""
    start, end = period(DAY)
    coverage = kwargs.pop("coverage", [(start, end)])
    return target_figures(
        working=OFFICE,
        coverage=coverage,
        outages=kwargs.pop("outages", []),
        maintenance=[],
        start=start,
        end=end,
        now=end,
        policy=kwargs.pop("policy", Policy.EXCLUDED),
        objective=0.99,
        isolated=isolated,
        unreachable=unreachable,
    )
