"""Per-target outage state machine: probe outcomes in, outage open/close decisions out.

Pure: the recorder feeds it results with their instants and persists what it
decides. The rules are those of docs/design.md: an outage opens after
``failures_before_down`` consecutive failures and starts at the first failure of
that streak; it ends at the first success. An outage carried over from a
previous run of the daemon continues if the first probe fails and otherwise
ends at the last instant the daemon was known to be monitoring.  An outage cut
short by the monitor's isolation or by its parent's recovery is *carried*: if the
target's next probe begun after the cut fails, a new outage continues it from the
instant the cut ended.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class TargetState:
    failures: int = 0  # consecutive failures while no outage is open
    streak_start: float | None = None
    streak_cause: str | None = None
    outage_start: float | None = None  # set while an outage is open
    resume_end: float | None = None  # carried-over outage: where it ends if the target is up
    carry_from: float | None = None  # cut-short outage: where it continues if still failing

    @property
    def down(self) -> bool:
        return self.outage_start is not None


@dataclass(frozen=True)
class Opened:
    start: float
    cause: str


@dataclass(frozen=True)
class Closed:
    start: float
    end: float


Transition = Opened | Closed

UP = TargetState()  # up, no streak: shared, so an unchanged state is the same object


def resumed(outage_start: float, last_monitored: float | None) -> TargetState:
    """State for an outage found open at start-up."""
    end = outage_start if last_monitored is None else max(outage_start, last_monitored)
    return TargetState(outage_start=outage_start, resume_end=end)


def carried(at: float) -> TargetState:
    """State for a target whose outage was cut at ``at`` (isolation, parent recovered)."""
    return TargetState(carry_from=at)


def observe(
    state: TargetState, success: bool, at: float, cause: str | None, failures_before_down: int
) -> tuple[TargetState, Transition | None]:
    """Apply one probe outcome at instant ``at``; return the new state and any transition."""
    if state.outage_start is not None:
        if not success:
            return replace(state, resume_end=None), None
        end = state.resume_end if state.resume_end is not None else at
        return UP, Closed(state.outage_start, max(end, state.outage_start))
    if success:
        return UP, None
    if state.carry_from is not None:
        if at < state.carry_from:
            # Begun inside the cut, reported after it: it says nothing about afterwards.
            return state, None
        return TargetState(outage_start=state.carry_from), Opened(
            state.carry_from, cause or "probe failed"
        )
    streak_start = at if state.streak_start is None else state.streak_start
    streak_cause = state.streak_cause or cause or "probe failed"
    failures = state.failures + 1
    if failures >= failures_before_down:
        return TargetState(outage_start=streak_start), Opened(streak_start, streak_cause)
    return TargetState(failures, streak_start, streak_cause), None
