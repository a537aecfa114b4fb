"""Interval algebra over UTC epoch seconds.

Every figure in availmon (scheduled, monitored, down, ...) is a length of a set of
instants built by union, intersection and difference, so the sets are kept in one
canonical form: a *normalized interval list* is a list of half-open ``[start, end)``
spans, sorted, pairwise disjoint, each non-empty, with touching spans merged.  In that
form equal sets have equal lists, and every operation is a linear merge.

``normalize`` and ``union`` accept arbitrary spans; ``intersect``, ``subtract``,
``clip`` and ``total`` expect normalized lists (as produced by this module) and always
return normalized lists.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence

Interval = tuple[float, float]

__all__ = ["Interval", "clip", "intersect", "normalize", "subtract", "total", "union"]


def normalize(spans: Iterable[tuple[float, float]]) -> list[Interval]:
    """Sort spans, merge overlapping or touching ones, drop empty or negative ones.

    Spans whose ``end <= start`` (or with a NaN endpoint) contain no instant and vanish.
    """
    kept = sorted((s, e) for s, e in spans if e > s)
    return _merge_sorted(kept)


def _merge_sorted(spans: Iterable[Interval]) -> list[Interval]:
    """Merge non-empty spans already sorted by start (the linear half of ``normalize``)."""
    out: list[Interval] = []
    for s, e in spans:
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def union(*lists: Sequence[Interval]) -> list[Interval]:
    """The instants in any of the lists.

    Normalized inputs are merged in O(total · log k); unnormalized ones are tolerated
    (they are normalized first), so ``union(spans)`` is ``normalize(spans)``.
    """
    prepared = [lst if _is_normalized(lst) else normalize(lst) for lst in lists]
    return _merge_sorted(heapq.merge(*prepared))


def _is_normalized(a: Sequence[Interval]) -> bool:
    """Cheap check that lets ``union`` skip re-sorting its (usually normalized) inputs."""
    prev_end = None
    for s, e in a:
        if not e > s or (prev_end is not None and s <= prev_end):
            return False
        prev_end = e
    return True


def intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """The instants in both normalized lists, by a linear two-pointer merge."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        a_s, a_e = a[i]
        b_s, b_e = b[j]
        s = max(a_s, b_s)
        e = min(a_e, b_e)
        if s < e:
            out.append((s, e))
        # Advance whichever span ends first; the other may still meet the next one.
        if a_e <= b_e:
            i += 1
        else:
            j += 1
    return out


def subtract(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """The instants of ``a`` not in ``b`` (both normalized), by a linear merge."""
    out: list[Interval] = []
    j = 0
    for a_s, a_e in a:
        s = a_s
        # Spans of b ending at or before this piece cannot cut it, nor any later piece.
        while j < len(b) and b[j][1] <= s:
            j += 1
        k = j
        while k < len(b) and b[k][0] < a_e:
            b_s, b_e = b[k]
            if b_s > s:
                out.append((s, b_s))
            s = max(s, b_e)
            if s >= a_e:
                break
            k += 1
        if s < a_e:
            out.append((s, a_e))
        # Spans of b before k ended inside this span; b[k] may also cut the next one.
        j = k
    return out


def clip(a: Sequence[Interval], start: float, end: float) -> list[Interval]:
    """The part of normalized ``a`` inside ``[start, end)``; O(log n + output) by bisection."""
    if not end > start or not a:
        return []
    # First span ending after start, first span starting at or after end.
    lo = bisect_right(a, start, key=lambda iv: iv[1])
    hi = bisect_left(a, end, key=lambda iv: iv[0])
    out = list(a[lo:hi])
    if out:
        if out[0][0] < start:
            out[0] = (start, out[0][1])
        if out[-1][1] > end:
            out[-1] = (out[-1][0], end)
    return out


def total(a: Sequence[Interval]) -> float:
    """Sum of the spans' lengths (the measure of a normalized list)."""
    return float(sum(e - s for s, e in a))
