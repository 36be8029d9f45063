"""Property: writing rows in any order, in any batches, any number of times, gives the
table that writing each distinct row once gives (idempotent upsert, COALESCE merge)."""

from __future__ import annotations

import dataclasses
import itertools
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from ohmycoins.records import Candle, OnchainMetric
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records
from ohmycoins.storage.tables import RECORD_TABLES
from ohmycoins.storage.upsert import upsert
from tests import factories

PROPERTY = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PARTIAL_FIELDS = ("hash_rate", "difficulty", "tx_count", "fee_fast", "mempool_size")


def _clear(db: Database, *record_types: type) -> None:
    with db.engine.begin() as conn:
        for record_type in record_types:
            conn.execute(delete(RECORD_TABLES[record_type]))


def _write_in_batches(db: Database, writes: list, cuts: list[int]) -> None:
    bounds = sorted({0, len(writes), *(c % (len(writes) + 1) for c in cuts)})
    for start, end in itertools.pairwise(bounds):
        upsert(db, writes[start:end])


prices = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("100000"), places=8)


@st.composite
def candle_writes(draw: st.DrawFn) -> tuple[list[Candle], list[Candle]]:
    """Distinct candles (one per key), and a shuffled sequence of writes repeating them."""
    minutes = draw(st.sets(st.integers(0, 30), min_size=1, max_size=12))
    distinct = [
        factories.candle(
            symbol=draw(st.sampled_from(["BTC/USDT", "ETH/USDT"])),
            ts=factories.T0 + m * 60_000,
            close=draw(prices),
            volume=draw(st.none() | prices),
        )
        for m in sorted(minutes)
    ]
    distinct = list({(c.symbol, c.ts): c for c in distinct}.values())
    writes = draw(st.lists(st.sampled_from(distinct), min_size=len(distinct), max_size=40))
    writes = writes + distinct  # every distinct row is written at least once
    return distinct, draw(st.permutations(writes))


@PROPERTY
@given(case=candle_writes(), cuts=st.lists(st.integers(0, 60), max_size=5))
def test_candle_upsert_is_idempotent(db: Database, case: tuple, cuts: list[int]) -> None:
    distinct, writes = case
    _clear(db, Candle)
    _write_in_batches(db, writes, cuts)
    stored = read_records(db, Candle)
    assert sorted(stored, key=lambda c: (c.symbol, c.ts)) == sorted(
        distinct, key=lambda c: (c.symbol, c.ts)
    )


@st.composite
def partial_metric_writes(draw: st.DrawFn) -> list[OnchainMetric]:
    """Partial rows of a few (asset, ts) keys: each field has one value per key (or is
    absent from a row), block heights vary, each row comes from one source."""
    rows = []
    for asset in draw(st.sets(st.sampled_from(["BTC", "ETH", "LTC"]), min_size=1)):
        full = factories.onchain_metric(asset=asset)
        for _ in range(draw(st.integers(1, 5))):
            absent = draw(st.sets(st.sampled_from(PARTIAL_FIELDS)))
            rows.append(
                dataclasses.replace(
                    full,
                    sources=(draw(st.sampled_from(["mempool", "blockchain_info", "coingecko"])),),
                    block_height=draw(st.none() | st.integers(800_000, 800_010)),
                    **{name: None for name in absent},
                )
            )
    return rows


def _expected_merge(rows: list[OnchainMetric]) -> list[OnchainMetric]:
    merged = []
    for asset in sorted({r.asset for r in rows}):
        mine = [r for r in rows if r.asset == asset]
        values = {
            name: next((getattr(r, name) for r in mine if getattr(r, name) is not None), None)
            for name in PARTIAL_FIELDS
        }
        heights = [r.block_height for r in mine if r.block_height is not None]
        merged.append(
            dataclasses.replace(
                mine[0],
                sources=tuple(sorted({s for r in mine for s in r.sources})),
                block_height=max(heights) if heights else None,
                **values,
            )
        )
    return merged


@PROPERTY
@given(rows=partial_metric_writes(), data=st.data())
def test_partial_rows_merge_in_any_order(db: Database, rows: list, data: st.DataObject) -> None:
    _clear(db, OnchainMetric)
    writes = data.draw(st.permutations(rows + data.draw(st.lists(st.sampled_from(rows)))))
    _write_in_batches(db, writes, data.draw(st.lists(st.integers(0, 30), max_size=4)))
    assert read_records(db, OnchainMetric) == _expected_merge(rows)
