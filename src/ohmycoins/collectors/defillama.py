"""DeFiLlama collections (Glass ledger, no key): protocol fundamentals, chain TVL,
TVL history of the largest protocols, and stablecoin supply.

- `defillama_protocols`, `defillama_fees`, `defillama_chains` and
  `defillama_stablecoins` run every 15 minutes. A protocol has one row per UTC day:
  the TVL of `/protocols` and the fees and revenue of the fees overview merge into it,
  and each later collection of the same day updates it.
- `defillama_protocol_history` runs daily: the TVL history of the `HISTORY_TOP`
  protocols with the highest TVL stored for the latest day (or of a fixed list). The
  first run stores every day; later runs only the days from the last one stored (the
  task's cursor), so the history stays complete without rewriting years of rows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence

from ohmycoins.collectors.clients import Sources
from ohmycoins.collectors.collect import (
    collect,
    collect_each,
    combined,
    each_outcome,
    outcome,
    run_outcome,
)
from ohmycoins.collectors.ingest import StoreResult
from ohmycoins.publish import Broker
from ohmycoins.records import OnchainMetric, ProtocolFundamental
from ohmycoins.scheduling.registry import Collector, RunContext, RunOutcome
from ohmycoins.scheduling.schedule import Schedule
from ohmycoins.sources.defillama import (
    FEE_FIELDS,
    NAME,
    STABLECOINS_NAME,
    DefiLlama,
    DefiLlamaStablecoins,
    Skipping,
    parse_chains,
    parse_fees,
    parse_protocol_history,
    parse_protocols,
    parse_stablecoins,
    top_protocols,
)
from ohmycoins.sources.parsing import JSON
from ohmycoins.storage.database import Database
from ohmycoins.storage.reads.glass import latest_protocols

log = logging.getLogger(__name__)

EVERY_15_MINUTES = 900.0
DAILY = 86_400.0
HISTORY_TOP = 20
"""How many of the largest protocols by TVL keep a daily TVL history."""

ParseSkipping = Callable[[JSON, int], Skipping[OnchainMetric]]


async def collect_protocols(api: DefiLlama, db: Database, broker: Broker | None) -> StoreResult:
    """Today's row of every protocol: name, category, main chain, TVL, market cap."""
    return await collect(db, broker, NAME, api.fetch_protocols, parse_protocols)


async def collect_fees(
    api: DefiLlama, db: Database, broker: Broker | None, data_type: str
) -> StoreResult:
    """Today's fees (`dailyFees`) or revenue (`dailyRevenue`) of every protocol."""
    return await collect(
        db,
        broker,
        NAME,
        lambda: api.fetch_fees(data_type),
        lambda raw, at: parse_fees(raw, data_type, at),
    )


async def collect_chains(api: DefiLlama, db: Database, broker: Broker | None) -> StoreResult:
    """The TVL of every chain with a CoinGecko id, as an on-chain metric of its coin."""
    return await collect(db, broker, NAME, api.fetch_chains, _logging_skips(parse_chains, "chain"))


async def collect_stablecoins(
    api: DefiLlamaStablecoins, db: Database, broker: Broker | None
) -> StoreResult:
    """The circulating supply of every stablecoin with a CoinGecko id."""
    return await collect(
        db,
        broker,
        STABLECOINS_NAME,
        api.fetch_stablecoins,
        _logging_skips(parse_stablecoins, "stablecoin"),
    )


async def collect_protocol_history(
    api: DefiLlama, db: Database, broker: Broker | None, slug: str, since_day: int | None = None
) -> StoreResult:
    """The daily TVL of one protocol from `since_day` on (its whole history without)."""
    return await collect(
        db,
        broker,
        NAME,
        lambda: api.fetch_protocol(slug),
        lambda raw, _at: parse_protocol_history(raw, slug, since_day),
    )


def largest_protocols(db: Database, count: int = HISTORY_TOP) -> list[str]:
    """The `count` protocols with the highest TVL stored for the latest day."""
    return top_protocols(latest_protocols(db), count)


def default_collectors(
    sources: Sources, history_protocols: Sequence[str] | None = None
) -> list[Collector]:
    """DeFiLlama's collectors of the enabled DeFiLlama sources; none in demo mode.

    `history_protocols` fixes the protocols whose history is kept; by default they are
    the `HISTORY_TOP` largest by stored TVL, chosen again at every run."""
    if sources.offline:
        return []
    collectors: list[Collector] = []
    if sources.settings.source(NAME).enabled:
        api = sources.keep(DefiLlama(sources.settings.source(NAME), **sources.http_options))
        collectors += _llama_collectors(sources, api, history_protocols)
    if sources.settings.source(STABLECOINS_NAME).enabled:
        settings = sources.settings.source(STABLECOINS_NAME)
        stable = sources.keep(DefiLlamaStablecoins(settings, **sources.http_options))
        collectors.append(_stablecoins_collector(sources, stable))
    return collectors


def _llama_collectors(
    sources: Sources, api: DefiLlama, history_protocols: Sequence[str] | None
) -> list[Collector]:
    async def protocols(_context: RunContext) -> RunOutcome:
        result = await collect_protocols(api, sources.db, sources.broker)
        return outcome(result)

    async def fees(_context: RunContext) -> RunOutcome:
        report = await collect_each(
            list(FEE_FIELDS), lambda t: collect_fees(api, sources.db, sources.broker, t), "fee list"
        )
        return each_outcome(report)

    async def chains(_context: RunContext) -> RunOutcome:
        result = await collect_chains(api, sources.db, sources.broker)
        return outcome(result)

    async def history(context: RunContext) -> RunOutcome:
        slugs = list(history_protocols or largest_protocols(sources.db))
        return await _history_run(sources, api, slugs, context.cursor)

    every = Schedule.every(EVERY_15_MINUTES)
    return [
        Collector("defillama_protocols", "glass", NAME, every, protocols, priority=4),
        Collector(
            "defillama_fees", "glass", NAME, every, fees, priority=4, calls_per_run=len(FEE_FIELDS)
        ),
        Collector("defillama_chains", "glass", NAME, every, chains, priority=4),
        Collector(
            "defillama_protocol_history",
            "glass",
            NAME,
            Schedule.every(DAILY),
            history,
            priority=2,
            calls_per_run=len(history_protocols or ()) or HISTORY_TOP,
        ),
    ]


async def _history_run(
    sources: Sources, api: DefiLlama, slugs: list[str], cursor: str | None
) -> RunOutcome:
    """Each protocol's history from its last stored day (`collect_each`: a protocol that
    fails is reported and the others are still collected)."""
    last_days = _last_days(cursor)

    async def one(slug: str) -> StoreResult:
        result = await collect_protocol_history(
            api, sources.db, sources.broker, slug, last_days.get(slug)
        )
        days = [r.day for r in result.stored if isinstance(r, ProtocolFundamental)]
        if days:
            last_days[slug] = max(days)
        return result

    report = await collect_each(slugs, one, "protocol")
    stored = combined(report.results)
    return run_outcome(
        stored.written,
        stored.quarantined,
        problem=report.problem,
        cursor=json.dumps(last_days, sort_keys=True),
    )


def _last_days(cursor: str | None) -> dict[str, int]:
    """The history cursor: slug -> last stored day; a cursor it cannot read starts over."""
    try:
        days = json.loads(cursor) if cursor else {}
    except ValueError:
        log.warning("unreadable TVL history cursor %r: collecting every day again", cursor)
        return {}
    if not isinstance(days, dict):
        return {}
    return {str(k): v for k, v in days.items() if isinstance(v, int) and not isinstance(v, bool)}


def _stablecoins_collector(sources: Sources, api: DefiLlamaStablecoins) -> Collector:
    async def stablecoins(_context: RunContext) -> RunOutcome:
        result = await collect_stablecoins(api, sources.db, sources.broker)
        return outcome(result)

    every = Schedule.every(EVERY_15_MINUTES)
    return Collector(
        "defillama_stablecoins", "glass", STABLECOINS_NAME, every, stablecoins, priority=4
    )


def _logging_skips(parse: ParseSkipping, what: str) -> ParseSkipping:
    """`parse`, logging how many rows it skipped on purpose (no CoinGecko id)."""

    def parse_and_log(raw: JSON, at: int) -> Skipping[OnchainMetric]:
        parsed = parse(raw, at)
        if parsed.skipped:
            log.info("skipped %d %s(s) without a CoinGecko id", len(parsed.skipped), what)
        return parsed

    return parse_and_log
