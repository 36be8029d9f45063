"""RSS and Atom feeds fetched through the real path (HttpSource, httpx) from a local
replay server, then parsed.

No crypto outlet's feed was recorded: the fixtures under tests/fixtures/rss are
written in the shapes those outlets publish (CoinDesk's RSS 2.0 with CDATA titles,
`dc:creator`, `media:content` and tracking parameters on links; Cointelegraph's RSS
with `GMT` and `+0000` dates and an outlet suffix on a title; Decrypt's Atom with
zoned `published`/`updated`). Real third-party feeds are read in tests/conformance.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ohmycoins.enrich.news_dedup import item_id
from ohmycoins.errors import PayloadError, SourceError
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.rss import MAX_FEED_BYTES, Feed, Rss, outlet_name, parse_feed
from tests.support.replay import Reply, replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rss"
FETCHED = 1_709_660_000_000
COINDESK = "https://www.coindesk.com/arc/outboundfeeds/rss/"


def feed(name: str, url: str = COINDESK) -> Feed:
    return Feed(url, (FIXTURES / name).read_bytes())


def test_rss_items_with_canonical_urls_plain_summaries_and_utc_times() -> None:
    parsed = parse_feed(feed("coindesk.xml"), FETCHED)
    top, sec, newsletter = parsed.records
    assert top.title == "Bitcoin Tops $69K, Setting a New All-Time High"
    assert top.url == (
        "https://www.coindesk.com/markets/2024/03/05/bitcoin-tops-69k-setting-a-new-all-time-high"
    )
    assert top.item_id == item_id(top.url)
    assert top.published_ts == 1_709_651_040_000  # Tue, 05 Mar 2024 15:04:00 +0000
    assert top.summary == (
        "The largest cryptocurrency surpassed its November 2021 record of $68,990 ."
    )
    assert (top.outlet, top.source, top.currencies, top.sentiment_label) == (
        "CoinDesk",
        "rss",
        (),
        None,
    )
    assert sec.title == "SEC Delays Decision on BlackRock's Spot Ether ETF"
    # no pubDate: the date is unknown, and the fetch time stays in its own field
    assert (newsletter.published_ts, newsletter.fetched_ts) == (None, FETCHED)


def test_an_entry_without_a_link_is_a_violation_with_its_raw_fields() -> None:
    [bad] = parse_feed(feed("coindesk.xml"), FETCHED).violations
    assert (bad.record_type, bad.field, bad.value) == ("NewsItem", "link", None)
    assert bad.record == {
        "title": "Markets Daily: Crypto Update",
        "id": "PODCAST-2024-03-05",
        "published": "Tue, 05 Mar 2024 12:00:00 +0000",
    }


def test_atom_times_with_zones_and_updated_only_entries() -> None:
    parsed = parse_feed(feed("decrypt.atom", "https://decrypt.co/feed"), FETCHED)
    high, doge = parsed.records
    assert high.outlet == "Decrypt"
    assert high.published_ts == 1_709_651_560_000  # 2024-03-05T16:12:40+01:00
    assert high.url == "https://decrypt.co/220412/bitcoin-hits-new-all-time-high-above-69000"
    assert doge.published_ts == 1_709_643_600_000  # only <updated>: 2024-03-05T13:00:00Z
    assert doge.summary == "DOGE led a rally across meme coins."


def test_gmt_dates_and_tracking_parameters() -> None:
    parsed = parse_feed(feed("cointelegraph.xml", "https://cointelegraph.com/rss"), FETCHED)
    _, solana = parsed.records
    assert solana.published_ts == 1_709_647_800_000  # Tue, 05 Mar 2024 14:10:00 GMT
    assert solana.url == "https://cointelegraph.com/news/solana-dex-volume-surpasses-ethereum"


def test_a_feed_with_no_items_is_empty_not_an_error() -> None:
    parsed = parse_feed(feed("empty_channel.xml", "https://www.theblock.co/rss.xml"), FETCHED)
    assert parsed.records == [] and parsed.violations == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("not_a_feed.html", "not an RSS or Atom feed"),
        ("malformed.xml", "malformed feed with no readable entry"),
    ],
)
def test_what_is_not_a_feed_is_a_payload_error(name: str, message: str) -> None:
    with pytest.raises(PayloadError, match=message) as caught:
        parse_feed(feed(name), FETCHED)
    assert caught.value.request == COINDESK and caught.value.payload


@pytest.mark.parametrize("body", [b"", b"  \n\t"])
def test_an_empty_body_is_a_payload_error(body: bytes) -> None:
    with pytest.raises(PayloadError, match="empty body"):
        parse_feed(Feed(COINDESK, body), FETCHED)


def test_outlet_names_come_from_known_hosts_then_feed_titles() -> None:
    assert outlet_name("https://www.theblock.co/rss.xml", "The Block - Latest") == "The Block"
    assert outlet_name("https://blockworks.co/feed", "Blockworks") == "Blockworks"
    assert outlet_name("https://news.example.org/rss", None) == "news.example.org"


async def test_feeds_are_fetched_by_absolute_url_with_feed_accept_header() -> None:
    routes = {
        "/arc/outboundfeeds/rss/": Reply.file(
            FIXTURES / "coindesk.xml", content_type="application/rss+xml"
        )
    }
    async with replay_server(routes) as url, Rss(SourceSettings(rate_limit=60_000)) as api:
        fetched = await api.fetch_feed(f"{url}/arc/outboundfeeds/rss/")
    assert fetched.body == (FIXTURES / "coindesk.xml").read_bytes()
    [seen] = url.requests
    assert "application/rss+xml" in seen.headers["Accept"]
    assert seen.headers["User-Agent"].startswith("ohmycoins/")


async def test_a_feed_over_the_size_limit_is_refused_while_reading() -> None:
    huge = b"<rss><channel>" + b" " * MAX_FEED_BYTES + b"</channel></rss>"
    async with (
        replay_server({"/feed": Reply(huge, content_type="application/xml")}) as url,
        Rss(SourceSettings(rate_limit=60_000), attempts=1) as api,
    ):
        with pytest.raises(PayloadError, match="larger than"):
            await api.fetch_feed(f"{url}/feed")


async def test_http_errors_are_source_errors() -> None:
    async with (
        replay_server({"/feed": Reply("gone", status=404)}) as url,
        Rss(SourceSettings(rate_limit=60_000), attempts=1) as api,
    ):
        with pytest.raises(SourceError, match="HTTP 404"):
            await api.fetch_feed(f"{url}/feed")


async def test_dates_in_other_languages_are_read_and_unreadable_ones_are_unknown() -> None:
    """A Brazilian feed in ISO-8859-1 whose `pubDate`s are written in Portuguese
    (`Seg, 24 Set 2018 19:42:40 -0300`), which feedparser does not read."""
    body = (FIXTURES / "portuguese_dates.xml").read_bytes()
    routes = {"/rss": Reply(body, content_type="application/rss+xml")}
    async with replay_server(routes) as url, Rss(SourceSettings(rate_limit=60_000)) as api:
        parsed = parse_feed(await api.fetch_feed(f"{url}/rss"), FETCHED)
    assert parsed.violations == []
    monday, tuesday, english, undated = parsed.records
    assert monday.outlet == "Criptomoedas - Últimas Notícias"
    assert monday.published_ts == 1_537_828_960_000  # 2018-09-24T22:42:40Z
    assert tuesday.published_ts == 1_537_873_500_000  # 2018-09-25T11:05:00Z
    assert english.published_ts == 1_537_963_200_000  # 2018-09-26T12:00:00Z
    assert (undated.title, undated.published_ts) == (
        "Entrevista: o futuro das moedas digitais",
        None,
    )
    assert {item.fetched_ts for item in parsed.records} == {FETCHED}
