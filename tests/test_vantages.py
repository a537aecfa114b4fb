"""The vantage rule (monitor/figures/vantages.py) against a per-second model.

With integer endpoints a span [s, e) is the set of unit cells {s, ..., e-1}, so the rule
of docs/design.md "Several vantage points" can be written one second at a time -- which
vantages watch it, which fail it, which saw it down on their own -- and every interval
the module returns compared for equality with the runs of the model's cells.
"""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from monitor.figures.intervals import Interval, normalize
from monitor.figures.schedule import always_schedule
from monitor.figures.sla import OutageSpan, Policy, UnreachablePolicy, target_figures
from monitor.figures.vantages import View, combine, incidents
from tests.test_intervals import cells, runs

HORIZON = 30
span = st.tuples(st.integers(0, HORIZON), st.integers(0, HORIZON))
spans = st.lists(span, max_size=4)
views = st.lists(st.builds(View, spans, spans, spans, spans), min_size=1, max_size=4)
quorums = st.none() | st.integers(1, 5)


def model(vs: list[View], quorum: int | None) -> dict[str, list[Interval]]:
    """The rule, one second at a time."""
    out: dict[str, set[int]] = {k: set() for k in ("probed", "monitored", "isolated")}
    out |= {"failing": set(), "unreachable": set()}
    for t in range(HORIZON):
        probed = [t in cells(list(v.coverage)) for v in vs]
        cut = [t in cells(list(v.isolated)) for v in vs]
        watching = [p and not c for p, c in zip(probed, cut, strict=True)]
        down = [w and t in cells(list(v.down)) for v, w in zip(vs, watching, strict=True)]
        behind = [w and t in cells(list(v.unreachable)) for v, w in zip(vs, watching, strict=True)]
        failing = [d or b for d, b in zip(down, behind, strict=True)]
        m, f = sum(watching), sum(failing)
        if any(probed):
            out["probed"].add(t)
        if m:
            out["monitored"].add(t)
        elif any(p and c for p, c in zip(probed, cut, strict=True)):
            out["isolated"].add(t)
        if m and f >= (m if quorum is None else min(quorum, m)):
            out["failing"].add(t)
            # Down if an agreeing vantage saw it down on its own (not behind a parent).
            if not any(d and not b for d, b in zip(down, behind, strict=True)):
                out["unreachable"].add(t)
    return {k: runs(v) for k, v in out.items()}


def as_dict(vs: list[View], quorum: int | None) -> dict[str, list[Interval]]:
    c = combine(vs, quorum)
    return {
        "probed": c.probed,
        "monitored": c.monitored,
        "isolated": c.isolated,
        "failing": c.agreed.failing,
        "unreachable": c.agreed.unreachable,
    }


@given(views, quorums)
def test_combine_follows_the_rule_second_by_second(vs, quorum):
    assert as_dict(vs, quorum) == model(vs, quorum)


@given(views, quorums, st.randoms(use_true_random=False))
def test_the_order_of_the_vantages_does_not_matter(vs, quorum, rnd):
    shuffled = list(vs)
    rnd.shuffle(shuffled)
    assert as_dict(shuffled, quorum) == as_dict(vs, quorum)


@given(st.builds(View, spans, spans, spans, spans), quorums)
def test_one_vantage_is_the_single_monitor(v, quorum):
    """One view: C - I monitored, its outages there failing, its unreachable outages
    there unreachable (unreachable wins over an overlapping down outage), C ∩ I isolated;
    the quorum cannot matter."""
    c, i = normalize(v.coverage), normalize(v.isolated)
    watched = cells(c) - cells(i)
    assert as_dict([v], quorum) == {
        "probed": c,
        "monitored": runs(watched),
        "isolated": runs(cells(c) & cells(i)),
        "failing": runs(watched & (cells(list(v.down)) | cells(list(v.unreachable)))),
        "unreachable": runs(watched & cells(list(v.unreachable))),
    }


@given(views)
def test_quorum_bounds(vs):
    """Quorum 1: any vantage failing it; at least as many as there are vantages: all of
    them, the default; and a larger quorum never confirms more."""
    by_quorum = [combine(vs, q).agreed.failing for q in range(1, len(vs) + 2)]
    everyone = combine(vs).agreed.failing
    assert by_quorum[-1] == by_quorum[-2] == everyone
    watched = [cells(v.coverage) - cells(v.isolated) for v in vs]
    assert cells(by_quorum[0]) == set().union(
        *(
            w & (cells(list(v.down)) | cells(list(v.unreachable)))
            for v, w in zip(vs, watched, strict=True)
        )
    )
    for more, fewer in itertools.pairwise(by_quorum):
        assert cells(fewer) <= cells(more)


def test_bad_quorum():
    try:
        combine([View([(0, 1)])], 0)
    except ValueError as exc:
        assert "at least 1" in str(exc)
    else:
        raise AssertionError("quorum 0 accepted")


# ---------------------------------------------------------------- incidents

names = st.sampled_from(["a", "b", "c", None])


@given(st.lists(st.tuples(names, spans.map(normalize)), max_size=6))
def test_incidents_join_overlapping_outages_of_different_vantages(outages):
    """Model: a graph with an edge between outages of different (named) vantages sharing
    a second; incidents are its connected components."""
    vantages = [v for v, _ in outages]
    counted = [c for _, c in outages]
    n = len(outages)
    component = list(range(n))
    for _ in range(n):
        for i, j in itertools.combinations(range(n), 2):
            va, vb = vantages[i], vantages[j]
            named_apart = va is not None and vb is not None and va != vb
            if named_apart and cells(counted[i]) & cells(counted[j]):
                component[i] = component[j] = min(component[i], component[j])
    expected: dict[int, list[int]] = {}
    for i in range(n):
        expected.setdefault(component[i], []).append(i)
    assert incidents(vantages, counted) == sorted(expected.values())


# ---------------------------------------------------------------- into the figures

ALWAYS = always_schedule("UTC")
# Only a detected outage can be unreachable (the daemon decides it; a person records down).
outage = st.builds(
    lambda start, end, detected, behind: OutageSpan(
        start, end, detected=detected, unreachable=detected and behind
    ),
    st.integers(0, HORIZON).map(float),
    st.none() | st.integers(0, HORIZON).map(float),
    st.booleans(),
    st.booleans(),
)


@given(
    coverage=spans,
    isolated=spans,
    outages=st.lists(outage, max_size=5),
    policy=st.sampled_from(list(Policy)),
    unreachable=st.sampled_from(list(UnreachablePolicy)),
    now=st.integers(0, HORIZON + 5).map(float),
)
def test_one_vantage_through_the_rule_gives_the_single_monitor_figures(
    coverage, isolated, outages, policy, unreachable, now
):
    """What history.compute feeds target_figures from one combined view equals what it
    fed it before vantages existed: the figures of one instance are unchanged."""
    detected = [o for o in outages if o.detected]

    def ends(which: list[OutageSpan]) -> list[Interval]:
        return [(o.start, now if o.end is None else o.end) for o in which]

    combined = combine(
        [
            View(
                coverage,
                isolated,
                down=ends([o for o in detected if not o.unreachable]),
                unreachable=ends([o for o in detected if o.unreachable]),
            )
        ]
    )
    common = {
        "working": ALWAYS,
        "outages": outages,
        "maintenance": [],
        "start": 0.0,
        "end": float(HORIZON),
        "now": now,
        "policy": policy,
        "objective": 0.9,
        "unreachable": unreachable,
    }
    before = target_figures(coverage=coverage, isolated=isolated, **common)
    after = target_figures(
        coverage=combined.probed,
        isolated=combined.isolated,
        agreed=combined.agreed,
        **common,
    )
    assert after == before


def test_one_failure_from_two_named_vantages_is_one_outage():
    """Two records of 0-10 and 5-20 confirmed by both vantages: one incident of 20 s, as
    long as both vantages are named; the default vantage's records are never merged."""
    both = combine([View([(0, 30)], down=[(0, 20)]), View([(0, 30)], down=[(0, 20)])])

    def counts(first: str, second: str) -> tuple[int, float, tuple[float, ...]]:
        f = target_figures(
            working=ALWAYS,
            coverage=both.probed,
            outages=[OutageSpan(0.0, 10.0, vantage=first), OutageSpan(5.0, 20.0, vantage=second)],
            maintenance=[],
            start=0.0,
            end=30.0,
            now=30.0,
            policy=Policy.EXCLUDED,
            objective=0.9,
            isolated=both.isolated,
            agreed=both.agreed,
        )
        return f.outages, f.longest_outage_seconds, f.outage_downtimes

    assert counts("a", "b") == (1, 20.0, (10.0, 15.0))
    assert counts("a", "a") == counts("", "a") == (2, 15.0, (10.0, 15.0))
