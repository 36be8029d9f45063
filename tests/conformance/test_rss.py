"""Real third-party feeds (RSS 2.0, Medium's `content:encoded`, Atom, an ISO-8859-1
feed), served byte for byte and read through the real path: `Rss.fetch_feed`, then
`parse_feed`."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ohmycoins.records import NewsItem
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.rss import Rss, parse_feed
from tests.support.replay import Reply, replay_server

FETCHED = 1_700_000_000_000


async def read(reply: Reply, content_type: str) -> list[NewsItem]:
    served = Reply(reply.body, content_type=content_type)
    async with (
        replay_server({"/feed": served}) as url,
        Rss(SourceSettings(rate_limit=60_000)) as api,
    ):
        feed = await api.fetch_feed(f"{url}/feed")
    parsed = parse_feed(feed, FETCHED)
    assert parsed.violations == []
    return parsed.records


async def test_iso_8859_1_feed_decodes(recorded: Callable[..., Reply]) -> None:
    items = await read(recorded("rss/rssparser_encoding.rss"), "application/rss+xml")
    assert len(items) == 40
    first = items[0]
    assert first.title == "Mãe de utente é a nova presidente da Raríssimas"
    assert first.outlet == "Jornal de Notícias - Últimas Notícias"
    assert first.published_ts == 1_514_987_220_000  # Wed, 03 Jan 2018 13:47:00 GMT
    # FeedBurner's redirect link is replaced by the article's own (feedburner:origLink)
    assert first.url.startswith("https://www.jn.pt/nacional/")
    assert first.summary is not None and "Sónia Laygue" in first.summary


@pytest.mark.parametrize(
    ("name", "count", "outlet", "first_ts"),
    [
        ("rss/rssparser_guardian.rss", 55, "The Guardian", 1_517_383_565_000),
        (
            "rss/rssparser_reddit.rss",
            24,
            "reddit: the front page of the internet",
            1_447_362_999_000,
        ),
        (
            "rss/rssparser_content-encoded.rss",
            7,
            "Food in Invironment on Medium",
            1_523_300_138_000,
        ),
        ("rss/rssparser_heise.atom", 15, "heise developer neueste Meldungen", 1_454_343_720_000),
    ],
)
async def test_real_feeds(
    recorded: Callable[..., Reply], name: str, count: int, outlet: str, first_ts: int
) -> None:
    items = await read(recorded(name), "application/xml")
    assert len(items) == count
    assert {item.outlet for item in items} == {outlet}
    assert items[0].published_ts == first_ts
    assert all(item.url.startswith(("http://", "https://")) for item in items)
    assert all("utm_" not in item.url and "#" not in item.url for item in items)
    assert len({item.item_id for item in items}) == count
    assert all(item.summary is None or "<" not in item.summary for item in items)


RECORDED_FEEDS = [
    "rss/rssparser_encoding.rss",
    "rss/rssparser_guardian.rss",
    "rss/rssparser_reddit.rss",
    "rss/rssparser_content-encoded.rss",
    "rss/rssparser_heise.atom",
]


@pytest.mark.parametrize("name", RECORDED_FEEDS)
async def test_every_recorded_entry_gets_its_real_publish_time(
    recorded: Callable[..., Reply], name: str
) -> None:
    """Every entry of the real feeds carries a date: each is read (none left unknown),
    none is the fetch time, and the fetch time is kept beside it."""
    items = await read(recorded(name), "application/xml")
    assert all(item.published_ts is not None for item in items)
    assert all(item.published_ts != FETCHED and item.fetched_ts == FETCHED for item in items)


async def test_the_portuguese_feed_gets_its_real_publish_times(
    recorded: Callable[..., Reply],
) -> None:
    """The Portuguese outlet's feed (Jornal de Notícias): its 40 entries are dated
    between 00:25 and 13:48 GMT on 3 January 2018, as their `pubDate`s say."""
    items = await read(recorded("rss/rssparser_encoding.rss"), "application/rss+xml")
    times = sorted(item.published_ts for item in items if item.published_ts is not None)
    assert len(times) == 40
    assert (times[0], times[-1]) == (1_514_939_100_000, 1_514_987_280_000)
