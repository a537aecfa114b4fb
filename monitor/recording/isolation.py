"""Monitor isolation: when the witnesses fail by the quorum, the monitor itself is cut off.

Pure.  The recorder feeds it the witnesses' outage transitions (decided by their own
trackers, so a witness is failing only after its ``failures_before_down`` failures, and
an uplink that flaps faster than that isolates nothing).  An isolation begins at the
instant the quorum was reached -- the quorum-th earliest first failed probe among the
failing witnesses -- and ends at the probe at which a witness recovery takes the count
below the quorum.  Isolated time is unmonitored for every target (docs/design.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Began:
    start: float


@dataclass(frozen=True)
class Ended:
    start: float
    end: float


Change = Began | Ended


@dataclass(frozen=True)
class Isolation:
    """The witness set, its quorum and which witnesses are failing since when."""

    witnesses: frozenset[str] = frozenset()
    quorum: int = 0  # witnesses that must fail; 0 when there are none (never isolated)
    failing: Mapping[str, float] = field(default_factory=dict)  # witness -> outage start
    since: float | None = None  # start of the current isolation

    @property
    def isolated(self) -> bool:
        return self.since is not None

    def reached(self) -> float | None:
        """When the failing witnesses reached the quorum (None if they do not)."""
        if self.quorum == 0 or len(self.failing) < self.quorum:
            return None
        return sorted(self.failing.values())[self.quorum - 1]


def witness_failed(state: Isolation, name: str, start: float) -> tuple[Isolation, Began | None]:
    """Witness ``name`` opened an outage starting at ``start`` (its first failed probe)."""
    if name not in state.witnesses:
        return state, None
    state = replace(state, failing={**state.failing, name: start})
    if state.isolated:
        return state, None
    reached = state.reached()
    if reached is None:
        return state, None
    return replace(state, since=reached), Began(reached)


def witness_recovered(state: Isolation, name: str, end: float) -> tuple[Isolation, Ended | None]:
    """Witness ``name``'s outage ended at ``end`` (the probe at which it answered)."""
    if name not in state.failing:
        return state, None
    state = replace(state, failing={k: v for k, v in state.failing.items() if k != name})
    if state.since is None or state.reached() is not None:
        return state, None
    return replace(state, since=None), Ended(state.since, max(end, state.since))


def reconfigured(
    state: Isolation,
    witnesses: frozenset[str],
    quorum: int,
    failing: Mapping[str, float],
    at: float,
) -> tuple[Isolation, Change | None]:
    """A reload changed the witness set or quorum: the new rule applies from ``at`` on and
    never rewrites history (an isolation it starts begins at ``at``, not earlier)."""
    new = Isolation(witnesses, quorum, {k: v for k, v in failing.items() if k in witnesses})
    if new.reached() is not None:
        if state.since is not None:
            return replace(new, since=state.since), None
        return replace(new, since=at), Began(at)
    if state.since is not None:
        return new, Ended(state.since, max(at, state.since))
    return new, None


def resumed(
    witnesses: frozenset[str], quorum: int, failing: Mapping[str, float], since: float
) -> Isolation:
    """State for an isolation found open at start-up: it goes on until the witnesses'
    carried-over outages end (by the restart rule, at the last monitored instant when
    they answer again)."""
    return Isolation(witnesses, quorum, {k: v for k, v in failing.items() if k in witnesses}, since)
