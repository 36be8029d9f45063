"""Gaps in candle series: which expected open times are missing, as ranges."""

from __future__ import annotations

from collections.abc import Iterable


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
