"""`omc_conflicting_duplicates_total{table,source}`: immutable rows received again with
other values, as the quarantine table holds them (so every worker agrees)."""

from __future__ import annotations

from decimal import Decimal as D

from prometheus_client.parser import text_string_to_metric_families

from ohmycoins.collectors.ingest import store
from ohmycoins.storage.database import Database
from tests import factories as f
from tests.api.conftest import make_client


def conflicts(text: str) -> dict[tuple[str, str], float]:
    return {
        (sample.labels["table"], sample.labels["source"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "omc_conflicting_duplicates_total"
    }


def test_conflicts_are_counted_by_table_and_source(db: Database) -> None:
    with make_client(db) as api:
        assert conflicts(api.get("/metrics").text) == {}
    trade = f.trade(trade_id="1")
    store(db, [trade], source="binance")
    for price in ("1", "2"):  # two other versions of the stored trade
        store(db, [f.trade(trade_id="1", price=D(price))], source="binance", quarantine=True)
    with make_client(db) as api:
        assert conflicts(api.get("/metrics").text) == {("trades", "binance"): 2.0}
