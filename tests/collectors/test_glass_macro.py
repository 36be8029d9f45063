"""Glass and macro collectors end to end (fetch → parse → check → store → publish) on
both database backends, built by their `default_collectors` from settings as a user
writes them, each source's URL aimed at a local replay server of small bodies in the
real wire shapes (tests/fixtures/<source>)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from ohmycoins.collectors import glass, macro
from ohmycoins.collectors.clients import Sources
from ohmycoins.collectors.ingest import store
from ohmycoins.errors import PayloadError
from ohmycoins.publish import MemoryBroker
from ohmycoins.records import (
    Asset,
    CommunityMetric,
    MacroObservation,
    OnchainMetric,
    QuarantinedRecord,
)
from ohmycoins.scheduling.registry import Collector, RunContext
from ohmycoins.settings import load_settings
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records
from tests.support.replay import Reply, replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NOW = 1_714_570_000_000  # 2024-05-01T13:26:40Z
HOUR = 1_714_568_400_000
APR_30 = 1_714_435_200_000
DAY = 86_400_000

OpenSources = Callable[..., "Sources"]


def fixture(source: str, name: str) -> Reply:
    return Reply.file(FIXTURES / source / name)


@pytest.fixture
async def open_sources(db: Database, tmp_path: Path) -> AsyncIterator[OpenSources]:
    """`open_sources(env, config)`: the process's `Sources` from these settings, closed
    after the test."""
    opened: list[Sources] = []

    def make(env: dict[str, str], config: str = "", **options: Any) -> Sources:
        path = tmp_path / "ohmycoins.toml"
        path.write_text(config)
        sources = Sources.open(load_settings(env, path), db, MemoryBroker(), **options)
        opened.append(sources)
        return sources

    yield make
    for sources in opened:
        await sources.close()


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs stamp rows with the hour of `NOW`, so two runs in one test share an hour."""
    monkeypatch.setattr("ohmycoins.collectors.collect.now_ms", lambda: NOW)


def named(collectors: list[Collector], name: str) -> Collector:
    return next(c for c in collectors if c.name == name)


def context(db: Database, collector: Collector, due_ts: int = NOW) -> RunContext:
    return RunContext(collector.name, collector.name, collector.source, due_ts, None, 1, db)


def seed_universe(db: Database) -> None:
    assets = [
        Asset("ethereum", "ETH", "Ethereum", NOW, coingecko_id="ethereum", rank=2),
        Asset("bitcoin", "BTC", "Bitcoin", NOW, coingecko_id="bitcoin", rank=1),
        Asset("pepe", "PEPE", "Pepe", NOW, coingecko_id="pepe", rank=3),
        Asset("luna", "LUNA", "Terra", NOW, coingecko_id="terra-luna", rank=4, active=False),
        Asset("solana", "SOL", "Solana", NOW, coingecko_id="solana", rank=5),
    ]
    store(db, assets, source="test")


async def test_coin_detail_of_the_active_universe(
    db: Database, open_sources: OpenSources, fixed_clock: None
) -> None:
    routes = {
        "/coins/bitcoin": fixture("coingecko", "coin_detail_bitcoin.json"),
        "/coins/ethereum": fixture("coingecko", "coin_detail_ethereum_recent_nulls.json"),
        "/coins/pepe": fixture("coingecko", "coin_detail_malformed.json"),
    }
    seed_universe(db)
    async with replay_server(routes) as url:
        env = {"OMC_COINGECKO_URL": url, "OMC_COINGECKO_RATE_LIMIT": "60000"}
        sources = open_sources(env, "[universe]\ntop_n = 3\n")
        collector = named(glass.default_collectors(sources), "coingecko_coin_detail")
        outcome = await collector.run(context(db, collector))
    assert (collector.ledger, collector.priority, collector.calls_per_run) == ("glass", 2, 3)
    assert [r.path for r in url.requests] == ["/coins/bitcoin", "/coins/ethereum", "/coins/pepe"]
    onchain = {r.asset: r for r in read_records(db, OnchainMetric)}
    assert onchain["bitcoin"].ts == HOUR and onchain["bitcoin"].stars == 73168
    assert onchain["ethereum"].market_cap == D("361234567890.5")
    assert onchain["pepe"].total_supply == D("420690000000000.0")
    [community] = read_records(db, CommunityMetric)  # ethereum's is empty, pepe's malformed
    assert (community.asset, community.reddit_subscribers) == ("bitcoin", 5724111)
    kinds = {a.asset_id: a.network_type for a in read_records(db, Asset)}
    assert kinds == {
        "bitcoin": "pow",
        "ethereum": "pos",
        "pepe": None,
        "luna": None,
        "solana": None,
    }
    [quarantined] = read_records(db, QuarantinedRecord)
    assert "twitter_followers" in quarantined.rule
    assert (outcome.records_quarantined, outcome.problem) == (1, None)


async def test_coin_detail_before_the_universe_looks_again_within_a_minute(
    db: Database, open_sources: OpenSources
) -> None:
    async with replay_server({}) as url:
        sources = open_sources({"OMC_COINGECKO_URL": url}, "")
        collector = named(glass.default_collectors(sources), "coingecko_coin_detail")
        outcome = await collector.run(context(db, collector))
    assert url.requests == []
    assert (outcome.records_written, outcome.retry_in_seconds) == (0, 60.0)
    assert outcome.status == "partial" and "coingecko_markets" in (outcome.problem or "")


async def test_a_later_null_never_erases_a_stored_value(
    db: Database, open_sources: OpenSources, fixed_clock: None
) -> None:
    full = (FIXTURES / "coingecko" / "coin_detail_bitcoin.json").read_bytes()
    nulls = (FIXTURES / "coingecko" / "coin_detail_ethereum_recent_nulls.json").read_bytes()
    later = nulls.replace(b'"ethereum"', b'"bitcoin"').replace(b"361234567890.5", b"1300000000000")
    routes = {"/coins/bitcoin": [Reply(full), Reply(later)]}
    async with replay_server(routes) as url:
        sources = open_sources({"OMC_COINGECKO_URL": url, "OMC_COINGECKO_RATE_LIMIT": "60000"})
        assert sources.coingecko is not None
        await glass.collect_coin_details(sources.coingecko, db, None, ["bitcoin"])
        await glass.collect_coin_details(sources.coingecko, db, None, ["bitcoin"])
    assert url.count("/coins/bitcoin") == 2
    [row] = read_records(db, OnchainMetric)
    assert row.market_cap == D(1300000000000)  # the newer value replaces
    assert (row.stars, row.commits_4w, row.contributors) == (73168, 108, 846)  # nulls do not
    assert row.max_supply == D("21000000.0")
    [community] = read_records(db, CommunityMetric)
    assert community.twitter_followers == 6400121
    [asset] = [a for a in read_records(db, Asset) if a.asset_id == "bitcoin"]
    assert asset.network_type == "pos"  # the later answer said PoS: a value, so it wins


async def test_glassnode_metrics_merge_into_one_row_per_asset_and_hour(
    db: Database, open_sources: OpenSources
) -> None:
    base = "/v1/metrics/"
    routes: dict[str, Any] = {
        f"{base}{metric.path}": [{"t": 1714435200, "v": 1000 + index}]
        for index, metric in enumerate(glass.glassnode.METRICS)
    }
    routes[f"{base}addresses/active_count"] = fixture("glassnode", "active_count_btc.json")
    routes[f"{base}market/mvrv"] = fixture("glassnode", "mvrv_btc.json")
    routes[f"{base}indicators/nvt?a=ETH"] = Reply({"message": "plan"}, status=403)
    async with replay_server(routes) as url:
        env = {"OMC_GLASSNODE_URL": url, "OMC_GLASSNODE_API_KEY": "k"}
        env["OMC_GLASSNODE_RATE_LIMIT"] = "60000"
        collector = named(glass.default_collectors(open_sources(env)), "glassnode_metrics")
        outcome = await collector.run(context(db, collector))
    assert collector.enabled and collector.calls_per_run == 14 == url.count()
    assert {r.query["s"] for r in url.requests} == {str((NOW - 3 * DAY) // 1000)}
    rows = {(r.asset, r.ts): r for r in read_records(db, OnchainMetric)}
    btc = rows["bitcoin", APR_30]
    assert btc.sources == ("glassnode",)
    assert (btc.active_addresses, btc.mvrv, btc.realized_cap) == (
        801234,
        D("2.1045000000000003"),
        1002,
    )
    assert (btc.nvt, btc.exchange_inflow, btc.exchange_outflow) == (1004, 1005, 1006)
    assert rows["ethereum", APR_30].nvt is None  # the forbidden call
    assert rows["bitcoin", APR_30 + DAY].active_addresses == 776543
    assert outcome.records_quarantined == 2  # BTC and ETH both got mvrv "n/a"
    assert outcome.problem is not None and "1 of 14" in outcome.problem


async def test_nansen_daily_exchange_flows(db: Database, open_sources: OpenSources) -> None:
    routes = {"/api/v1/tgm/flows": fixture("nansen", "flows_exchange_link.json")}
    async with replay_server(routes) as url:
        env = {"OMC_NANSEN_URL": url, "OMC_NANSEN_API_KEY": "k", "OMC_NANSEN_RATE_LIMIT": "60000"}
        collector = named(glass.default_collectors(open_sources(env)), "nansen_exchange_flows")
        await collector.run(context(db, collector))
    assert url.count() == collector.calls_per_run == len(glass.nansen.TOKENS)
    flows = {
        (r.asset, r.ts): (r.exchange_inflow, r.exchange_outflow)
        for r in read_records(db, OnchainMetric)
    }
    assert flows["chainlink", APR_30] == (D("542000.75"), D(200400))
    assert flows["uniswap", APR_30 + DAY] == (D(51000), D("333000.75"))


async def test_keyed_collectors_without_keys_are_listed_off(open_sources: OpenSources) -> None:
    sources = open_sources({})
    collectors = glass.default_collectors(sources) + macro.default_collectors(sources)
    off = {c.name: c.disabled_reason for c in collectors if not c.enabled}
    assert off == {
        "glassnode_metrics": "no API key",
        "nansen_exchange_flows": "no API key",
        "fred_observations": "no API key",
    }
    assert {c.name for c in collectors if c.enabled} == {"coingecko_coin_detail", "yahoo_closes"}
    assert {c.ledger for c in collectors} == {"glass", "macro"}
    assert [type(client).__name__ for client in sources.opened] == ["Yahoo"]


async def test_offline_demo_and_disabled_sources_have_none(open_sources: OpenSources) -> None:
    offline = open_sources({"OMC_FRED_API_KEY": "k"}, simulator_url="http://127.0.0.1:9")
    assert glass.default_collectors(offline) == macro.default_collectors(offline) == []
    env = {"OMC_YAHOO_ENABLED": "false", "OMC_GLASSNODE_ENABLED": "false"}
    names = {c.name for c in macro.default_collectors(open_sources(env))}
    names |= {c.name for c in glass.default_collectors(open_sources(env))}
    assert names == {"fred_observations", "nansen_exchange_flows", "coingecko_coin_detail"}


async def test_fred_revision_replaces_and_runs_are_incremental(
    db: Database, open_sources: OpenSources
) -> None:
    path = "/fred/series/observations"
    first = fixture("fred", "observations_dgs10.json")
    revised = fixture("fred", "observations_dgs10_revised.json")
    async with replay_server({path: [first, revised]}) as url:
        env = {"OMC_FRED_URL": url, "OMC_FRED_API_KEY": "k", "OMC_FRED_RATE_LIMIT": "60000"}
        sources = open_sources(env, '[macro]\nfred_series = ["DGS10"]\n')
        collector = named(macro.default_collectors(sources), "fred_observations")
        await collector.run(context(db, collector))
        stored = {r.ts: r.value for r in read_records(db, MacroObservation)}
        await collector.run(context(db, collector))
    may_2 = APR_30 + 2 * DAY
    assert stored[may_2] == D("4.59") and stored[may_2 - DAY] is None
    assert [r.query["observation_start"] for r in url.requests] == ["1900-01-01", "2023-05-03"]
    final = {r.ts: r.value for r in read_records(db, MacroObservation)}
    assert final[may_2] == D("4.58")  # the revision replaced the stored value
    assert final[may_2 + DAY] == D("4.50")  # quarantined before, valid now
    assert final[APR_30] == D("4.69") and len(final) == 5


async def test_yahoo_closes_first_history_then_recent(
    db: Database, open_sources: OpenSources
) -> None:
    routes = {
        "/v8/finance/chart/^GSPC": fixture("yahoo", "chart_gspc_1d.json"),
        "/v8/finance/chart/GC=F": fixture("yahoo", "chart_gspc_saturday_empty.json"),
    }
    async with replay_server(routes) as url:
        env = {"OMC_YAHOO_URL": url, "OMC_YAHOO_RATE_LIMIT": "60000"}
        sources = open_sources(env, '[macro]\nyahoo_symbols = ["^GSPC", "GC=F"]\n')
        collector = named(macro.default_collectors(sources), "yahoo_closes")
        first = await collector.run(context(db, collector))
        await collector.run(context(db, collector))
    assert [r.query["range"] for r in url.requests] == ["5y", "5y", "1mo", "5y"]
    closes = read_records(db, MacroObservation, series_id="yahoo:^GSPC")
    assert len(closes) == first.records_written == 4
    assert closes[-1].value == D("5127.7900390625")
    assert read_records(db, MacroObservation, series_id="yahoo:GC=F") == []


async def test_unusable_answers_fail_their_call_not_the_run(
    db: Database, open_sources: OpenSources
) -> None:
    routes = {
        "/v8/finance/chart/^GSPC": fixture("yahoo", "chart_gspc_1d.json"),
        "/v8/finance/chart/^VIX": Reply(b"<html>consent</html>", content_type="text/html"),
        "/v8/finance/chart/^IXIC": {"chart": {"result": [], "error": None}},
    }
    async with replay_server(routes) as url:
        env = {"OMC_YAHOO_URL": url, "OMC_YAHOO_RATE_LIMIT": "60000"}
        sources = open_sources(env, '[macro]\nyahoo_symbols = ["^GSPC", "^VIX", "^IXIC"]\n')
        collector = named(macro.default_collectors(sources), "yahoo_closes")
        outcome = await collector.run(context(db, collector))
        assert outcome.status == "partial" and outcome.problem is not None
        assert outcome.problem.startswith("2 of 3 call(s) failed")
        assert outcome.records_written == len(read_records(db, MacroObservation)) == 4
        api = sources.opened[0]
        assert isinstance(api, macro.Yahoo)
        with pytest.raises(PayloadError, match="not JSON"):
            await macro.collect_yahoo(api, db, None, ["^VIX", "^IXIC"])
    assert len(read_records(db, MacroObservation)) == 4  # nothing stored was lost
