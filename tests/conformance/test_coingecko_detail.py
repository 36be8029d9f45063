"""CoinGecko coin detail: the real `/coins/bitcoin` recording (2021-05-15), fetched
through the real path from the replay server and parsed; the facts asserted are read
off the recording itself."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D

from ohmycoins.records import Asset, CommunityMetric, OnchainMetric
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.coingecko import CoinGecko, parse_coin_detail
from tests.support.replay import Reply, replay_server

Recorded = Callable[..., Reply]
NOW = 1_621_094_500_000  # 2021-05-15T16:01:40Z, minutes after the recording
HOUR = 1_621_094_400_000


async def test_bitcoin_detail_2021(recorded: Recorded) -> None:
    routes = {"/coins/bitcoin": recorded("coingecko/coins_bitcoin_full_2021-05-15.json")}
    async with (
        replay_server(routes) as url,
        CoinGecko(SourceSettings(url=url, rate_limit=60_000)) as api,
    ):
        parsed = parse_coin_detail(await api.fetch_coin_detail("bitcoin"), NOW)
    assert parsed.violations == []
    onchain, community, asset = parsed.records
    assert onchain == OnchainMetric(
        asset="bitcoin",
        ts=HOUR,
        sources=("coingecko",),
        circulating_supply=D("18710825.0"),
        total_supply=D("21000000.0"),
        max_supply=D("21000000.0"),
        market_cap=D(916703120772),
        commits_4w=393,
        stars=53470,
        contributors=728,
    )
    assert community == CommunityMetric(
        asset="bitcoin",
        ts=HOUR,
        sources=("coingecko",),
        reddit_subscribers=2887559,
        reddit_active_accounts=10088,
        telegram_users=None,
        twitter_followers=89429,
    )
    assert isinstance(asset, Asset)
    assert (asset.asset_id, asset.symbol, asset.name, asset.network_type) == (
        "bitcoin",
        "BTC",
        "Bitcoin",
        "pow",
    )
