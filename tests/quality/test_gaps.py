"""Span arithmetic of candle gaps, checked against plain sets of open times."""

from __future__ import annotations

import random

from ohmycoins.quality.gaps import (
    Span,
    intersect_spans,
    merge_spans,
    missing_ranges,
    span_slots,
    subtract_spans,
)

STEP = 60_000


def _times(spans: list[Span]) -> set[int]:
    return {ts for first, last in spans for ts in range(first, last + 1, STEP)}


def _spans(times: set[int]) -> list[Span]:
    """Runs of consecutive open times, the slow obvious way."""
    spans: list[Span] = []
    for ts in sorted(times):
        if spans and spans[-1][1] + STEP == ts:
            spans[-1] = (spans[-1][0], ts)
        else:
            spans.append((ts, ts))
    return spans


def _random_spans(rng: random.Random) -> list[Span]:
    spans = []
    for _ in range(rng.randint(0, 6)):
        first = rng.randint(-20, 40) * STEP
        spans.append((first, first + rng.randint(0, 8) * STEP))
    return spans


def test_merge_joins_overlapping_and_touching_spans() -> None:
    spans = [(5 * STEP, 6 * STEP), (0, STEP), (2 * STEP, 3 * STEP), (6 * STEP, 9 * STEP)]
    assert merge_spans(spans, STEP) == [(0, 3 * STEP), (5 * STEP, 9 * STEP)]
    assert merge_spans([(STEP, 0)], STEP) == []  # an empty span holds nothing


def test_span_arithmetic_agrees_with_sets() -> None:
    rng = random.Random(15)
    for _ in range(300):
        a, b = _random_spans(rng), _random_spans(rng)
        assert _times(merge_spans(a, STEP)) == _times(a)
        assert merge_spans(a, STEP) == _spans(_times(a))
        assert intersect_spans(a, b, STEP) == _spans(_times(a) & _times(b))
        assert subtract_spans(a, b, STEP) == _spans(_times(a) - _times(b))
        assert span_slots(merge_spans(a, STEP), STEP) == len(_times(a))


def test_missing_ranges_skip_known_holes() -> None:
    present = [0, STEP, 5 * STEP]
    assert missing_ranges(present, 0, 8 * STEP, STEP) == [
        (2 * STEP, 4 * STEP),
        (6 * STEP, 7 * STEP),
    ]
    known = [(2 * STEP, 3 * STEP)]
    assert missing_ranges(present, 0, 8 * STEP, STEP, known) == [
        (4 * STEP, 4 * STEP),
        (6 * STEP, 7 * STEP),
    ]
