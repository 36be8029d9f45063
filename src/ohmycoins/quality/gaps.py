"""Gaps in candle series: which expected open times are missing, as ranges.

A span is an inclusive (first, last) pair of open times on a series' grid of `step`
milliseconds; lists of spans are kept sorted and disjoint, so a gap of a year costs one
pair, not half a million open times.
"""

from __future__ import annotations

from collections.abc import Iterable

Span = tuple[int, int]
"""Open times first..last inclusive, on the grid of the series' step."""


def missing_ranges(
    present: Iterable[int], start: int, end: int, step: int, known: Iterable[tuple[int, int]] = ()
) -> list[tuple[int, int]]:
    """Inclusive (first, last) open-time ranges on the grid [start, end) that are
    neither in `present` nor inside a `known` (first, last) hole."""
    have = set(present)
    for first, last in known:
        have.update(range(first, last + 1, step))
    ranges: list[tuple[int, int]] = []
    run_start: int | None = None
    ts = start
    while ts < end:
        if ts in have:
            if run_start is not None:
                ranges.append((run_start, ts - step))
                run_start = None
        elif run_start is None:
            run_start = ts
        ts += step
    if run_start is not None:
        ranges.append((run_start, end - step))
    return ranges


def merge_spans(spans: Iterable[Span], step: int) -> list[Span]:
    """The spans sorted, with overlapping and touching ones joined."""
    merged: list[Span] = []
    for first, last in sorted(s for s in spans if s[0] <= s[1]):
        if merged and first <= merged[-1][1] + step:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def intersect_spans(a: Iterable[Span], b: Iterable[Span], step: int) -> list[Span]:
    """The open times in both `a` and `b`."""
    left, right = merge_spans(a, step), merge_spans(b, step)
    out: list[Span] = []
    i = j = 0
    while i < len(left) and j < len(right):
        first, last = max(left[i][0], right[j][0]), min(left[i][1], right[j][1])
        if first <= last:
            out.append((first, last))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract_spans(a: Iterable[Span], b: Iterable[Span], step: int) -> list[Span]:
    """The open times in `a` and not in `b`."""
    cuts = merge_spans(b, step)
    out: list[Span] = []
    for first, last in merge_spans(a, step):
        for cut_first, cut_last in cuts:
            if cut_last < first or cut_first > last:
                continue
            if cut_first > first:
                out.append((first, cut_first - step))
            first = cut_last + step
            if first > last:
                break
        if first <= last:
            out.append((first, last))
    return out


def span_slots(spans: Iterable[Span], step: int) -> int:
    """How many open times the (disjoint) spans hold."""
    return sum((last - first) // step + 1 for first, last in spans)
