"""Immutable rows (trades) on both backends: a trade received again is not written
again, and one received with another price or amount is refused, reported with both
versions and quarantined by the gate, while the stored row stays as it was.

Each write goes through the real bulk path: the fast path that inserts a whole batch
of new keys, and the path that reads stored rows back when some key is known."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest

from ohmycoins.collectors.ingest import store
from ohmycoins.errors import ValidationError
from ohmycoins.quality.quarantine import CONFLICTING_DUPLICATE
from ohmycoins.records import Conflict, QuarantinedRecord, Trade
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records
from ohmycoins.storage.reads.market import conflict_counts
from ohmycoins.storage.upsert import upsert, upsert_records
from tests import factories as f

NOW = f.T0 + 3_600_000


def trades(first: int, count: int) -> list[Trade]:
    return [f.trade(trade_id=str(i), ts=f.T0 + i) for i in range(first, first + count)]


def test_a_batch_of_new_trades_is_written_whole(db: Database) -> None:
    with db.engine.begin() as conn:
        written = upsert_records(conn, trades(0, 500))
    assert (written.rows, written.unchanged, written.conflicts) == (500, [], [])
    assert len(read_records(db, Trade)) == 500


def test_an_overlapping_page_counts_only_the_rows_inserted(db: Database) -> None:
    assert upsert(db, trades(0, 100)) == 100
    with db.engine.begin() as conn:
        written = upsert_records(conn, trades(50, 100))  # 50 already stored, 50 new
    assert (written.rows, len(written.unchanged), written.conflicts) == (50, 50, [])
    assert len(read_records(db, Trade)) == 150


def test_a_changed_trade_is_a_conflict_and_the_stored_one_stays(db: Database) -> None:
    stored = f.trade(trade_id="7", price=D("37001.01"), amount=D("0.00120000"))
    upsert(db, [stored])
    changed = f.trade(trade_id="7", price=D("37002.50"))
    same_value = f.trade(trade_id="7", amount=D("0.0012"))  # the same amount, other digits
    with db.engine.begin() as conn:
        written = upsert_records(conn, [changed, *trades(100, 3)])
    assert written.rows == 3
    [conflict] = written.conflicts
    assert conflict == Conflict(stored, changed) and conflict.fields() == ("price",)
    with db.engine.begin() as conn:
        again = upsert_records(conn, [same_value])
    assert (again.rows, again.unchanged, again.conflicts) == (0, [same_value], [])
    [kept] = read_records(db, Trade, trade_id="7")
    assert (kept.price, kept.amount) == (D("37001.01"), D("0.00120000"))


def test_two_versions_of_one_trade_in_one_batch(db: Database) -> None:
    first = f.trade(trade_id="9")
    other = f.trade(trade_id="9", amount=D("5"))
    with db.engine.begin() as conn:
        written = upsert_records(conn, [first, first, other])
    assert (written.rows, written.unchanged, written.conflicts) == (
        1,
        [first],
        [Conflict(first, other)],
    )
    assert read_records(db, Trade) == [first]


def test_the_gate_quarantines_a_conflict_with_both_versions(db: Database) -> None:
    stored = f.trade(trade_id="7")
    store(db, [stored, *trades(100, 2)], source="binance", at_ms=NOW)
    changed = f.trade(trade_id="7", price=D("36000"), amount=D("2"))
    page = [stored, changed, *trades(100, 2), *trades(200, 3)]
    result = store(db, page, source="binance", quarantine=True, at_ms=NOW)
    assert result.written == 3  # only the trades inserted, not the whole page
    assert result.stored == trades(200, 3)
    assert (result.unchanged, result.quarantined) == (3, 1)
    [violation] = result.violations
    assert (violation.field, violation.rule) == ("price", CONFLICTING_DUPLICATE)
    [row] = read_records(db, QuarantinedRecord)
    assert row.rule.endswith(f": {CONFLICTING_DUPLICATE}") and row.source == "binance"
    payload = json.loads(row.payload)
    assert (payload["stored"]["price"], payload["received"]["price"]) == ("37001.01", "36000")
    assert (payload["stored"]["amount"], payload["received"]["amount"]) == ("0.00120000", "2")
    assert read_records(db, Trade, trade_id="7") == [stored]
    assert conflict_counts(db) == {("trades", "binance"): 1}
    # the same conflict seen again is the same quarantine row, not a second one
    store(db, [changed], source="binance", quarantine=True, at_ms=NOW + 1)
    assert conflict_counts(db) == {("trades", "binance"): 1}


def test_strict_mode_refuses_a_batch_with_a_conflict(db: Database) -> None:
    upsert(db, [f.trade(trade_id="7")])
    with pytest.raises(ValidationError, match=CONFLICTING_DUPLICATE):
        store(db, [f.trade(trade_id="7", price=D("1")), *trades(100, 2)], source="binance")
    assert len(read_records(db, Trade)) == 1  # nothing of the batch was written


def test_the_same_trade_twice_in_a_page_is_stored_and_counted_once(db: Database) -> None:
    trade = f.trade(trade_id="3")
    result = store(db, [trade, trade], source="binance", quarantine=True, at_ms=NOW)
    assert (result.stored, result.unchanged, result.quarantined) == ([trade], 1, 0)
