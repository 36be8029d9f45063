"""News, social posts and hourly sentiment over the API, on both backends.

Records are annotated by the real hook (tags and VADER sentiment), then stored
through the real write path."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from ohmycoins.collectors.ingest import store
from ohmycoins.enrich.annotate import Annotator
from ohmycoins.enrich.sentiment import VaderModel
from ohmycoins.enrich.tagging import Tagger
from ohmycoins.records import Record
from ohmycoins.storage.database import Database
from ohmycoins.storage.reads import human as human_reads
from tests import factories as f
from tests.api.conftest import make_client, parquet_equals_json

HOUR = 3_600_000
T = 1_700_000_000_000 - 1_700_000_000_000 % HOUR  # an hour boundary
UNSCORED = {"sentiment_label": None, "sentiment_score": None, "sentiment_confidence": None}

HEADLINES = [
    (T + 1_000, "Bitcoin surges to a new all-time high", "coindesk"),
    (T + 2_000, "Ethereum exchange hacked, funds drained", "decrypt"),
    (T + 2_000, "WETH pools see record volume", "decrypt"),
    (T + HOUR + 5, "Bitcoin ETF approval: analysts wait", "coindesk"),
    (T + HOUR + 6, "Bitcoin miners capitulate as price plunges", "theblock"),
]


def human_records() -> list[Record]:
    news: list[Record] = [
        f.news_item(
            item_id=f"n{i}", url=f"https://example.com/{i}", title=title, summary=None,
            outlet=outlet, published_ts=ts, currencies=(), **UNSCORED,
        )
        for i, (ts, title, outlet) in enumerate(HEADLINES)
    ]  # fmt: skip
    posts: list[Record] = [
        f.social_post(
            post_id=f"t3_{i}", ts=T + i * 60_000, title=title, text=None, currencies=(), **UNSCORED
        )
        for i, title in enumerate(["HODL bitcoin, bullish", "ETH rekt", "SOL to the moon"])
    ]
    posts.append(f.social_post(platform="twitter", post_id="x1", ts=T, community=None,
                               title="bitcoin dump", text=None, **UNSCORED))  # fmt: skip
    return Annotator(Tagger.default(), VaderModel())(news + posts)


@pytest.fixture
def human_db(db: Database) -> Database:
    result = store(db, human_records(), source="test")
    assert result.quarantined == 0
    return db


@pytest.fixture
def client(human_db: Database) -> Iterator[TestClient]:
    with make_client(human_db) as client:
        yield client


def test_news_newest_first_with_exact_decimals(client: TestClient) -> None:
    body = client.get("/api/v1/news").json()
    assert [n["item_id"] for n in body["data"]] == ["n4", "n3", "n2", "n1", "n0"]
    first = body["data"][-1]
    assert first["currencies"] == ["BTC"]
    assert first["sentiment_label"] == "positive"
    assert first["sentiment_model"] == "vader-crypto"
    assert Decimal(first["sentiment_score"]) > 0
    assert body["next"] is None


def test_news_currency_filter_is_exact(client: TestClient) -> None:
    eth = client.get("/api/v1/news", params={"currency": "eth"}).json()["data"]
    assert [n["item_id"] for n in eth] == ["n1"]  # not the WETH headline
    weth = client.get("/api/v1/news", params={"currency": "WETH"}).json()["data"]
    assert [n["item_id"] for n in weth] == ["n2"]


def test_news_keyset_pages_cover_everything(client: TestClient) -> None:
    params: dict[str, object] = {"limit": 2}
    seen: list[str] = []
    while True:
        response = client.get("/api/v1/news", params=params)
        body = response.json()
        seen += [n["item_id"] for n in body["data"]]
        if body["next"] is None:
            break
        assert response.headers["X-Next-Cursor"] == body["next"]
        params["cursor"] = body["next"]
    assert seen == ["n4", "n3", "n2", "n1", "n0"]


def test_news_filters_and_csv(client: TestClient) -> None:
    params = {"outlet": "decrypt", "start": T, "end": T + HOUR, "format": "csv"}
    response = client.get("/api/v1/news", params=params)
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["item_id"], r["currencies"]) for r in rows] == [("n2", "WETH"), ("n1", "ETH")]
    by_source = client.get("/api/v1/news", params={"source": "nowhere"}).json()
    assert by_source["data"] == []


def test_social_filters_and_pages(client: TestClient) -> None:
    body = client.get("/api/v1/social", params={"platform": "reddit"}).json()
    assert [p["post_id"] for p in body["data"]] == ["t3_2", "t3_1", "t3_0"]
    btc = client.get("/api/v1/social", params={"currency": "BTC"}).json()["data"]
    assert [(p["platform"], p["post_id"]) for p in btc] == [("twitter", "x1"), ("reddit", "t3_0")]
    params: dict[str, object] = {"limit": 1}
    seen = []
    while True:
        page = client.get("/api/v1/social", params=params).json()
        seen += [p["post_id"] for p in page["data"]]
        if page["next"] is None:
            break
        params["cursor"] = page["next"]
    assert seen == ["t3_2", "t3_1", "x1", "t3_0"]
    community = client.get("/api/v1/social", params={"community": "Bitcoin"}).json()["data"]
    assert len(community) == 3


@pytest.mark.parametrize("path", ["/api/v1/news", "/api/v1/social"])
def test_parquet_pages_mark_their_decimals(client: TestClient, path: str) -> None:
    assert "sentiment_score" in parquet_equals_json(client, path, {})


def test_hourly_sentiment_per_asset(client: TestClient) -> None:
    params = {"asset": "BTC", "start": T, "end": T + 2 * HOUR, "kind": "news"}
    body = client.get("/api/v1/sentiment", params=params).json()
    assert body["asset"] == "BTC" and body["kind"] == "news"
    hours = [(h["ts"], h["count"], h["share_positive"], h["share_negative"]) for h in body["data"]]
    assert hours == [(T, 1, "1.0000", "0.0000"), (T + HOUR, 2, "0.5000", "0.5000")]
    social = client.get("/api/v1/sentiment", params={**params, "kind": "social"}).json()
    assert [(h["ts"], h["count"]) for h in social["data"]] == [(T, 2)]
    both = client.get("/api/v1/sentiment", params={**params, "kind": "all"}).json()
    assert [(h["ts"], h["count"]) for h in both["data"]] == [(T, 3), (T + HOUR, 2)]


def test_hourly_mean_matches_the_stored_scores(human_db: Database) -> None:
    hours = human_reads.hourly_sentiment(human_db, start=T, end=T + HOUR - 1, kind="all")
    (hour,) = hours
    scored = [r for r in human_records() if getattr(r, "sentiment_score", None) is not None]
    in_hour = [
        r.sentiment_score
        for r in scored
        if T <= getattr(r, "published_ts", getattr(r, "ts", 0)) < T + HOUR
    ]  # type: ignore[union-attr]
    expected = (sum(in_hour, Decimal(0)) / len(in_hour)).quantize(Decimal("0.000001"))
    assert hour.count == len(in_hour) == 7
    assert abs(hour.mean_score - expected) <= Decimal("0.000001")  # type: ignore[operator]


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/api/v1/news", {"currency": "BT-C"}, "currency"),
        ("/api/v1/news", {"limit": 0}, "limit"),
        ("/api/v1/news", {"start": 10, "end": 5}, "start"),
        ("/api/v1/news", {"cursor": "!!garbage"}, "cursor"),
        ("/api/v1/news", {"format": "xml"}, "format"),
        ("/api/v1/news", {"source": "Bad Source"}, "source"),
        ("/api/v1/social", {"platform": "Reddit!"}, "platform"),
        ("/api/v1/social", {"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
        ("/api/v1/sentiment", {"kind": "tv"}, "kind"),
        ("/api/v1/sentiment", {"asset": "$BTC"}, "asset"),
        ("/api/v1/sentiment", {"start": 0, "end": 400 * 24 * HOUR}, "start"),
        ("/api/v1/sentiment", {"start": "yesterday"}, "start"),
    ],
)
def test_bad_input_names_the_parameter(
    client: TestClient, path: str, params: dict[str, object], parameter: str
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 422, response.text
    body = response.json()
    assert f"'{parameter}'" in body["message"], body
