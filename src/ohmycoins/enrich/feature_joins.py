"""As-of joins of the other ledgers onto a candle series, each by the time a value
was KNOWN, never by the time it describes.

The cut of the candle opening at `ts` is its close, `ts + step`: a value joins the
candle when it was known strictly before the cut.
- trades and book snapshots: those inside the candle, `[ts, ts + step)`;
- news and social posts: by their publish time (an item with no date is left out);
- catalysts: by the time the event was known (`CatalystEvent.ts`, the first report);
- on-chain metrics: at the end of the hour they describe (`ts` is its start);
- macro values: at their first release (`released_ts`, FRED's `realtime_start` of
  the first vintage); a daily close from Yahoo at the end of its day; a value whose
  release is unknown is left out rather than guessed;
- market-cap rank: at the snapshot's time.

Inputs that do not exist for an asset give NaN (NULL), never zero: a count is NaN
while no item of the asset was known in the `covered_ms` before the cut (the asset is
not covered by that ledger then), a mean is NaN over an empty window. Every join looks
back at most `LEDGER_REACH_MS`, how far before its first candle a computation reads the
ledgers: an update of a few candles then joins exactly what a full build joins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

import numpy as np

from ohmycoins.records import (
    CatalystEvent,
    MacroObservation,
    MarketSnapshot,
    NewsItem,
    OnchainMetric,
    OrderBook,
    SocialPost,
    Trade,
)
from ohmycoins.timeframes import DAY_MS, HOUR_MS

Array = np.ndarray[Any, np.dtype[np.float64]]
Times = np.ndarray[Any, np.dtype[np.int64]]

ONCHAIN_PERIOD_MS = HOUR_MS
"""The hour an on-chain row describes starts at its `ts` and is known when it ends."""
LEDGER_REACH_MS = 2 * DAY_MS
"""How far before the first candle computed the ledgers are read, and so the longest
look-back of any join (24 h windows, a day of trades, coverage)."""
CLOSE_KNOWN_AFTER_MS = {"yahoo": DAY_MS}
"""Macro sources without release dates whose values are daily closes: known at the
end of the day they describe."""


@dataclass(frozen=True)
class Ledgers:
    """What the other ledgers hold for one asset, as records (any order). Each ledger
    is put in time order once, for every feature that reads it."""

    trades: Sequence[Trade] = ()
    books: Sequence[OrderBook] = ()
    news: Sequence[NewsItem] = ()
    posts: Sequence[SocialPost] = ()
    catalysts: Sequence[CatalystEvent] = ()
    onchain: Sequence[OnchainMetric] = ()
    macro: Sequence[MacroObservation] = ()
    ranks: Sequence[MarketSnapshot] = ()

    @cached_property
    def trade_arrays(self) -> tuple[Times, Array, Array]:
        """(time, amount, 1.0 for a taker buy) of the trades, by time."""
        ordered = sorted(self.trades, key=lambda t: t.ts)
        ts = np.array([t.ts for t in ordered], dtype=np.int64)
        amount = np.array([float(t.amount) for t in ordered], dtype=np.float64)
        buy = np.array([t.side == "buy" for t in ordered], dtype=np.float64)
        return ts, amount, buy

    @cached_property
    def ordered_books(self) -> tuple[list[OrderBook], Times]:
        """The book snapshots by time, and their times."""
        ordered = sorted(self.books, key=lambda b: b.ts)
        return ordered, np.array([b.ts for b in ordered], dtype=np.int64)

    @cached_property
    def news_scores(self) -> tuple[Times, Array]:
        """(publish time, sentiment score or NaN) of the dated news items, by time."""
        return _by_time([(n.published_ts, n.sentiment_score) for n in self.news])

    @cached_property
    def post_scores(self) -> tuple[Times, Array]:
        """(time, sentiment score or NaN) of the social posts, by time."""
        return _by_time([(p.ts, p.sentiment_score) for p in self.posts])

    @cached_property
    def catalyst_impacts(self) -> tuple[Times, Array]:
        """(time known, impact) of the catalyst events, by time."""
        ordered = sorted(self.catalysts, key=lambda e: e.ts)
        return (
            np.array([e.ts for e in ordered], dtype=np.int64),
            np.array([e.impact for e in ordered], dtype=np.float64),
        )


def _by_time(pairs: Sequence[tuple[int | None, Decimal | None]]) -> tuple[Times, Array]:
    """(time, score or NaN) arrays of the pairs that have a time, by time."""
    dated = sorted(
        ((ts, np.nan if score is None else float(score)) for ts, score in pairs if ts is not None),
        key=lambda pair: pair[0],
    )
    return (
        np.array([p[0] for p in dated], dtype=np.int64),
        np.array([p[1] for p in dated], dtype=np.float64),
    )


def cuts(ts: Times, step_ms: int) -> Times:
    """The instant each candle's features are computed at: its close."""
    return ts + step_ms


def known_count(known: Times, at: Times) -> np.ndarray[Any, np.dtype[np.int64]]:
    """How many of the sorted `known` times are strictly before each of `at`."""
    return np.searchsorted(known, at, side="left").astype(np.int64)


def _nan(n: int) -> Array:
    return np.full(n, np.nan)


# --- trades and books: inside the candle ---------------------------------------------


def taker_imbalance(ts: Times, step_ms: int, ledgers: Ledgers) -> Array:
    """(taker buy - taker sell) / (buy + sell) volume of the candle's trades."""
    out = _nan(len(ts))
    if not ledgers.trades:
        return out
    times, amount, buy = ledgers.trade_arrays
    lo, hi = known_count(times, ts), known_count(times, cuts(ts, step_ms))
    bought = np.concatenate(([0.0], np.cumsum(amount * buy)))
    total = np.concatenate(([0.0], np.cumsum(amount)))
    volume = total[hi] - total[lo]
    buys = bought[hi] - bought[lo]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(hi > lo, (2 * buys - volume) / volume, np.nan)
    return out


def large_trades(
    ts: Times, step_ms: int, ledgers: Ledgers, quantile: float, lookback_ms: int
) -> Array:
    """Trades of the candle larger than the `quantile` size of the trades of the
    `lookback_ms` before its close (the candle's own included, none after it)."""
    out = _nan(len(ts))
    if not ledgers.trades:
        return out
    times, amount, _ = ledgers.trade_arrays
    close = cuts(ts, step_ms)
    lo, hi = known_count(times, ts), known_count(times, close)
    window_lo = known_count(times, close - lookback_ms)
    for row in np.flatnonzero(hi > lo):
        threshold = np.quantile(amount[window_lo[row] : hi[row]], quantile)
        out[row] = float(np.count_nonzero(amount[lo[row] : hi[row]] > threshold))
    return out


def _book_rows(ts: Times, step_ms: int, ledgers: Ledgers) -> list[tuple[int, OrderBook]]:
    """(row, the newest snapshot inside the candle) of the candles that have one."""
    ordered, times = ledgers.ordered_books
    lo, hi = known_count(times, ts), known_count(times, cuts(ts, step_ms))
    return [(int(row), ordered[hi[row] - 1]) for row in np.flatnonzero(hi > lo)]


def spread_bps(ts: Times, step_ms: int, ledgers: Ledgers) -> Array:
    """(best ask - best bid) / mid, in basis points, of the candle's newest book."""
    out = _nan(len(ts))
    for row, book in _book_rows(ts, step_ms, ledgers):
        if book.bids and book.asks:
            bid, ask = float(book.bids[0][0]), float(book.asks[0][0])
            out[row] = (ask - bid) / ((ask + bid) / 2) * 10_000
    return out


def book_imbalance(ts: Times, step_ms: int, ledgers: Ledgers, levels: int) -> Array:
    """(bid - ask amount) / (bid + ask amount) over the top `levels` of the candle's
    newest book."""
    out = _nan(len(ts))
    for row, book in _book_rows(ts, step_ms, ledgers):
        bids = sum(float(amount) for _, amount in book.bids[:levels])
        asks = sum(float(amount) for _, amount in book.asks[:levels])
        if bids + asks > 0:
            out[row] = (bids - asks) / (bids + asks)
    return out


# --- news, posts and catalysts: by the time they were known --------------------------


def _items(ledgers: Ledgers, source: str) -> tuple[Times, Array]:
    """(known time, sentiment score or NaN) of the dated news items or posts, by time."""
    return ledgers.news_scores if source == "news" else ledgers.post_scores


def _covered(times: Times, cut: Times, covered_ms: int) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Whether an item of the ledger was known in the `covered_ms` before each cut."""
    if covered_ms > LEDGER_REACH_MS:
        raise ValueError(f"coverage of {covered_ms} ms reaches past the ledgers read")
    return known_count(times, cut) > known_count(times, cut - covered_ms)


def item_count(
    ts: Times, step_ms: int, ledgers: Ledgers, source: str, window_ms: int, covered_ms: int
) -> Array:
    """Items of the asset published in the `window_ms` before the cut; NaN where none
    was in the `covered_ms` before it (no coverage)."""
    times, _ = _items(ledgers, source)
    cut = cuts(ts, step_ms)
    count = (known_count(times, cut) - known_count(times, cut - window_ms)).astype(np.float64)
    return np.where(_covered(times, cut, covered_ms), count, np.nan)


def item_sentiment(ts: Times, step_ms: int, ledgers: Ledgers, source: str, window_ms: int) -> Array:
    """Mean sentiment score of the asset's items published in the `window_ms` before
    the cut; NaN when none of them has a score."""
    times, scores = _items(ledgers, source)
    scored = ~np.isnan(scores)
    total = np.concatenate(([0.0], np.cumsum(np.where(scored, scores, 0.0))))
    counted = np.concatenate(([0], np.cumsum(scored)))
    cut = cuts(ts, step_ms)
    hi, lo = known_count(times, cut), known_count(times, cut - window_ms)
    n = counted[hi] - counted[lo]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, (total[hi] - total[lo]) / n, np.nan)


def catalyst_impact(
    ts: Times, step_ms: int, ledgers: Ledgers, window_ms: int, covered_ms: int
) -> Array:
    """The highest impact (1-10) of the asset's events known in the `window_ms` before
    the cut; 0 when none was, NaN where none was in the `covered_ms` before it."""
    times, impact = ledgers.catalyst_impacts
    cut = cuts(ts, step_ms)
    hi, lo = known_count(times, cut), known_count(times, cut - window_ms)
    out = np.where(_covered(times, cut, covered_ms), 0.0, np.nan)
    for row in np.flatnonzero(hi > lo):
        out[row] = impact[lo[row] : hi[row]].max()
    return out


def catalyst_count(
    ts: Times, step_ms: int, ledgers: Ledgers, window_ms: int, covered_ms: int
) -> Array:
    """Events of the asset known in the `window_ms` before the cut; NaN where none was
    in the `covered_ms` before it."""
    times, _ = ledgers.catalyst_impacts
    cut = cuts(ts, step_ms)
    hi, lo = known_count(times, cut), known_count(times, cut - window_ms)
    return np.where(_covered(times, cut, covered_ms), (hi - lo).astype(np.float64), np.nan)


# --- latest values as of the cut -----------------------------------------------------


def as_of(
    known: Sequence[int],
    described: Sequence[int],
    values: Sequence[float],
    at: Times,
    max_age_ms: int | None = None,
) -> Array:
    """The value of the latest `described` time among those `known` strictly before each
    of `at` (a value known late never replaces a newer one known earlier); NaN when
    none is, or when it is older than `max_age_ms` at `at`."""
    if not known:
        return _nan(len(at))
    order = np.argsort(np.asarray(known, dtype=np.int64), kind="stable")
    known_sorted = np.asarray(known, dtype=np.int64)[order]
    described_sorted = np.asarray(described, dtype=np.int64)[order]
    values_sorted = np.asarray(values, dtype=np.float64)[order]
    # the position of the newest described time among the first k known, for each k
    newest = np.zeros(len(order), dtype=np.int64)
    best = 0
    for index in range(len(order)):
        if described_sorted[index] >= described_sorted[best]:
            best = index
        newest[index] = best
    count = known_count(known_sorted, at)
    out = _nan(len(at))
    has = count > 0
    pick = newest[count[has] - 1]
    out[has] = values_sorted[pick]
    if max_age_ms is not None:
        old = np.zeros(len(at), dtype=bool)
        old[has] = at[has] - described_sorted[pick] > max_age_ms
        out[old] = np.nan
    return out


def onchain_value(ts: Times, step_ms: int, ledgers: Ledgers, column: str, max_age_ms: int) -> Array:
    """The asset's on-chain `column` of the newest hour ended before the cut."""
    rows = [(m.ts, getattr(m, column)) for m in ledgers.onchain if getattr(m, column) is not None]
    return as_of(
        [t + ONCHAIN_PERIOD_MS for t, _ in rows],
        [t for t, _ in rows],
        [float(v) for _, v in rows],
        cuts(ts, step_ms),
        max_age_ms,
    )


def macro_known_ts(observation: MacroObservation) -> int | None:
    """When a macro value became known: its first release; a daily close at the end of
    its day; None (left out) when its release is unknown."""
    if observation.released_ts is not None:
        return observation.released_ts
    after = CLOSE_KNOWN_AFTER_MS.get(observation.source)
    return observation.ts + after if after is not None else None


def macro_value(ts: Times, step_ms: int, ledgers: Ledgers, series_id: str) -> Array:
    """The newest value of one macro series released before the cut."""
    rows = []
    for obs in ledgers.macro:
        known = macro_known_ts(obs)
        if obs.series_id == series_id and obs.value is not None and known is not None:
            rows.append((known, obs.ts, float(obs.value)))
    return as_of(
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], cuts(ts, step_ms)
    )


def mcap_rank(ts: Times, step_ms: int, ledgers: Ledgers, max_age_ms: int) -> Array:
    """The asset's market-cap rank in the newest snapshot taken before the cut."""
    rows = [(s.ts, float(s.rank)) for s in ledgers.ranks if s.rank is not None]
    return as_of(
        [r[0] for r in rows],
        [r[0] for r in rows],
        [r[1] for r in rows],
        cuts(ts, step_ms),
        max_age_ms,
    )
