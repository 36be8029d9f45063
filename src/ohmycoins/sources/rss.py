"""RSS 2.0 and Atom feeds of crypto news outlets, read with feedparser.

Facts about the source, as data below:
- Feeds are absolute URLs (`[news] feeds` in the settings, `DEFAULT_FEEDS` when
  unset), so the client needs no base URL; `OMC_RSS_URL` only sets a base for a
  relative feed path. Every feed is fetched through the one `HttpSource` of the
  source `rss`, with its rate limit and a body capped at `MAX_FEED_BYTES`: a feed
  larger than that is refused with `PayloadError` before it is held in memory.
- feedparser decodes the body itself, honouring the XML declaration (ISO-8859-1
  feeds exist) and the HTTP charset; it accepts RSS 0.9x/1.0/2.0 and Atom, and
  parses published times in RFC 822, ISO 8601 and the other formats feeds use,
  always to UTC.
- A body that is no feed at all (empty, an HTML page, JSON, broken XML with no
  entry) is a `PayloadError`. A feed that is malformed but yields entries (an
  undefined entity, a bad tag later on) is read as far as feedparser can: its
  entries count. An entry without a title or a link is a violation.
- An entry's time is feedparser's reading where it has one; where it has none (a
  date in another language, `Seg, 24 Set 2018 19:42:40 -0300`), the entry's own text
  goes through the shared reader (`parsing.parse_time`). An entry with no time any
  reader understands is stored with its publish time unknown (`published_ts` None):
  the fetch time is its own field (`fetched_ts`), never passed off as a publish time.
- Feeds relayed through FeedBurner carry the article's own link in
  `feedburner:origLink`; it is preferred to the redirect link, so the canonical
  URL (and the item id) is the article's.
"""

from __future__ import annotations

import calendar
import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlsplit

import feedparser
from bs4 import BeautifulSoup

from ohmycoins.enrich.news_dedup import news_item
from ohmycoins.errors import PayloadError
from ohmycoins.records import NewsItem
from ohmycoins.settings import NewsSettings, SourceSettings
from ohmycoins.sources.http import SourceClient
from ohmycoins.sources.parsing import FieldError, Parsed, parse_time
from ohmycoins.sources.ratelimit import TokenBucket

log = logging.getLogger(__name__)

NAME = "rss"
RATE_LIMIT = 60.0
"""Requests per minute, across every feed: a handful of feeds every 15 minutes."""
MAX_FEED_BYTES = 5 * 1024 * 1024
"""Real outlet feeds are well under 1 MB; anything past this is not a news feed."""
SUMMARY_CHARS = 2000
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)

DEFAULT_FEEDS: tuple[str, ...] = NewsSettings().feeds
"""CoinDesk, Cointelegraph, Decrypt, The Block, Bitcoin Magazine."""
OUTLETS: Mapping[str, str] = {
    "coindesk.com": "CoinDesk",
    "cointelegraph.com": "Cointelegraph",
    "decrypt.co": "Decrypt",
    "theblock.co": "The Block",
    "bitcoinmagazine.com": "Bitcoin Magazine",
}
"""The outlet name of a feed by its host (without `www.`); other feeds use their title."""
TIME_KEYS = ("published", "updated", "created")


@dataclass(frozen=True, slots=True)
class Feed:
    """One fetched feed: its URL and the exact bytes it answered."""

    url: str
    body: bytes


class Rss(SourceClient):
    """Fetches feeds through one `HttpSource`; parse each with `parse_feed`."""

    name = NAME
    default_rate_limit = RATE_LIMIT

    def __init__(
        self,
        settings: SourceSettings | None = None,
        *,
        limiter: TokenBucket | None = None,
        attempts: int = 4,
        redis_url: str | None = None,
        max_body_bytes: int = MAX_FEED_BYTES,
    ) -> None:
        self.max_body_bytes = max_body_bytes
        super().__init__(settings, limiter=limiter, attempts=attempts, redis_url=redis_url)

    def _headers(self) -> dict[str, str]:
        return {"Accept": ACCEPT}

    async def fetch_feed(self, url: str) -> Feed:
        """The bytes of one feed (size-capped)."""
        return Feed(url, await self.http.get_bytes(url))


def outlet_name(feed_url: str, feed_title: str | None) -> str:
    """The outlet a feed belongs to: a known outlet by host, else the feed's title,
    else its host."""
    host = (urlsplit(feed_url).hostname or "").lower().removeprefix("www.")
    known = OUTLETS.get(host)
    return known or (feed_title or "").strip() or host or feed_url


def parse_feed(feed: Feed, fetched_ms: int) -> Parsed[NewsItem]:
    """A `NewsItem` per entry of an RSS or Atom feed; see the module docstring for
    malformed feeds and entries without a time.

        <rss version="2.0"><channel><title>CoinDesk</title>
          <item><title>Bitcoin Tops $70K</title>
            <link>https://www.coindesk.com/markets/2024/03/05/bitcoin-tops-70k/</link>
            <pubDate>Tue, 05 Mar 2024 10:00:00 +0000</pubDate>
            <description>&lt;p&gt;The largest cryptocurrency...&lt;/p&gt;</description>
          </item></channel></rss>
    """
    if not feed.body.strip():
        raise PayloadError(NAME, "empty body", payload=None, request=feed.url)
    parsed_feed = feedparser.parse(
        io.BytesIO(feed.body),
        response_headers={"content-location": feed.url, "content-type": "application/xml"},
    )
    entries = parsed_feed.get("entries") or []
    if not entries and not parsed_feed.get("version"):
        _refuse(feed, "not an RSS or Atom feed", parsed_feed)
    outlet = outlet_name(feed.url, _plain(parsed_feed.get("feed", {}).get("title")))
    result: Parsed[NewsItem] = Parsed()
    undated = 0
    for entry in entries:
        try:
            item, dated = _news_item(entry, outlet, fetched_ms)
        except FieldError as error:
            result.violations.append(error.violation("NewsItem", _raw_entry(entry)))
            continue
        undated += not dated
        result.records.append(item)
    if parsed_feed.get("bozo") and not result.records:
        _refuse(feed, "malformed feed with no readable entry", parsed_feed)
    if undated:
        log.info("%s: %d entries without a readable time, stored as unknown", feed.url, undated)
    return result


def _refuse(feed: Feed, what: str, parsed_feed: Any) -> NoReturn:
    reason = parsed_feed.get("bozo_exception")
    preview = feed.body[:500].decode("utf-8", "replace")
    detail = f"{what}: {reason}" if reason else what
    raise PayloadError(NAME, detail, payload=preview, request=feed.url)


def _news_item(entry: Any, outlet: str, fetched_ms: int) -> tuple[NewsItem, bool]:
    title = _plain(entry.get("title"))
    if not title:
        raise FieldError("title", entry.get("title"), "must be a non-empty text")
    link = entry.get("feedburner_origlink") or entry.get("link")
    if not isinstance(link, str) or not link.startswith(("http://", "https://")):
        raise FieldError("link", link, "must be an absolute http(s) URL")
    published = _entry_ms(entry)
    summary = _plain(entry.get("summary"))
    item = news_item(
        link,
        title,
        outlet,
        published,
        NAME,
        summary[:SUMMARY_CHARS] if summary else None,
        fetched_ts=fetched_ms,
    )
    return item, published is not None


def _entry_ms(entry: Any) -> int | None:
    """The entry's time in epoch ms, or None: feedparser's UTC `struct_time` where it
    read one, else the entry's text read by `parse_time`."""
    for key in TIME_KEYS:
        # dict.get, not entry.get: feedparser's get maps `updated` to `published`
        moment = dict.get(entry, f"{key}_parsed")
        if moment is not None:
            return calendar.timegm(moment) * 1000
        text = dict.get(entry, key)
        if isinstance(text, str) and (read := parse_time(text)) is not None:
            return read
    return None


def _plain(value: object) -> str | None:
    """Text without markup or extra spaces; None for nothing."""
    if not isinstance(value, str):
        return None
    text = BeautifulSoup(value, "html.parser").get_text(" ") if "<" in value else value
    return " ".join(text.split()) or None


def _raw_entry(entry: Any) -> dict[str, object]:
    """What an entry said, for the quarantine row (feedparser's own object is not JSON)."""
    keys = ("title", "link", "id", "published", "updated")
    return {key: dict.get(entry, key) for key in keys if dict.get(entry, key) is not None}
