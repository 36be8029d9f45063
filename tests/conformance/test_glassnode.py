"""Glassnode: the real metric recordings (points and bulk), fetched through the real
path from the replay server and parsed; the facts asserted are read off the recordings."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D

from ohmycoins.records import OnchainMetric
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.glassnode import (
    METRICS,
    Glassnode,
    Metric,
    parse_metric_bulk,
    parse_metric_points,
)
from tests.support.replay import Reply, replay_server

Recorded = Callable[..., Reply]
MVRV = next(m for m in METRICS if m.field == "mvrv")
JAN_3_2009 = 1_230_940_800_000


def glassnode(url: str) -> Glassnode:
    return Glassnode(SourceSettings(url=url, api_key="k", rate_limit=60_000))


async def test_metric_points(recorded: Recorded) -> None:
    routes = {"/v1/metrics/market/mvrv": recorded("glassnode/metric_points.json")}
    async with replay_server(routes) as url, glassnode(url) as api:
        parsed = parse_metric_points(await api.fetch_metric(MVRV, "BTC"), "bitcoin", "mvrv")
    assert parsed.violations == []
    assert [(r.ts, r.mvrv) for r in parsed.records] == [
        (JAN_3_2009 + day * 86_400_000, D("2.4755000000000003")) for day in range(3)
    ]


async def test_metric_bulk(recorded: Recorded) -> None:
    bulk = Metric("market_cap", "market/marketcap_usd/bulk", {})
    routes = {"/v1/metrics/market/marketcap_usd/bulk": recorded("glassnode/metric_bulk.json")}
    async with replay_server(routes) as url, glassnode(url) as api:
        parsed = parse_metric_bulk(await api.fetch_metric(bulk, "BTC"), "market_cap")
    assert parsed.violations == []
    assert len(parsed.records) == 62  # 31 days, BTC and ETH each
    first_btc, first_eth = parsed.records[:2]
    assert first_btc == OnchainMetric(
        "bitcoin", 1_770_076_800_000, ("glassnode",), market_cap=D("1513125006987.5164")
    )
    assert (first_eth.asset, first_eth.market_cap) == ("ethereum", D("281197883560.20215"))
    assert parsed.records[-1].market_cap == D("261969581782.80243")
