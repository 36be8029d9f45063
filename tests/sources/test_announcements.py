"""Exchange announcements through their real HTTP path against a local server.

No Binance CMS body is recorded in the shared fixtures: `binance_*.json` are written
from the CMS answers quoted in public clients (`data.catalogs[].articles[]` with `id`,
`code`, `title`, `releaseDate` in ms). `coinspot_section.html` is written in the
markup of a Zendesk help-centre section page (CoinSpot's help centre runs on Zendesk);
it is not a recording of CoinSpot's page. Bad rows are added on purpose.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ohmycoins.enrich.catalysts import Universe
from ohmycoins.errors import PayloadError, SourceError
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.announcements import (
    AnnouncementPages,
    BinanceAnnouncements,
    parse_announcement_page,
    parse_binance_articles,
)
from tests import factories as f
from tests.support.replay import Reply, replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "announcements"
UNIVERSE = Universe.of([f.asset(), f.asset(asset_id="solana", symbol="SOL", name="Solana", rank=5)])
AT = 1_733_000_000_000
LIST_PATH = "/bapi/composite/v1/public/cms/article/list/query"


async def test_binance_listing_catalog_becomes_listing_events() -> None:
    routes = {f"{LIST_PATH}?catalogId=48": Reply.file(FIXTURES / "binance_listings.json")}
    async with (
        replay_server(routes) as url,
        BinanceAnnouncements(SourceSettings(url=url), attempts=1) as api,
    ):
        raw = await api.fetch_articles(48)
    assert url.requests[-1].query == {
        "type": "1",
        "catalogId": "48",
        "pageNo": "1",
        "pageSize": "20",
    }
    parsed = parse_binance_articles(raw, 48, UNIVERSE)
    assert [e.event_type for e in parsed.records] == ["listing"] * 4
    pepe, sol, lista, pairs = parsed.records
    assert pepe.assets == ("PEPE",) and pepe.exchange == "binance"
    assert pepe.sources == ("binance",) and pepe.ts == 1_683_280_800_000
    assert pepe.urls == (
        "https://www.binance.com/en/support/announcement/detail/3b1cdbf1a4e04e0e9f2a6b3f6d0d5f3c",
    )
    assert pepe.impact == 5  # 5 x 0.8 (not in the universe) x 1.2 (official) = 4.8
    assert sol.assets == ("SOL",) and sol.impact == 8  # 5 x 1.3 x 1.2 = 7.8
    assert "LISTA" in lista.assets  # a Launchpool is a listing
    assert pairs.assets == ()  # unclassified: takes the catalog's type
    fields = sorted(v.field for v in parsed.violations)
    assert fields == ["code", "releaseDate"]


async def test_binance_delisting_catalog_names_every_delisted_symbol() -> None:
    routes = {f"{LIST_PATH}?catalogId=161": Reply.file(FIXTURES / "binance_delistings.json")}
    async with (
        replay_server(routes) as url,
        BinanceAnnouncements(SourceSettings(url=url), attempts=1) as api,
    ):
        parsed = parse_binance_articles(await api.fetch_articles(161), 161, UNIVERSE)
    first, pairs = parsed.records
    assert first.event_type == pairs.event_type == "delisting"
    assert first.assets == ("GFT", "IRIS", "KEY", "OAX", "REN")


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (
            Reply(
                "<!DOCTYPE html><html><body>Access denied</body></html>", content_type="text/html"
            ),
            PayloadError,
        ),
        (Reply(b""), PayloadError),
        (Reply({"code": "000002", "message": "illegal parameter", "success": False}), SourceError),
        (Reply({"code": "000000", "data": {"catalogs": [{"catalogId": 48}]}}), PayloadError),
        (Reply(b"[" + b"1," * (3 * 1024 * 1024) + b"1]"), PayloadError),
    ],
)
async def test_bad_binance_answers_are_clear_errors(reply: Reply, error: type[Exception]) -> None:
    async with (
        replay_server({LIST_PATH: reply}) as url,
        BinanceAnnouncements(SourceSettings(url=url), attempts=1) as api,
    ):
        with pytest.raises(error):
            parse_binance_articles(await api.fetch_articles(48), 48, UNIVERSE)


async def test_announcement_page_html_becomes_events() -> None:
    page = "https://coinspot.zendesk.com/hc/en-us/sections/announcements"
    routes = {
        "/hc/en-us/sections/announcements": Reply.file(
            FIXTURES / "coinspot_section.html", content_type="text/html"
        )
    }
    async with (
        replay_server(routes) as url,
        AnnouncementPages("coinspot", page, SourceSettings(url=url), attempts=1) as api,
    ):
        html = await api.fetch_page()
        read_from = api.url
    assert read_from == f"{url}/hc/en-us/sections/announcements"
    parsed = parse_announcement_page(html, page, "coinspot", AT, UNIVERSE)
    by_title = {event.title: event for event in parsed.records}
    assert set(by_title) == {
        "New Listing: Pepe (PEPE)",
        "Delisting Notice for OAX and REN",
        "Ethereum (ETH) Network Upgrade Support",
    }  # maintenance is no catalyst; the listing with a bad date is quarantined
    pepe = by_title["New Listing: Pepe (PEPE)"]
    assert pepe.event_type == "listing" and pepe.ts == 1_714_612_500_000
    assert pepe.urls == (
        "https://coinspot.zendesk.com/hc/en-us/articles/4412000000001-New-Listing-Pepe-PEPE",
    )
    assert by_title["Delisting Notice for OAX and REN"].assets == ("OAX", "REN")
    upgrade = by_title["Ethereum (ETH) Network Upgrade Support"]
    assert upgrade.event_type == "upgrade" and upgrade.ts == AT  # undated: time of reading
    (violation,) = parsed.violations
    assert violation.field == "datetime"


@pytest.mark.parametrize(
    "html",
    [
        "",
        "<html><body><p>We'll be back soon.</p></body></html>",
        "<html><body><ul><li><a href='/hc/en-us/articles/1'>   </a></li><li><a>no href</a>",
        "\x00\x01\x02 not html at all <<<>>>",
        '{"json": "instead of html"}',
    ],
)
def test_malformed_pages_give_no_events_and_no_crash(html: str) -> None:
    parsed = parse_announcement_page(html, "https://x.test/hc", "coinspot", AT, UNIVERSE)
    assert parsed.records == [] and parsed.violations == []


async def test_huge_page_is_refused() -> None:
    huge = Reply(b"<html>" + b"<p>x</p>" * (1024 * 1024), content_type="text/html")
    async with (
        replay_server({"/hc": huge}) as url,
        AnnouncementPages(
            "coinspot", "https://x.test/hc", SourceSettings(url=url), attempts=1
        ) as api,
    ):
        with pytest.raises(PayloadError, match="larger than"):
            await api.fetch_page()
