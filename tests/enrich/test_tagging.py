"""Asset tagging: precision and recall on the labelled headlines, and the stop-list rules."""

from __future__ import annotations

import pytest

from ohmycoins.collectors.ingest import store
from ohmycoins.enrich.tagging import Tagger, load_tagger
from ohmycoins.storage.database import Database
from ohmycoins.storage.reads.market import read_assets
from tests import factories as f
from tests.enrich.labelled import LABELS, load_headlines

MIN_PRECISION = 0.97
MIN_RECALL = 0.95


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger.default()


def test_labelled_set_is_large_and_attributed() -> None:
    rows = load_headlines()
    assert len(rows) >= 200
    assert len({row.headline for row in rows}) == len(rows)
    assert all(row.url.startswith("http") and row.outlet for row in rows)
    assert {row.sentiment for row in rows} == set(LABELS)


def test_precision_and_recall_on_labelled_headlines(tagger: Tagger) -> None:
    true_pos = false_pos = false_neg = 0
    for row in load_headlines():
        found = set(tagger.tag(row.headline))
        true_pos += len(found & row.currencies)
        false_pos += len(found - row.currencies)
        false_neg += len(row.currencies - found)
    precision = true_pos / (true_pos + false_pos)
    recall = true_pos / (true_pos + false_neg)
    report = f"tagging precision={precision:.3f} recall={recall:.3f} (tp={true_pos})"
    print(report)
    assert precision >= MIN_PRECISION and recall >= MIN_RECALL, report


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ethereum gas fees spike again", ("ETH",)),
        ("One year after the crash, bitcoin is back", ("BTC",)),
        ("Click this link to claim your airdrop", ()),
        ("Bitcoin trades near $30,000", ("BTC",)),
        ("Harmony's ONE token nosedives", ("ONE",)),
        ("Harmony [ONE] sinks by 12%", ("ONE",)),
        ("SAND, MANA tokens surged in November", ("SAND", "MANA")),
        ("Chainlink (LINK) rally", ("LINK",)),
        ("$link and $OP explained", ("LINK", "OP")),
        ("OP token plummets after giveaway", ("OP",)),
        ("WETH and WBTC pools drained", ("WETH", "WBTC")),
        ("eth and btc in lower case are words, not tickers", ()),
        ("Bitcoin Cash forks again", ("BCH",)),
        ("Solana overtakes Ripple; XRP slides", ("SOL", "XRP")),
        ("The polygon on the chart is not Polygon", ("MATIC",)),
    ],
)
def test_stop_list_and_forms(tagger: Tagger, text: str, expected: tuple[str, ...]) -> None:
    assert tagger.tag(text) == expected


def test_each_asset_once_in_order_of_mention(tagger: Tagger) -> None:
    assert tagger.tag("BTC, ETH and Bitcoin again: $BTC") == ("BTC", "ETH")


def test_from_assets_uses_only_the_given_universe() -> None:
    tagger = Tagger.from_assets([f.asset(asset_id="kaspa", symbol="kas", name="Kaspa")])
    assert tagger.symbols == frozenset({"KAS"})
    assert tagger.tag("Kaspa and KAS rally while Bitcoin waits") == ("KAS",)


def test_loader_reads_the_stored_universe(db: Database) -> None:
    assert load_tagger(read_assets(db, active_only=True)).tag("Bitcoin and Kaspa") == (
        "BTC",
        "KAS",
    )  # built-in universe
    store(db, [f.asset(asset_id="newcoin", symbol="NEWC", name="Newcoin")], source="test")
    assert load_tagger(read_assets(db, active_only=True)).tag("Bitcoin and Newcoin") == ("NEWC",)
