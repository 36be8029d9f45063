"""Glass ledger collections: CoinGecko coin detail, Glassnode metrics, Nansen flows.

Schedules, and why:
- `coingecko_coin_detail`, every 6 hours, priority 2: one call per coin of the active
  universe (up to `universe.top_n`), on the CoinGecko budget the 5-minute market
  collector also spends. Supply, commit counts and community sizes move over days, so
  four readings a day lose nothing; the low priority lets the quota stretch this
  schedule first when the month's budget runs short.
- `glassnode_metrics`, hourly, priority 3: daily values (`i=24h`) of 7 metrics for BTC
  and ETH; the newest day is published some hours after midnight, and an hourly look
  catches it soon at 14 calls a run.
- `nansen_exchange_flows`, every 6 hours, priority 3: every call spends plan credits,
  and the flows are kept as daily sums.

Keyed sources without their key are listed, disabled, with the reason `no API key`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ohmycoins.collectors.clients import Sources
from ohmycoins.collectors.collect import (
    NO_KEY,
    collect,
    collect_each,
    outcome,
    partial,
    run_outcome,
)
from ohmycoins.collectors.ingest import StoreResult
from ohmycoins.errors import ConfigError, PayloadError, SourceError
from ohmycoins.publish import Broker
from ohmycoins.scheduling.registry import Collector, Ledger, RunContext, RunOutcome
from ohmycoins.scheduling.schedule import Schedule
from ohmycoins.sources import glassnode, nansen
from ohmycoins.sources.coingecko import CoinGecko, parse_coin_detail
from ohmycoins.sources.glassnode import Glassnode, parse_metric_points
from ohmycoins.sources.nansen import Nansen, parse_exchange_flows
from ohmycoins.sources.parsing import JSON, Parsed
from ohmycoins.storage.database import Database
from ohmycoins.storage.reads.market import read_assets
from ohmycoins.timeframes import DAY_MS, iso_date

LEDGER: Ledger = "glass"
GLASSNODE_LOOKBACK_MS = 3 * DAY_MS
"""Each Glassnode run re-reads the last days: a late or revised daily value lands too."""
NANSEN_LOOKBACK_MS = 2 * DAY_MS
"""Each Nansen run re-sums yesterday (complete now) and today (still growing)."""

K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What a run of several calls stored, and how many calls failed."""

    stored: StoreResult
    calls: int
    failures: list[SourceError]

    def outcome(self, expected: int | None = None) -> RunOutcome:
        """The run's outcome (`expected` as in `collect.outcome`); failed calls make it
        partial, each error named."""
        problem = partial([str(error) for error in self.failures], self.calls, "call")
        return outcome(self.stored, expected, problem)


async def collect_batch(
    db: Database,
    broker: Broker | None,
    source: str,
    keys: Sequence[K],
    fetch: Callable[[K], Awaitable[JSON]],
    parse: Callable[[K, JSON, int], Parsed[Any]],
) -> BatchResult:
    """`fetch` for every key, then parse every answer and store them together, in one
    transaction.

    The calls follow the rule of `collect_each`: a failed call (an unknown coin, a
    metric outside the plan) does not stop the others; a ban or a rate limit stops the
    run. An answer that cannot be parsed at all (`PayloadError`) counts as a failed call
    and the others are still stored; if no call succeeded, the first error is raised."""

    async def answer(key: K) -> tuple[K, JSON]:
        return key, await fetch(key)

    report = await collect_each(keys, answer, "call")
    failures = [error for _key, error in report.failures]

    async def fetched() -> list[tuple[K, JSON]]:
        return report.results

    def parse_all(answers: list[tuple[K, JSON]], at: int) -> Parsed[Any]:
        combined: Parsed[Any] = Parsed()
        for key, raw in answers:
            try:
                part = parse(key, raw, at)
            except PayloadError as error:
                failures.append(error)
                continue
            combined.records.extend(part.records)
            combined.violations.extend(part.violations)
        return combined

    stored = await collect(db, broker, source, fetched, parse_all)
    if failures and len(failures) == len(keys):
        raise failures[0]
    return BatchResult(stored, len(keys), failures)


def active_coins(db: Database, top_n: int) -> list[str]:
    """CoinGecko ids of the active universe, by rank (unranked last), at most `top_n`."""
    coins = [a.coingecko_id for a in read_assets(db, active_only=True) if a.coingecko_id]
    return coins[:top_n]


async def collect_coin_details(
    api: CoinGecko, db: Database, broker: Broker | None, coin_ids: Sequence[str]
) -> BatchResult:
    """Coin detail of every coin of `coin_ids`, one call each, stored together."""
    return await collect_batch(
        db,
        broker,
        "coingecko",
        coin_ids,
        api.fetch_coin_detail,
        lambda _coin, raw, at: parse_coin_detail(raw, at),
    )


async def collect_glassnode(
    api: Glassnode, db: Database, broker: Broker | None, since_ms: int
) -> BatchResult:
    """Every metric of `glassnode.METRICS` for every asset of `glassnode.ASSETS` from
    `since_ms`; the partial rows of one (asset, hour) merge into one."""
    since_s = since_ms // 1000
    calls = [(metric, asset) for asset in glassnode.ASSETS for metric in glassnode.METRICS]
    return await collect_batch(
        db,
        broker,
        glassnode.NAME,
        calls,
        lambda call: api.fetch_metric(call[0], call[1], since_s),
        lambda call, raw, _at: parse_metric_points(raw, glassnode.ASSETS[call[1]], call[0].field),
    )


async def collect_nansen(
    api: Nansen,
    db: Database,
    broker: Broker | None,
    since_ms: int,
    until_ms: int,
    tokens: Sequence[nansen.Token] = nansen.TOKENS,
) -> BatchResult:
    """Daily exchange inflows and outflows (USD) of `tokens` between two times."""
    date_from, date_to = iso_date(since_ms), iso_date(until_ms)
    return await collect_batch(
        db,
        broker,
        nansen.NAME,
        tokens,
        lambda token: api.fetch_exchange_flows(token, date_from, date_to),
        lambda token, raw, _at: parse_exchange_flows(raw, token.asset_id),
    )


def default_collectors(sources: Sources) -> list[Collector]:
    """The glass collectors of the open sources; none in the offline demo."""
    if sources.offline:
        return []
    collectors: list[Collector] = []
    if sources.coingecko is not None:
        collectors.append(_coin_detail_collector(sources, sources.coingecko))
    if sources.settings.source(glassnode.NAME).enabled:
        collectors.append(_glassnode_collector(sources))
    if sources.settings.source(nansen.NAME).enabled:
        collectors.append(_nansen_collector(sources))
    return collectors


NO_UNIVERSE_YET = "no coins yet: coingecko_markets fills the universe"
UNIVERSE_WAIT_S = 60.0


def _coin_detail_collector(sources: Sources, api: CoinGecko) -> Collector:
    top_n = sources.settings.universe.top_n

    async def run(_context: RunContext) -> RunOutcome:
        coins = active_coins(sources.db, top_n)
        if not coins:
            return run_outcome(0, problem=NO_UNIVERSE_YET, retry_in_seconds=UNIVERSE_WAIT_S)
        result = await collect_coin_details(api, sources.db, sources.broker, coins)
        return result.outcome(len(coins))

    schedule = Schedule.every(6 * 3600)
    return Collector(
        "coingecko_coin_detail", LEDGER, "coingecko", schedule, run, 2, calls_per_run=top_n
    )


def _glassnode_collector(sources: Sources) -> Collector:
    name, schedule = "glassnode_metrics", Schedule.every(3600)
    calls = len(glassnode.METRICS) * len(glassnode.ASSETS)
    settings = sources.settings.source(glassnode.NAME)
    if settings.api_key is None:
        return without_key(name, LEDGER, glassnode.NAME, schedule, calls)
    api = sources.keep(Glassnode(settings, **sources.http_options))

    async def run(context: RunContext) -> RunOutcome:
        since = context.due_ts - GLASSNODE_LOOKBACK_MS
        result = await collect_glassnode(api, sources.db, sources.broker, since)
        return result.outcome()

    return Collector(name, LEDGER, glassnode.NAME, schedule, run, 3, calls_per_run=calls)


def _nansen_collector(sources: Sources) -> Collector:
    name, schedule = "nansen_exchange_flows", Schedule.every(6 * 3600)
    settings = sources.settings.source(nansen.NAME)
    if settings.api_key is None:
        return without_key(name, LEDGER, nansen.NAME, schedule, len(nansen.TOKENS))
    api = sources.keep(Nansen(settings, **sources.http_options))

    async def run(context: RunContext) -> RunOutcome:
        since = context.due_ts - NANSEN_LOOKBACK_MS
        result = await collect_nansen(api, sources.db, sources.broker, since, context.due_ts)
        return result.outcome()

    calls = len(nansen.TOKENS)
    return Collector(name, LEDGER, nansen.NAME, schedule, run, 3, calls_per_run=calls)


def without_key(
    name: str, ledger: Ledger, source: str, schedule: Schedule, calls: int
) -> Collector:
    """A keyed collector listed as off: it has no client and its run refuses to start."""

    async def run(_context: RunContext) -> RunOutcome:
        setting = f"OMC_{source.upper()}_API_KEY"
        raise ConfigError(setting, None, f"{name} needs an API key")

    return Collector(
        name,
        ledger,
        source,
        schedule,
        run,
        enabled=False,
        calls_per_run=calls,
        disabled_reason=NO_KEY,
    )
