"""Every record type survives a write and a read, exactly, on every backend."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from sqlalchemy import func, select, text

from ohmycoins.records import Candle, Record, Trade
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records
from ohmycoins.storage.reads.ranges import candle_query, fetch_json, fetch_rows
from ohmycoins.storage.tables import RECORD_TABLES
from ohmycoins.storage.upsert import upsert
from tests import factories


@pytest.mark.parametrize("record", factories.ONE_OF_EACH, ids=lambda r: type(r).__name__)
def test_record_round_trips_exactly(db: Database, record: Record) -> None:
    assert upsert(db, [record]) == 1
    assert read_records(db, type(record)) == [record]


def test_decimals_keep_their_exact_text(db: Database) -> None:
    candle = factories.candle(volume=Decimal("0.00001234"), close=Decimal("37005.10000000"))
    upsert(db, [candle])
    (stored,) = read_records(db, type(candle))
    assert str(stored.volume) == "0.00001234"
    assert str(stored.close) == "37005.10000000"


def test_the_widest_real_decimals_are_exact(db: Database) -> None:
    """18 decimal places of a token amount, and a 1e-8 price beside a 1e12 volume:
    read back as records, as the range reads' text and JSON, and compared in SQL."""
    tiny, huge = Decimal("0.00000001"), Decimal("1234567890123.12345678")
    candle = factories.candle(open=tiny, high=tiny, low=tiny, close=tiny, volume=huge)
    token = Decimal("123456789012.123456789012345678")
    trade = factories.trade(price=Decimal("0.000000000000000001"), amount=token)
    upsert(db, [candle, trade])
    assert read_records(db, Candle) == [candle]
    assert read_records(db, Trade) == [trade]
    series = ("binance", "BTC/USDT", "1m")
    rows = fetch_rows(db, candle_query(db, *series, start=None, end=None, limit=10))
    assert rows.rows[0][4:9] == ("0.00000001",) * 4 + ("1234567890123.12345678",)
    page = fetch_json(db, candle_query(db, *series, start=None, end=None, limit=10, form="json"))
    assert orjson.loads(page.data)[0]["volume"] == "1234567890123.12345678"
    table = RECORD_TABLES[Trade]
    bigger = db.backend.maybe_greater(table.c.amount, table.c.price)
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).where(bigger)).scalar() == 1


def test_hash_rate_beyond_float_precision_is_exact(db: Database) -> None:
    metric = factories.onchain_metric(hash_rate=Decimal("790123456789012345678.5"))
    upsert(db, [metric])
    assert read_records(db, type(metric))[0].hash_rate == Decimal("790123456789012345678.5")


def test_orderbook_stores_derived_measures(db: Database) -> None:
    book = factories.orderbook()
    upsert(db, [book])
    with db.engine.connect() as conn:
        mid, spread, imbalance = conn.execute(
            text("SELECT mid, spread, imbalance FROM orderbooks")
        ).one()
    assert Decimal(str(mid)) == book.mid == Decimal("37000.25")
    assert Decimal(str(spread)) == Decimal("0.50")
    assert Decimal(str(imbalance)) == book.imbalance


def test_same_batch_twice_changes_nothing(db: Database) -> None:
    upsert(db, factories.ONE_OF_EACH)
    first = {type(r): read_records(db, type(r)) for r in factories.ONE_OF_EACH}
    upsert(db, factories.ONE_OF_EACH)
    assert {type(r): read_records(db, type(r)) for r in factories.ONE_OF_EACH} == first


def test_newer_candle_replaces_the_forming_one(db: Database) -> None:
    upsert(db, [factories.candle(close=Decimal("1"), low=Decimal("1"))])
    upsert(db, [factories.candle(close=Decimal("37001"))])
    assert [c.close for c in read_records(db, type(factories.candle()))] == [Decimal("37001")]


def test_trades_are_immutable(db: Database) -> None:
    upsert(db, [factories.trade()])
    upsert(db, [factories.trade(price=Decimal("1"))])
    assert read_records(db, type(factories.trade()))[0].price == Decimal("37001.01")


def test_partial_rows_merge_and_heights_never_go_back(db: Database) -> None:
    upsert(db, [factories.onchain_metric(sources=("mempool",), block_height=100, fee_fast=None)])
    upsert(
        db,
        [
            factories.onchain_metric(
                sources=("blockchain_info",), block_height=90, hash_rate=None, fee_fast=Decimal(7)
            )
        ],
    )
    (row,) = read_records(db, type(factories.onchain_metric()))
    assert row.block_height == 100
    assert row.hash_rate == factories.onchain_metric().hash_rate
    assert row.fee_fast == Decimal(7)
    assert row.sources == ("blockchain_info", "mempool")


def test_catalyst_reports_accumulate_sources_and_keep_highest_impact(db: Database) -> None:
    upsert(db, [factories.catalyst_event(impact=7, sources=("binance",), urls=("u1",))])
    upsert(db, [factories.catalyst_event(impact=5, sources=("coindesk",), urls=("u2",))])
    (row,) = read_records(db, type(factories.catalyst_event()))
    assert (row.impact, row.sources, row.urls) == (7, ("binance", "coindesk"), ("u1", "u2"))


def test_duplicate_keys_in_one_batch_fold_like_sequential_writes(db: Database) -> None:
    batch = [factories.candle(close=Decimal("37001")), factories.candle(close=Decimal("37002"))]
    assert upsert(db, batch) == 1
    assert read_records(db, type(batch[0]))[0].close == Decimal("37002")
