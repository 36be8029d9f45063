"""CoinGecko coin detail (`/coins/{id}`): fetched through the real path from a local
replay server, then parsed.

The fixtures are hand-written in the shape of the real recording (tests/conformance
parses the recording itself): the 2021 answer with every block filled, and a recent
one whose community and developer blocks are all null.
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from ohmycoins.errors import PayloadError, SourceError
from ohmycoins.records import Asset, CommunityMetric, OnchainMetric
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.coingecko import (
    COIN_DETAIL_PARAMS,
    CoinGecko,
    network_type,
    parse_coin_detail,
)
from tests.support.replay import Reply, replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "coingecko"
NOW = 1_714_570_000_000  # 2024-05-01T13:26:40Z
HOUR = 1_714_568_400_000  # 2024-05-01T13:00:00Z


def fixture(name: str) -> Reply:
    return Reply.file(FIXTURES / name)


def gecko(url: str) -> CoinGecko:
    return CoinGecko(SourceSettings(url=url, rate_limit=60_000), attempts=1)


async def test_full_answer_fills_onchain_community_and_asset() -> None:
    routes = {"/coins/bitcoin": fixture("coin_detail_bitcoin.json")}
    async with replay_server(routes) as url, gecko(url) as api:
        raw = await api.fetch_coin_detail("bitcoin")
    assert url.requests[0].query == COIN_DETAIL_PARAMS
    parsed = parse_coin_detail(raw, NOW)
    assert parsed.violations == []
    onchain, community, asset = parsed.records
    assert onchain == OnchainMetric(
        asset="bitcoin",
        ts=HOUR,
        sources=("coingecko",),
        circulating_supply=D("19695043.0"),
        total_supply=D("21000000.0"),
        max_supply=D("21000000.0"),
        market_cap=D(1265432109876),
        commits_4w=108,
        stars=73168,
        contributors=846,
    )
    assert community == CommunityMetric(
        asset="bitcoin",
        ts=HOUR,
        sources=("coingecko",),
        reddit_subscribers=5724111,
        reddit_active_accounts=10088,
        telegram_users=None,
        twitter_followers=6400121,
    )
    assert asset == Asset(
        asset_id="bitcoin",
        symbol="BTC",
        name="Bitcoin",
        updated_ts=NOW,
        coingecko_id="bitcoin",
        network_type="pow",
    )


async def test_recent_null_blocks_give_a_partial_row_not_an_error() -> None:
    routes = {"/coins/ethereum": fixture("coin_detail_ethereum_recent_nulls.json")}
    async with replay_server(routes) as url, gecko(url) as api:
        parsed = parse_coin_detail(await api.fetch_coin_detail("ethereum"), NOW)
    assert parsed.violations == []
    onchain, asset = parsed.records  # no community row: nothing in it
    assert isinstance(onchain, OnchainMetric) and isinstance(asset, Asset)
    assert onchain.market_cap == D("361234567890.5")
    assert (onchain.max_supply, onchain.commits_4w, onchain.stars, onchain.contributors) == (
        None,
        None,
        None,
        None,
    )
    assert asset.network_type == "pos"


async def test_malformed_field_quarantines_only_its_record() -> None:
    routes = {"/coins/pepe": fixture("coin_detail_malformed.json")}
    async with replay_server(routes) as url, gecko(url) as api:
        parsed = parse_coin_detail(await api.fetch_coin_detail("pepe"), NOW)
    [onchain] = parsed.records  # no Asset: the consensus is unknown
    assert isinstance(onchain, OnchainMetric) and onchain.market_cap == D(3512345678)
    [violation] = parsed.violations
    assert (violation.record_type, violation.field, violation.value) == (
        "CommunityMetric",
        "twitter_followers",
        "lots",
    )
    assert violation.record["id"] == "pepe"  # the excerpt of the answer it came from


@pytest.mark.parametrize(
    "body",
    [b"<html>rate limited</html>", b"", b"[]", b'{"symbol": "btc"}', b'{"id": 7}'],
)
async def test_unusable_answers_are_payload_errors(body: bytes) -> None:
    async with replay_server({"/coins/bitcoin": Reply(body)}) as url, gecko(url) as api:
        with pytest.raises(PayloadError):
            parse_coin_detail(await api.fetch_coin_detail("bitcoin"), NOW)


async def test_unknown_coin_is_a_source_error() -> None:
    reply = Reply({"error": "coin not found"}, status=404)
    async with replay_server({"/coins/nope": reply}) as url, gecko(url) as api:
        with pytest.raises(SourceError, match="404"):
            await api.fetch_coin_detail("nope")


def test_network_type_from_algorithm_or_categories() -> None:
    assert network_type({"hashing_algorithm": "Scrypt", "categories": []}) == "pow"
    assert network_type({"hashing_algorithm": None, "categories": ["Proof of Work (PoW)"]}) == "pow"
    assert network_type({"categories": ["Proof of Stake (PoS)"]}) == "pos"
    assert network_type({"hashing_algorithm": "", "categories": None}) is None
