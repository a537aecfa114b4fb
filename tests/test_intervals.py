"""Interval algebra checked against a brute-force model.

With integer endpoints, a half-open span [s, e) is exactly the set of unit cells
{s, ..., e-1}; set operations on cells are the obvious model, and a normalized list is
determined by its cells (maximal runs of consecutive cells), so each result can be
compared for *equality* with the runs of the model's cell set.
"""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.figures.intervals import Interval, clip, intersect, normalize, subtract, total, union

# ---------------------------------------------------------------- model


def cells(spans: list[tuple[float, float]]) -> set[int]:
    """Unit cells covered by integer-endpoint spans (empty/negative spans cover nothing)."""
    out: set[int] = set()
    for s, e in spans:
        out.update(range(int(s), int(e)))
    return out


def runs(cs: set[int]) -> list[Interval]:
    """The canonical normalized list of a cell set: its maximal runs."""
    out: list[Interval] = []
    for c in sorted(cs):
        if out and out[-1][1] == c:
            out[-1] = (out[-1][0], c + 1)
        else:
            out.append((c, c + 1))
    return out


def assert_normalized(a: list[Interval]) -> None:
    """Sorted, non-empty, disjoint and non-touching."""
    for s, e in a:
        assert s < e
    for (_, e1), (s2, _) in itertools.pairwise(a):
        assert e1 < s2


# Integer spans, including empty and negative ones, over a small range so that
# overlaps, touches and containments are frequent.
span = st.tuples(st.integers(-3, 30), st.integers(-3, 30))
raw = st.lists(span, max_size=8)
norm = raw.map(normalize)


# ---------------------------------------------------------------- properties


@given(raw)
def test_normalize_matches_model(spans: list[tuple[int, int]]) -> None:
    result = normalize(spans)
    assert_normalized(result)
    assert result == runs(cells(spans))


@given(raw)
def test_normalize_is_idempotent(spans: list[tuple[int, int]]) -> None:
    once = normalize(spans)
    assert normalize(once) == once


@given(st.lists(raw, max_size=4))
def test_union_matches_model(lists: list[list[tuple[int, int]]]) -> None:
    # union tolerates unnormalized input, so feed it raw and normalized lists alike.
    mixed = [lst if i % 2 else normalize(lst) for i, lst in enumerate(lists)]
    result = union(*mixed)
    assert_normalized(result)
    expected: set[int] = set()
    for lst in lists:
        expected |= cells(lst)
    assert result == runs(expected)


@given(norm, norm)
def test_intersect_matches_model(a: list[Interval], b: list[Interval]) -> None:
    result = intersect(a, b)
    assert_normalized(result)
    assert result == runs(cells(a) & cells(b))
    assert intersect(b, a) == result


@given(norm, norm)
def test_subtract_matches_model(a: list[Interval], b: list[Interval]) -> None:
    result = subtract(a, b)
    assert_normalized(result)
    assert result == runs(cells(a) - cells(b))


@given(norm, st.integers(-5, 35), st.integers(-5, 35))
def test_clip_matches_model(a: list[Interval], start: int, end: int) -> None:
    result = clip(a, start, end)
    assert_normalized(result)
    assert result == runs(cells(a) & set(range(start, end)))


@given(norm)
def test_total_is_cell_count(a: list[Interval]) -> None:
    assert total(a) == len(cells(a))


@given(norm, norm)
def test_partition_identity(a: list[Interval], b: list[Interval]) -> None:
    """a = (a & b) | (a - b), disjointly: the identity the SLA figures rely on."""
    both = intersect(a, b)
    only = subtract(a, b)
    assert intersect(both, only) == []
    assert union(both, only) == a
    assert total(both) + total(only) == total(a)


floats = st.floats(-1e6, 1e6, allow_nan=False)
float_spans = st.lists(st.tuples(floats, floats), max_size=6)


@given(float_spans, float_spans, st.lists(floats, max_size=10))
def test_float_membership(
    xs: list[tuple[float, float]], ys: list[tuple[float, float]], extra: list[float]
) -> None:
    """Point membership with real-valued endpoints, sampled at every endpoint and between."""
    a, b = normalize(xs), normalize(ys)

    def member(lst: list[Interval], t: float) -> bool:
        return any(s <= t < e for s, e in lst)

    def raw_member(spans: list[tuple[float, float]], t: float) -> bool:
        return any(s <= t < e for s, e in spans)

    points = {t for s, e in xs + ys for t in (s, e, (s + e) / 2)} | set(extra)
    u, i, d = union(a, b), intersect(a, b), subtract(a, b)
    for lst in (a, b, u, i, d):
        assert_normalized(lst)
    for t in points:
        assert member(a, t) == raw_member(xs, t)
        assert member(u, t) == (raw_member(xs, t) or raw_member(ys, t))
        assert member(i, t) == (raw_member(xs, t) and raw_member(ys, t))
        assert member(d, t) == (raw_member(xs, t) and not raw_member(ys, t))


# ---------------------------------------------------------------- examples


@pytest.mark.parametrize(
    ("spans", "expected"),
    [
        ([], []),
        ([(5, 5)], []),  # empty
        ([(7, 3)], []),  # negative
        ([(1, 2), (2, 3)], [(1, 3)]),  # touching spans merge
        ([(4, 6), (1, 2)], [(1, 2), (4, 6)]),  # sorted
        ([(1, 10), (2, 3)], [(1, 10)]),  # contained
        ([(1.5, 2.5), (2.0, 4.0)], [(1.5, 4.0)]),
        ([(math.nan, 1.0), (0.0, math.nan), (0.0, 1.0)], [(0.0, 1.0)]),  # NaN spans vanish
    ],
)
def test_normalize_examples(spans: list[tuple[float, float]], expected: list[Interval]) -> None:
    assert normalize(spans) == expected


def test_operation_examples() -> None:
    a = [(0, 10), (20, 30)]
    b = [(5, 25)]
    assert union(a, b) == [(0, 30)]
    assert union() == []
    assert intersect(a, b) == [(5, 10), (20, 25)]
    assert subtract(a, b) == [(0, 5), (25, 30)]
    assert subtract(b, a) == [(10, 20)]
    # One long span of b cuts several spans of a.
    assert subtract([(0, 1), (2, 3), (4, 5), (6, 9)], [(0.5, 7)]) == [(0, 0.5), (7, 9)]
    # Several spans of b cut one span of a.
    assert subtract([(0, 10)], [(1, 2), (3, 4), (9, 12)]) == [(0, 1), (2, 3), (4, 9)]
    assert clip(a, 5, 25) == [(5, 10), (20, 25)]
    assert clip(a, 10, 20) == []
    assert clip(a, 30, 10) == []
    assert total(a) == 20.0
    assert total([]) == 0.0


def test_linear_on_large_inputs() -> None:
    """100k x 100k spans: a quadratic merge would take minutes, a linear one well under 1 s."""
    n = 100_000
    a = [(float(2 * i), float(2 * i + 1)) for i in range(n)]
    b = [(float(2 * i) + 0.5, float(2 * i) + 1.5) for i in range(n)]
    assert total(intersect(a, b)) == pytest.approx(0.5 * n)
    assert total(subtract(a, b)) == pytest.approx(0.5 * n)
    assert total(union(a, b)) == pytest.approx(1.5 * n)
