"""What a feature run reads, on every backend: the candles of a series with the context
before them (one statement), and the other ledgers of its asset (read together: one
round trip on PostgreSQL) equal to the records written, values and types alike."""

from __future__ import annotations

import numpy as np
import pytest

from ohmycoins.storage.database import Database, autocommitting
from ohmycoins.storage.feature_stale import Series
from ohmycoins.storage.features import read_bars, read_ledgers
from ohmycoins.storage.upsert import upsert
from tests import factories
from tests.factories import T0
from tests.support.candles import MINUTE, START, random_walk

SERIES = Series("binance", "BTC/USDT", "1m")
DAY = 86_400_000


@pytest.mark.parametrize(
    ("since_index", "context", "expected_first"),
    [(50, 10, 40), (50, 50, 0), (50, 80, 0), (0, 10, 0), (101, 10, 91)],
)
def test_bars_after_a_time_come_with_the_context_before_it(
    db: Database, since_index: int, context: int, expected_first: int
) -> None:
    """The newest `context` candles before `since`, or as many as there are; then
    `since` to `until`. Nothing after `until` (an update with nothing new): the context alone."""
    candles = random_walk(120)
    upsert(db, candles)
    since, until = START + since_index * MINUTE, START + 100 * MINUTE
    with autocommitting(db) as conn:
        bars = read_bars(conn, SERIES, since=since, until=until, context=context)
    wanted = [c for c in candles[expected_first:] if c.ts <= until]
    assert bars.ts.tolist() == [c.ts for c in wanted]
    np.testing.assert_array_equal(bars.close, [float(c.close) for c in wanted])
    np.testing.assert_array_equal(bars.volume, [float(c.volume or "nan") for c in wanted])
    assert int(np.searchsorted(bars.ts, since)) == min(context, since_index)


def test_the_ledgers_of_a_series_are_read_as_they_were_written(db: Database) -> None:
    since, until = T0, T0 + 10 * MINUTE
    joined = [
        factories.trade(),
        factories.orderbook(ts=T0 + 5 * MINUTE),
        factories.news_item(published_ts=T0 - DAY, currencies=("BTC", "ETH")),
        factories.social_post(ts=T0 + MINUTE),
        factories.catalyst_event(ts=T0 - 2 * DAY + 1, assets=("BTC",), impact=8),
        factories.onchain_metric(asset="bitcoin", ts=T0 - 3_600_000),
        factories.macro_observation(released_ts=T0 - 30 * DAY, ts=T0 - 40 * DAY),
        factories.market_snapshot(ts=T0 + 2 * MINUTE),
    ]
    apart = [
        factories.trade(trade_id="2", ts=T0 - 3 * DAY),  # before the two days
        factories.trade(trade_id="3", symbol="ETH/USDT"),  # another market
        factories.orderbook(ts=until + 2 * MINUTE),  # after the last candle's close
        factories.news_item(item_id="n2", url="https://example.com/eth", currencies=("ETH",)),
        factories.catalyst_event(event_id="listing:binance:X"),  # PYTH, not BTC
        factories.onchain_metric(asset="ethereum"),
        factories.market_snapshot(asset_id="ethereum", symbol="ETH"),
    ]
    upsert(db, [factories.asset(), *joined, *apart])
    with autocommitting(db) as conn:
        ledgers = read_ledgers(conn, SERIES, since, until)
    read = [
        *ledgers.trades, *ledgers.books, *ledgers.news, *ledgers.posts, *ledgers.catalysts,
        *ledgers.onchain, *ledgers.macro, *ledgers.ranks,
    ]  # fmt: skip
    assert read == joined
    for written, got in zip(joined, read, strict=True):  # an int stays an int, a tuple a tuple
        for name in type(written).__dataclass_fields__:
            assert type(getattr(got, name)) is type(getattr(written, name)), name
