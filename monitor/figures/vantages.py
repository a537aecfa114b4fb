"""Several vantage points on one target: the rule that turns their views into one.

Pure, over plain interval lists (docs/design.md "Several vantage points").  Each
vantage v (an instance probing from somewhere, or the single default one) has a *view*
of a target T: when it probed T (C_v), when it was itself cut off (I_v), and its
detected outages.  :func:`combine` makes one record of them:

* v is *monitoring* T during C_v - I_v; T is monitored when any vantage is;
* v is *failing* T where one of its outages lies inside its own monitoring;
* T is *failing* at an instant when the vantages monitoring it agree: at least
  ``min(quorum, monitoring)`` of them are failing it (``quorum`` None: all of them), so
  with fewer vantages monitoring than the quorum, all of those must agree;
* failing time is *unreachable* only where every agreeing (failing) vantage saw T behind
  a failed parent; if any saw it down on its own, it is down.  Within one vantage an
  unreachable outage wins over an overlapping down one, as it always has;
* *isolated* time is what some vantage would have monitored but for its isolation while
  no other vantage monitored T.

One vantage alone gives exactly the single-monitor figures: monitored C - I, failing
(its outages ∩ (C - I)), unreachable (its unreachable outages ∩ (C - I)), isolated C ∩ I.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from monitor.figures.intervals import Interval, clip, normalize, subtract, union

__all__ = ["Agreement", "Combined", "View", "combine", "failing_now", "incidents"]


@dataclass(frozen=True)
class View:
    """What one vantage recorded of one target (any spans; they are normalized here)."""

    coverage: Sequence[Interval]  # C_v: when it probed the target
    isolated: Sequence[Interval] = ()  # I_v: when it was itself cut off
    down: Sequence[Interval] = ()  # its detected outages: the target failed on its own
    unreachable: Sequence[Interval] = ()  # its detected outages behind a failed parent


class Agreement(NamedTuple):
    """Where the vantages agreed the target failed (``sla.target_figures``' ``agreed``)."""

    failing: list[Interval]  # confirmed: a detected outage counts only here
    unreachable: list[Interval]  # of those, seen behind a failed parent by every agreeing one


@dataclass(frozen=True)
class Combined:
    """The vantages' views of one target made one."""

    probed: list[Interval]  # union of the C_v
    monitored: list[Interval]  # union of the (C_v - I_v)
    isolated: list[Interval]  # union of the (C_v ∩ I_v), less monitored
    agreed: Agreement


def combine(views: Sequence[View], quorum: int | None = None) -> Combined:
    """One target's record from its vantages' ``views`` (in any order); ``quorum``:
    ``reporting.vantage_quorum`` (None: every vantage monitoring must agree)."""
    _check(quorum)
    # union() of one list normalizes it, without sorting one that already is.
    probed_each = [union(v.coverage) for v in views]
    isolated_each = [union(v.isolated) for v in views]
    watching = [subtract(c, i) for c, i in zip(probed_each, isolated_each, strict=True)]
    failing_each, on_its_own = [], []
    for view, mine in zip(views, watching, strict=True):
        down, unreachable = union(view.down), union(view.unreachable)
        failing_each.append(_inside(union(down, unreachable), mine))
        on_its_own.append(_inside(subtract(down, unreachable), mine))
    monitored = union(*watching)
    failing = _agreed(watching, failing_each, quorum)
    cut_off = [_inside(i, c) for c, i in zip(probed_each, isolated_each, strict=True)]
    return Combined(
        probed=union(*probed_each),
        monitored=monitored,
        isolated=subtract(union(*cut_off), monitored),
        agreed=Agreement(failing, subtract(failing, union(*on_its_own))),
    )


def _check(quorum: int | None) -> None:
    if quorum is not None and quorum < 1:
        raise ValueError(f"vantage quorum must be at least 1, got {quorum}")


def _inside(few: list[Interval], many: list[Interval]) -> list[Interval]:
    """``few`` ∩ ``many`` (both normalized) by bisecting ``many`` for each of the few spans
    (outages, isolations) instead of merging the whole of a year's coverage."""
    return [piece for s, e in few for piece in clip(many, s, e)]


def _agreed(
    watching: Sequence[list[Interval]], failing: Sequence[list[Interval]], quorum: int | None
) -> list[Interval]:
    """The instants where at least min(quorum, m) of the m vantages watching are failing
    (each ``failing[i]`` lies inside ``watching[i]``): one sweep over every boundary."""
    if len(watching) == 1:
        return failing[0]  # min(quorum, 1) = 1 of 1: where it fails
    events: list[tuple[float, int, int]] = []
    for spans, is_failing in [*((w, 0) for w in watching), *((f, 1) for f in failing)]:
        for s, e in spans:
            events += [(s, 1 - is_failing, is_failing), (e, is_failing - 1, -is_failing)]
    events.sort()
    out: list[Interval] = []
    watching_n = failing_n = 0
    for i, (t, d_watching, d_failing) in enumerate(events):
        watching_n += d_watching
        failing_n += d_failing
        if i + 1 == len(events) or events[i + 1][0] == t:
            continue  # the counts hold from the last event at this instant
        if _agree(watching_n, failing_n, quorum):
            out.append((t, events[i + 1][0]))
    return normalize(out)


def _agree(watching: int, failing: int, quorum: int | None) -> bool:
    """The rule at one instant: of ``watching`` vantages, ``failing`` are failing the
    target; it fails when at least min(quorum, watching) are (None: all of them)."""
    return watching > 0 and failing >= (watching if quorum is None else min(quorum, watching))


def failing_now(failing: Sequence[bool], quorum: int | None = None) -> bool | None:
    """The target's confirmed state now, from each vantage monitoring it now (True: that
    vantage has an outage of it open): None when no vantage is monitoring it, else
    whether they agree it fails -- :func:`combine`'s rule at one instant."""
    _check(quorum)
    return _agree(len(failing), sum(failing), quorum) if failing else None


def incidents(
    vantages: Sequence[str | None], counted: Sequence[Sequence[Interval]]
) -> list[list[int]]:
    """Recorded outages grouped into incidents: outages of *different* vantages whose
    counted spans (normalized) share an instant are one incident (transitively), so two
    vantages recording one failure count it once.  An outage whose vantage is None (one
    recorded by hand, or by the default vantage) is always its own incident, as are
    outages of one vantage.  Returns
    lists of indices into ``counted``, each in order, the lists ordered by first index."""
    parent = list(range(len(counted)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    spans = sorted(
        (s, e, i)
        for i, (vantage, mine) in enumerate(zip(vantages, counted, strict=True))
        if vantage is not None
        for s, e in mine
    )
    open_: list[tuple[float, int]] = []  # (end, index) of spans still reaching the sweep
    for s, e, i in spans:
        open_ = [(end, j) for end, j in open_ if end > s]
        for _, j in open_:
            if vantages[j] != vantages[i]:
                parent[root(j)] = root(i)
        open_.append((e, i))
    groups: dict[int, list[int]] = {}
    for i in range(len(counted)):
        groups.setdefault(root(i), []).append(i)
    return sorted(groups.values())
