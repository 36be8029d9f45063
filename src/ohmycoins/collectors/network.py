"""Blockchain network collections (Glass ledger, no key): Bitcoin from blockchain.info
and mempool.space, Ethereum from a JSON-RPC node.

Each collector stores one partial `OnchainMetric` row of its asset in the current
hour, every 15 minutes: readings of several sources in the same hour merge into one
row (a NULL never erases a value, the block height never goes back, `sources` lists
every contributor), and each later reading of the hour updates it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ohmycoins.collectors.clients import Sources
from ohmycoins.collectors.collect import collect, outcome
from ohmycoins.collectors.ingest import StoreResult
from ohmycoins.publish import Broker
from ohmycoins.scheduling.registry import Collector, RunContext, RunFn, RunOutcome
from ohmycoins.scheduling.schedule import Schedule
from ohmycoins.sources import blockchain_info, ethereum_rpc, mempool
from ohmycoins.sources.blockchain_info import BlockchainInfo, parse_stats
from ohmycoins.sources.ethereum_rpc import EthereumRpc
from ohmycoins.sources.mempool import Mempool
from ohmycoins.storage.database import Database

EVERY_15_MINUTES = 900.0
EXPECTED_ROWS = 1
"""Each reading is one row of one asset."""


async def collect_blockchain_info(
    api: BlockchainInfo, db: Database, broker: Broker | None
) -> StoreResult:
    """Bitcoin's height, block time, hash rate, difficulty and 24 h transactions."""
    return await collect(db, broker, blockchain_info.NAME, api.fetch_stats, parse_stats)


async def collect_mempool(api: Mempool, db: Database, broker: Broker | None) -> StoreResult:
    """Bitcoin's fee rates, mempool size, tip height, hash rate, difficulty, block time."""
    return await collect(db, broker, mempool.NAME, api.fetch_network, mempool.parse_network)


async def collect_ethereum(api: EthereumRpc, db: Database, broker: Broker | None) -> StoreResult:
    """Ethereum's height, gas price and mean block time."""
    return await collect(
        db, broker, ethereum_rpc.NAME, api.fetch_network, ethereum_rpc.parse_network
    )


def default_collectors(sources: Sources) -> list[Collector]:
    """The network collectors of the enabled network sources; none in demo mode."""
    if sources.offline:
        return []
    settings = sources.settings
    options = sources.http_options
    collectors: list[Collector] = []
    if settings.source(blockchain_info.NAME).enabled:
        stats = sources.keep(BlockchainInfo(settings.source(blockchain_info.NAME), **options))
        run = _run(lambda: collect_blockchain_info(stats, sources.db, sources.broker))
        collectors.append(_collector("blockchain_info_stats", blockchain_info.NAME, run, 1))
    if settings.source(mempool.NAME).enabled:
        space = sources.keep(Mempool(settings.source(mempool.NAME), **options))
        run = _run(lambda: collect_mempool(space, sources.db, sources.broker))
        calls = len(mempool.ENDPOINTS)
        collectors.append(_collector("mempool_network", mempool.NAME, run, calls))
    if settings.source(ethereum_rpc.NAME).enabled:
        node = sources.keep(EthereumRpc(settings.source(ethereum_rpc.NAME), **options))
        run = _run(lambda: collect_ethereum(node, sources.db, sources.broker))
        calls = ethereum_rpc.CALLS_PER_READING
        collectors.append(_collector("ethereum_rpc_network", ethereum_rpc.NAME, run, calls))
    return collectors


def _collector(name: str, source: str, run: RunFn, calls: int) -> Collector:
    schedule = Schedule.every(EVERY_15_MINUTES)
    return Collector(name, "glass", source, schedule, run, priority=4, calls_per_run=calls)


def _run(collection: Callable[[], Awaitable[StoreResult]]) -> RunFn:
    async def run(_context: RunContext) -> RunOutcome:
        return outcome(await collection(), EXPECTED_ROWS)

    return run
