"""Judging the candles a sync did not store: a hole of the exchange, or missing.

Each candle slot of a series is in one of three states:

- stored;
- a hole: the exchange truly has no candle there. Only well-formed answers prove it
  (a page fetched whole, every row of it stored, covering that time), and twice in the
  sync that records it: the page of the first pass and a refetch, or two refetches;
  and only once the listing is known. A hole near now is verified again by later
  syncs (one well-formed answer each), as an exchange may publish late, until it has
  `FINAL_CHECKS` confirmations;
- missing: anything else not stored, e.g. a fetch that failed, a row quarantined, an
  answer not confirmed yet, the newest candles. Missing candles are kept with their
  attempts and retried with backoff by later syncs of the series, whatever range those
  ask for, and the quality score counts them until they are stored.

The span before the series' first candle on the exchange (its listing) is neither:
no candle is expected there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ohmycoins.quality.gaps import Span, intersect_spans, span_slots, subtract_spans
from ohmycoins.records import Candle
from ohmycoins.storage.cursors import Hole, Missing, SeriesKey
from ohmycoins.timeframes import timeframe_ms

SETTLE_STEPS = 5
"""The newest candles may still be published late: they stay missing, never holes."""

RECENT_STEPS = 60
"""A hole ending this close to now is verified again by later syncs."""

FINAL_CHECKS = 4
"""Confirmations that make a recent hole final: found, then three re-checks."""

MAX_RETRY_MS = 86_400_000
"""The longest wait before a missing candle or a recent hole is tried again."""


def retry_after(step: int, tries: int) -> int:
    """The wait before the next try after `tries`: one candle, doubling, at most a day."""
    return min(step << max(0, min(tries, 32) - 1), MAX_RETRY_MS)


@dataclass
class Evidence:
    """What the answers of one sync showed, as spans of open times."""

    clean: list[Span] = field(default_factory=list)
    """Covered by well-formed pages of the first pass."""
    failed: list[Span] = field(default_factory=list)
    """Asked for in pages whose every try failed."""


def covered(since: int, until: int, step: int, candles: Sequence[Candle], limit: int) -> Span:
    """The open times a well-formed answer for [since, until) covers: all of them, unless
    the exchange cut the answer at `limit` rows (then up to its last row)."""
    last = candles[-1].ts if len(candles) >= limit else (until - 1) // step * step
    return (since, last)


def hole_due(hole: Hole, now: int, step: int) -> bool:
    """Whether a hole not final yet is to be verified again now."""
    return hole.checks < FINAL_CHECKS and hole.found_ts + retry_after(step, hole.checks) <= now


@dataclass(frozen=True, slots=True)
class Verdict:
    """A sync's judgement of the absent candles of a series."""

    holes: list[Hole]
    """Holes proven by this sync."""
    rechecked: list[Hole]
    """What is left of the holes verified again."""
    missing: list[Missing]
    """Every candle of the series still missing."""


def judge(
    key: SeriesKey,
    absent: list[Span],
    twice: list[Span],
    rechecks: list[Hole],
    old: list[Missing],
    settled: int | None,
    now: int,
) -> Verdict:
    """Judge the `absent` candles: those `twice` covers up to `settled` (None: none) are
    holes, the rest of the holes verified again stay as `rechecked` says, and what is
    left is missing (`old` are the missing rows before this sync)."""
    step = timeframe_ms(key.timeframe)
    spans = [(hole.start_ts, hole.end_ts) for hole in rechecks]
    proven = []
    if settled is not None and absent:
        proven = intersect_spans(absent, twice, step)
        proven = intersect_spans(proven, [(absent[0][0], settled)], step)
    return Verdict(
        new_holes(key, subtract_spans(proven, spans, step), now, step),
        [piece for hole in rechecks for piece in rechecked(key, hole, absent, proven, now, step)],
        still_missing(subtract_spans(absent, [*proven, *spans], step), old, now, step),
    )


def new_holes(key: SeriesKey, spans: list[Span], now: int, step: int) -> list[Hole]:
    """Holes just proven: final at once when old, else verified again later."""
    recent = now - RECENT_STEPS * step
    return [
        _hole(key, first, last, step, 1 if last >= recent else FINAL_CHECKS, now)
        for first, last in spans
    ]


def rechecked(
    key: SeriesKey, hole: Hole, absent: list[Span], proven: list[Span], now: int, step: int
) -> list[Hole]:
    """What is left of a hole of `key` verified again: candles found leave it, the parts
    proven again gain a check, the parts whose refetch failed stay as they were."""
    left = intersect_spans(absent, [(hole.start_ts, hole.end_ts)], step)
    again = intersect_spans(left, proven, step)
    return sorted(
        [_hole(key, first, last, step, hole.checks + 1, now) for first, last in again]
        + [
            _hole(key, first, last, step, hole.checks, hole.found_ts)
            for first, last in subtract_spans(left, again, step)
        ],
        key=lambda h: h.start_ts,
    )


def still_missing(spans: list[Span], old: list[Missing], now: int, step: int) -> list[Missing]:
    """The missing rows of `spans`: a part an old row still waits on keeps its attempts
    and retry time; the rest counts one attempt more than the old rows it overlaps."""
    waiting = [m for m in old if m.next_try_ts > now]
    rows = [
        Missing(first, last, span_slots([(first, last)], step), m.attempts, m.next_try_ts)
        for m in waiting
        for first, last in intersect_spans(spans, [(m.start_ts, m.end_ts)], step)
    ]
    for first, last in subtract_spans(spans, [(m.start_ts, m.end_ts) for m in waiting], step):
        before = (m.attempts for m in old if m.start_ts <= last and m.end_ts >= first)
        attempts = max(before, default=0) + 1
        slots = span_slots([(first, last)], step)
        rows.append(Missing(first, last, slots, attempts, now + retry_after(step, attempts)))
    return sorted(rows, key=lambda m: m.start_ts)


def _hole(key: SeriesKey, first: int, last: int, step: int, checks: int, found: int) -> Hole:
    slots = span_slots([(first, last)], step)
    return Hole(key.source, key.symbol, key.timeframe, first, last, slots, checks, found)
