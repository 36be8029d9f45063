"""Social collections (Human ledger): Reddit submissions and X posts.

Posts are `collect`ed like any snapshot, with the optional `annotate` hook (currency
tagging, sentiment) between parse and store; they are published on the `social`
channel. A post is keyed by (platform, post_id), so polling again updates its score
and comment count instead of adding a row.

Defaults: the subreddits of `[news] subreddits` every 15 minutes in one collector (a
subreddit that fails does not fail the others: the run is partial); X recent search
every 6 hours from the last post seen (the run's cursor), disabled with "no API
key" until `OMC_X_API_KEY` is set. X's access tiers read very little on the free
one: set `OMC_X_MONTHLY_QUOTA` to your tier's monthly number of requests.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ohmycoins.collectors.clients import Sources
from ohmycoins.collectors.collect import (
    NO_KEY,
    EachReport,
    collect,
    collect_each,
    each_outcome,
    outcome,
)
from ohmycoins.collectors.ingest import StoreResult
from ohmycoins.collectors.news import LEDGER, Annotate, annotated
from ohmycoins.publish import Broker
from ohmycoins.records import SocialPost
from ohmycoins.scheduling.registry import Collector, RunContext, RunOutcome
from ohmycoins.scheduling.schedule import Schedule
from ohmycoins.sources import reddit, x
from ohmycoins.sources.parsing import Parsed
from ohmycoins.storage.database import Database

REDDIT_EVERY_S = 15 * 60
X_EVERY_S = 6 * 3600


Parse = Callable[[Any, int], Parsed[Any]]


def _with_annotate(
    parse: Callable[[Any, int], Parsed[SocialPost]], annotate: Annotate | None
) -> Parse:
    """`parse`, then the annotate hook on the posts it built."""

    def parse_annotated(raw: Any, at: int) -> Parsed[Any]:
        parsed = parse(raw, at)
        return Parsed(annotated(parsed.records, annotate), parsed.violations)

    return parse_annotated


SubredditsReport = EachReport[str, StoreResult]
"""One Reddit run: what each subreddit stored, and which failed and why."""


async def collect_subreddits(
    api: reddit.Reddit,
    subreddits: tuple[str, ...],
    db: Database,
    broker: Broker | None,
    annotate: Annotate | None = None,
) -> SubredditsReport:
    """The newest submissions of each subreddit in turn; a subreddit that fails is
    reported and the next is read; only when all fail is the first error raised."""
    parse = _with_annotate(reddit.parse_listing, annotate)

    async def one(subreddit: str) -> StoreResult:
        fetch = functools.partial(api.fetch_new, subreddit)
        return await collect(db, broker, reddit.NAME, fetch, parse)

    return await collect_each(subreddits, one, "subreddit", lambda sub: f"r/{sub}")


async def collect_x(
    api: x.X,
    query: str,
    db: Database,
    broker: Broker | None,
    since_id: str | None = None,
    annotate: Annotate | None = None,
) -> tuple[StoreResult, str | None]:
    """Recent posts matching `query` newer than `since_id`; returns what was stored and
    the newest post id seen (the next run's `since_id`)."""
    newest: list[str | None] = [since_id]
    parse_posts = _with_annotate(x.parse_search, annotate)

    def parse(raw: Any, at: int) -> Parsed[Any]:
        newest[0] = x.newest_id(raw) or since_id
        return parse_posts(raw, at)

    result = await collect(db, broker, x.NAME, lambda: api.fetch_recent(query, since_id), parse)
    return result, newest[0]


def default_collectors(sources: Sources, annotate: Annotate | None = None) -> list[Collector]:
    """Reddit every 15 minutes, X every 6 hours (keyed); nothing in offline mode."""
    if sources.offline:
        return []
    collectors = []
    if sources.settings.source(reddit.NAME).enabled:
        collectors.append(_reddit_collector(sources, annotate))
    if sources.settings.source(x.NAME).enabled:
        collectors.append(_x_collector(sources, annotate))
    return collectors


def _reddit_collector(sources: Sources, annotate: Annotate | None) -> Collector:
    settings = sources.settings.source(reddit.NAME)
    api = sources.keep(reddit.Reddit(settings, **sources.http_options))
    subreddits = sources.settings.news.subreddits

    async def run(_context: RunContext) -> RunOutcome:
        report = await collect_subreddits(api, subreddits, sources.db, sources.broker, annotate)
        return each_outcome(report)

    return Collector(
        "reddit_posts",
        LEDGER,
        reddit.NAME,
        Schedule.every(REDDIT_EVERY_S),
        run,
        priority=4,
        calls_per_run=len(subreddits),
    )


def _x_collector(sources: Sources, annotate: Annotate | None) -> Collector:
    settings = sources.settings.source(x.NAME)
    api = sources.keep(x.X(settings, **sources.http_options))
    query = sources.settings.news.x_query

    async def run(context: RunContext) -> RunOutcome:
        result, newest = await collect_x(
            api, query, sources.db, sources.broker, context.cursor, annotate
        )
        return outcome(result, cursor=newest)

    has_key = settings.api_key is not None
    return Collector(
        "x_posts",
        LEDGER,
        x.NAME,
        Schedule.every(X_EVERY_S),
        run,
        priority=3,
        enabled=has_key,
        disabled_reason=None if has_key else NO_KEY,
    )
