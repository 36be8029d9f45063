"""Macro collections: FRED series and Yahoo Finance daily closes (`[macro]` settings).

Schedules, and why:
- `fred_observations`, daily, priority 3: FRED series update at most once a day
  (DGS10, DFF), most monthly (CPI, M2). Each run asks, per series, for everything
  from the last stored date minus `REVISION_WINDOW_MS`, so revisions of recent values
  replace the stored ones; a series never stored starts at `fred.HISTORY_START`.
- `yahoo_closes`, every 3 hours, priority 3: one free call per symbol; during a
  trading day the newest bar carries the latest price, and the final close replaces it
  after the market shuts. A symbol never stored first fetches `FIRST_RANGE` of history.

FRED needs a key; without one its collector is listed, disabled, with `no API key`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ohmycoins.collectors.clients import Sources
from ohmycoins.collectors.glass import (
    BatchResult,
    collect_batch,
    without_key,
)
from ohmycoins.publish import Broker
from ohmycoins.records import MacroObservation
from ohmycoins.scheduling.registry import Collector, Ledger, RunContext, RunOutcome
from ohmycoins.scheduling.schedule import Schedule
from ohmycoins.sources import fred, yahoo
from ohmycoins.sources.fred import Fred, parse_observations
from ohmycoins.sources.yahoo import Yahoo, parse_chart
from ohmycoins.storage.cursors import latest_ts
from ohmycoins.storage.database import Database
from ohmycoins.timeframes import DAY_MS, iso_date

LEDGER: Ledger = "macro"
REVISION_WINDOW_MS = 365 * DAY_MS
"""How far back each FRED run re-reads: CPI and M2 revisions reach months back, and a
year of a daily series is still one small answer per call."""
FIRST_RANGE = "5y"
RECENT_RANGE = "1mo"


def last_stored_ts(db: Database, series_id: str, source: str) -> int | None:
    """Time of the newest stored observation of a series from one source."""
    return latest_ts(db, MacroObservation, series_id=series_id, source=source)


def fred_start(db: Database, series_id: str) -> str:
    """`observation_start` of a series: the last stored date minus the revision window."""
    newest = last_stored_ts(db, series_id, fred.NAME)
    if newest is None:
        return fred.HISTORY_START
    return max(iso_date(newest - REVISION_WINDOW_MS), fred.HISTORY_START)


async def collect_fred(
    api: Fred, db: Database, broker: Broker | None, series: Sequence[str]
) -> BatchResult:
    """Observations of every series in `series` since its `fred_start`, stored together."""
    starts = {series_id: fred_start(db, series_id) for series_id in series}
    return await collect_batch(
        db,
        broker,
        fred.NAME,
        series,
        lambda series_id: api.fetch_observations(series_id, starts[series_id]),
        lambda series_id, raw, _at: parse_observations(raw, series_id),
    )


async def collect_yahoo(
    api: Yahoo, db: Database, broker: Broker | None, symbols: Sequence[str]
) -> BatchResult:
    """Daily closes of every symbol: a month of them, or `FIRST_RANGE` for a new one."""
    ranges = {
        symbol: RECENT_RANGE
        if last_stored_ts(db, yahoo.series_id(symbol), yahoo.NAME) is not None
        else FIRST_RANGE
        for symbol in symbols
    }
    return await collect_batch(
        db,
        broker,
        yahoo.NAME,
        symbols,
        lambda symbol: api.fetch_chart(symbol, ranges[symbol]),
        lambda symbol, raw, _at: parse_chart(raw, symbol),
    )


def default_collectors(sources: Sources) -> list[Collector]:
    """The macro collectors of the configured series; none in the offline demo."""
    if sources.offline:
        return []
    collectors: list[Collector] = []
    macro = sources.settings.macro
    if macro.fred_series and sources.settings.source(fred.NAME).enabled:
        collectors.append(_fred_collector(sources, macro.fred_series))
    if macro.yahoo_symbols and sources.settings.source(yahoo.NAME).enabled:
        collectors.append(_yahoo_collector(sources, macro.yahoo_symbols))
    return collectors


def _fred_collector(sources: Sources, series: Sequence[str]) -> Collector:
    name, schedule = "fred_observations", Schedule.every(86_400)
    settings = sources.settings.source(fred.NAME)
    if settings.api_key is None:
        return without_key(name, LEDGER, fred.NAME, schedule, len(series))
    api = sources.keep(Fred(settings, **sources.http_options))

    async def run(_context: RunContext) -> RunOutcome:
        result = await collect_fred(api, sources.db, sources.broker, series)
        return result.outcome()

    return Collector(name, LEDGER, fred.NAME, schedule, run, 3, calls_per_run=len(series))


def _yahoo_collector(sources: Sources, symbols: Sequence[str]) -> Collector:
    api = sources.keep(Yahoo(sources.settings.source(yahoo.NAME), **sources.http_options))

    async def run(_context: RunContext) -> RunOutcome:
        result = await collect_yahoo(api, sources.db, sources.broker, symbols)
        return result.outcome()

    schedule = Schedule.every(3 * 3600)
    calls = len(symbols)
    return Collector("yahoo_closes", LEDGER, yahoo.NAME, schedule, run, 3, calls_per_run=calls)
