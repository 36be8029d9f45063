"""Glass collections end to end (fetch → parse → check → store → publish) through the
real HTTP path of DeFiLlama, blockchain.info, mempool.space and an Ethereum node,
against a local server replaying the small fixtures of tests/fixtures, on both
database backends.

The clock of a collection is frozen at the start of each test, so readings of
several sources always fall in the same hour and day.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from ohmycoins.collectors import collect as collect_module
from ohmycoins.collectors import defillama, network
from ohmycoins.collectors.clients import Sources
from ohmycoins.publish import MemoryBroker
from ohmycoins.records import OnchainMetric, ProtocolFundamental, QuarantinedRecord
from ohmycoins.scheduling.registry import Collector, RunContext
from ohmycoins.settings import Settings, SourceSettings, load_settings
from ohmycoins.sources.blockchain_info import BlockchainInfo
from ohmycoins.sources.defillama import DefiLlama, DefiLlamaStablecoins
from ohmycoins.sources.mempool import Mempool
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records
from ohmycoins.timeframes import floor_ts, now_ms
from tests.support.replay import Reply, replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture(source: str, name: str) -> Reply:
    return Reply.file(FIXTURES / source / name)


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The collection clock, fixed at the start of the test."""
    at = now_ms()
    monkeypatch.setattr(collect_module, "now_ms", lambda: at)
    yield at


def fast(url: str) -> SourceSettings:
    return SourceSettings(url=url, rate_limit=60000)


def mempool_routes(tip: bytes = b"873211") -> dict[str, Reply]:
    return {
        "/api/v1/fees/recommended": fixture("mempool", "fees_recommended.json"),
        "/api/mempool": fixture("mempool", "mempool.json"),
        "/api/blocks/tip/height": Reply(tip, content_type="text/plain"),
        "/api/v1/mining/hashrate/3d": fixture("mempool", "hashrate_3d.json"),
        "/api/v1/difficulty-adjustment": fixture("mempool", "difficulty_adjustment.json"),
    }


async def test_two_bitcoin_sources_in_one_hour_make_one_row(db: Database, frozen_now: int) -> None:
    routes = {
        "/stats": [
            fixture("blockchain_info", "stats.json"),
            fixture("blockchain_info", "stats_shape_changed.json"),
        ],
        **mempool_routes(),
    }
    broker = MemoryBroker()
    async with (
        replay_server(routes) as url,
        BlockchainInfo(fast(url)) as stats,
        Mempool(fast(f"{url}/api")) as space,
    ):
        first = await network.collect_blockchain_info(stats, db, broker)
        await network.collect_mempool(space, db, broker)
        later = await network.collect_blockchain_info(stats, db, None)
    (row,) = read_records(db, OnchainMetric, asset="bitcoin")
    assert row.ts == floor_ts(frozen_now, "1h")
    assert row.sources == ("blockchain_info", "mempool")
    assert row.block_height == 873211  # mempool's newer tip; the later reading has none
    assert (row.fee_fast, row.mempool_size) == (D(12), 56789)  # mempool only
    assert row.tx_volume_usd == D("1.2345678901234E10")  # blockchain.info only
    # the later blockchain.info reading sent difficulty null and n_tx "many":
    assert row.difficulty == D("102289407543323.8")  # kept: a NULL never erases
    assert row.tx_count == 412345
    assert row.hash_rate == D("791234567890.123E9")  # updated by the later reading
    assert first.written == 1 and later.quarantined == 1
    (quarantined,) = read_records(db, QuarantinedRecord)
    assert quarantined.source == "blockchain_info" and "n_tx" in quarantined.rule
    assert await broker.get_latest("onchain_metrics") is not None


async def test_block_height_never_goes_back(db: Database, frozen_now: int) -> None:
    routes = {"/stats": fixture("blockchain_info", "stats.json"), **mempool_routes(b"873300")}
    async with (
        replay_server(routes) as url,
        Mempool(fast(f"{url}/api")) as space,
        BlockchainInfo(fast(url)) as stats,
    ):
        await network.collect_mempool(space, db, None)
        await network.collect_blockchain_info(stats, db, None)  # says 873210
    (row,) = read_records(db, OnchainMetric)
    assert row.block_height == 873300


async def test_protocol_tvl_and_fees_merge_into_one_row_per_day(
    db: Database, frozen_now: int
) -> None:
    routes = {
        "/protocols": [
            fixture("defillama", "protocols.json"),
            fixture("defillama", "protocols_later.json"),
        ],
        "/overview/fees?dataType=dailyFees": fixture("defillama", "fees_dailyFees.json"),
        "/overview/fees?dataType=dailyRevenue": fixture("defillama", "fees_dailyRevenue.json"),
    }
    async with replay_server(routes) as url, DefiLlama(fast(url)) as api:
        tvl = await defillama.collect_protocols(api, db, None)
        await defillama.collect_fees(api, db, None, "dailyFees")
        await defillama.collect_fees(api, db, None, "dailyRevenue")
        merged = {r.protocol: r for r in read_records(db, ProtocolFundamental)}
        later = await defillama.collect_protocols(api, db, None)
    today = floor_ts(frozen_now, "1d")
    rows = {r.protocol: r for r in read_records(db, ProtocolFundamental)}
    assert set(rows) == {"aave-v3", "lido", "uniswap-v3", "fee-only-dex"}
    assert {r.day for r in rows.values()} == {today}
    assert merged["aave-v3"].tvl == D("21746391232.5188")
    aave = rows["aave-v3"]
    assert aave.tvl == D("21801122334.75")  # the second collection of the day updated it
    assert (aave.fees_24h, aave.revenue_24h, aave.revenue_30d) == (
        D("2381452.73"),
        D("321123.45"),
        D("9312345.67"),
    )
    assert (aave.name, aave.category, aave.chain) == ("Aave V3", "Lending", "Multi-Chain")
    lido = rows["lido"]
    assert lido.market_cap == D("1523456789.12")  # the later null did not erase it
    assert rows["uniswap-v3"].fees_24h is None  # in /protocols only
    assert (tvl.written, tvl.quarantined, later.written) == (3, 2, 2)
    quarantined = read_records(db, QuarantinedRecord)
    assert {q.source for q in quarantined} == {"defillama"}
    assert len(quarantined) == 3  # two /protocols rows and one fee row


async def test_chain_tvl_and_stablecoin_supply_are_onchain_metrics(
    db: Database, frozen_now: int
) -> None:
    routes = {
        "/v2/chains": fixture("defillama", "chains.json"),
        "/stablecoins": fixture("defillama", "stablecoins.json"),
    }
    async with (
        replay_server(routes) as url,
        DefiLlama(fast(url)) as api,
        DefiLlamaStablecoins(fast(url)) as stable,
    ):
        chains = await defillama.collect_chains(api, db, None)
        coins = await defillama.collect_stablecoins(stable, db, None)
    rows = {r.asset: r for r in read_records(db, OnchainMetric)}
    assert set(rows) == {"ethereum", "solana", "tether", "euro-coin"}
    assert rows["ethereum"].tvl == D("62320718362.34265")
    assert rows["tether"].circulating_supply == D("183456123456.123456")
    assert {r.ts for r in rows.values()} == {floor_ts(frozen_now, "1h")}
    assert (chains.written, chains.quarantined, coins.written, coins.quarantined) == (2, 1, 2, 1)
    sources = {q.source for q in read_records(db, QuarantinedRecord)}
    assert sources == {"defillama", "defillama_stablecoins"}


def glass_settings(url: str) -> Settings:
    env = {
        "OMC_DEFILLAMA_URL": url,
        "OMC_DEFILLAMA_STABLECOINS_URL": url,
        "OMC_BLOCKCHAIN_INFO_URL": url,
        "OMC_MEMPOOL_URL": f"{url}/api",
        "OMC_ETHEREUM_RPC_URL": f"{url}/rpc",
    }
    env |= {f"OMC_{name}_RATE_LIMIT": "60000" for name in ("DEFILLAMA", "MEMPOOL")}
    env |= {f"OMC_{name}_RATE_LIMIT": "60000" for name in ("BLOCKCHAIN_INFO", "ETHEREUM_RPC")}
    env["OMC_DEFILLAMA_STABLECOINS_RATE_LIMIT"] = "60000"
    return load_settings(env)


def context(collector: Collector, db: Database, cursor: str | None = None) -> RunContext:
    return RunContext(collector.name, collector.name, collector.source, now_ms(), cursor, 1, db)


def by_name(collectors: list[Collector]) -> dict[str, Collector]:
    return {collector.name: collector for collector in collectors}


async def test_default_collectors_run_on_the_glass_ledger(
    sqlite_db: Database, frozen_now: int
) -> None:
    rpc = [fixture("ethereum_rpc", name) for name in ("block_number.json", "gas_price.json")]
    rpc += [fixture("ethereum_rpc", n) for n in ("block_latest.json", "block_earlier.json")]
    routes: dict[str, Any] = {
        "/stats": fixture("blockchain_info", "stats.json"),
        "/rpc": rpc,
        "/v2/chains": fixture("defillama", "chains.json"),
        **mempool_routes(),
    }
    async with replay_server(routes) as url:
        sources = Sources(glass_settings(url), sqlite_db, None)
        collectors = by_name(defillama.default_collectors(sources))
        collectors |= by_name(network.default_collectors(sources))
        try:
            for name in ("blockchain_info_stats", "mempool_network", "ethereum_rpc_network"):
                done = await collectors[name].run(context(collectors[name], sqlite_db))
                assert (done.records_written, done.records_quarantined) == (1, 0)
            chains = collectors["defillama_chains"]
            assert (await chains.run(context(chains, sqlite_db))).records_written == 2
        finally:
            await sources.close()
    assert set(collectors) == {
        "defillama_protocols",
        "defillama_fees",
        "defillama_chains",
        "defillama_protocol_history",
        "defillama_stablecoins",
        "blockchain_info_stats",
        "mempool_network",
        "ethereum_rpc_network",
    }
    assert {c.ledger for c in collectors.values()} == {"glass"}
    assert len(sources.opened) == 5
    assert collectors["defillama_stablecoins"].source == "defillama_stablecoins"
    assert collectors["mempool_network"].calls_per_run == 5
    rows = {r.asset: r for r in read_records(sqlite_db, OnchainMetric)}
    assert rows["bitcoin"].sources == ("blockchain_info", "mempool")
    assert rows["ethereum"].sources == ("defillama", "ethereum_rpc")
    assert rows["ethereum"].gas_price_gwei == D("1.000000007")


async def test_protocol_history_is_collected_once_then_incrementally(
    sqlite_db: Database, frozen_now: int
) -> None:
    routes = {
        "/protocols": fixture("defillama", "protocols.json"),
        "/protocol/aave-v3": fixture("defillama", "protocol_aave-v3.json"),
        "/protocol/lido": Reply({"message": "Protocol not found"}, status=400),
        "/protocol/uniswap-v3": fixture("defillama", "protocol_aave-v3.json"),
    }
    async with replay_server(routes) as url:
        sources = Sources(glass_settings(url), sqlite_db, None)
        collectors = by_name(defillama.default_collectors(sources))
        try:
            protocols = collectors["defillama_protocols"]
            await protocols.run(context(protocols, sqlite_db))
            history = collectors["defillama_protocol_history"]
            first = await history.run(context(history, sqlite_db))
            again = await history.run(context(history, sqlite_db, first.cursor))
        finally:
            await sources.close()
    assert [r.path for r in url.requests[1:4]] == [
        "/protocol/lido",  # the largest TVL stored today first
        "/protocol/aave-v3",
        "/protocol/uniswap-v3",
    ]
    assert (first.problem or "").startswith("1 of 3 protocol(s) failed: lido: ")
    assert first.cursor is not None
    assert json.loads(first.cursor) == {
        "aave-v3": 1_700_179_200_000,
        "uniswap-v3": 1_700_179_200_000,
    }
    assert (first.records_written, again.records_written) == (6, 2)
    aave = read_records(sqlite_db, ProtocolFundamental, protocol="aave-v3")
    assert [r.day for r in aave] == [
        1_700_006_400_000,
        1_700_092_800_000,
        1_700_179_200_000,
        floor_ts(frozen_now, "1d"),
    ]


async def test_demo_mode_and_disabled_sources_have_no_glass_collectors(
    sqlite_db: Database,
) -> None:
    offline = Sources(load_settings({}), sqlite_db, None, offline=True)
    assert defillama.default_collectors(offline) == []
    assert network.default_collectors(offline) == []
    env = {f"OMC_{name}_ENABLED": "false" for name in ("DEFILLAMA", "MEMPOOL", "ETHEREUM_RPC")}
    sources = Sources(load_settings(env), sqlite_db, None)
    try:
        names = [c.name for c in defillama.default_collectors(sources)]
        names += [c.name for c in network.default_collectors(sources)]
    finally:
        await sources.close()
    assert names == ["defillama_stablecoins", "blockchain_info_stats"]
    assert offline.opened == []


@pytest.mark.parametrize("cursor", ["not json", "[1, 2]", '{"aave-v3": "yesterday"}'])
async def test_an_unreadable_history_cursor_starts_over(
    sqlite_db: Database, frozen_now: int, cursor: str
) -> None:
    routes = {"/protocol/aave-v3": fixture("defillama", "protocol_aave-v3.json")}
    async with replay_server(routes) as url:
        sources = Sources(glass_settings(url), sqlite_db, None)
        try:
            history = by_name(defillama.default_collectors(sources, ["aave-v3"]))
            run = history["defillama_protocol_history"]
            done = await run.run(context(run, sqlite_db, cursor))
        finally:
            await sources.close()
    assert done.records_written == 3 and run.calls_per_run == 1
    assert done.cursor == json.dumps({"aave-v3": 1_700_179_200_000})
