"""The annotate hook: tags merged with the source's, sentiment filled, others untouched."""

from __future__ import annotations

from decimal import Decimal

from ohmycoins.collectors.ingest import store
from ohmycoins.enrich.annotate import MAX_TEXT, Annotator, text_of
from ohmycoins.enrich.sentiment import VaderModel, load_model
from ohmycoins.enrich.tagging import Tagger, load_tagger
from ohmycoins.records import NewsItem, SocialPost
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records
from ohmycoins.storage.reads.market import read_assets
from tests import factories as f


def annotator() -> Annotator:
    return Annotator(Tagger.default(), VaderModel())


def test_news_gets_union_of_currencies_and_a_sentiment() -> None:
    item = f.news_item(
        title="Solana surges as Ethereum gas fees spike",
        summary="<p>Traders rotate &amp; <b>SOL</b> rallies.</p>",
        currencies=("btc",),
        sentiment_label=None,
        sentiment_score=None,
        sentiment_confidence=None,
        sentiment_model=None,
    )
    (annotated,) = annotator()([item])
    assert annotated.currencies == ("BTC", "ETH", "SOL")
    assert annotated.sentiment_label == "positive"
    assert annotated.sentiment_model == "vader-crypto"
    assert annotated.sentiment_score is not None and annotated.sentiment_score > 0
    assert (
        text_of(item) == "Solana surges as Ethereum gas fees spike. Traders rotate & SOL rallies."
    )


def test_a_sentiment_the_source_gave_is_kept() -> None:
    item = f.news_item(title="Bitcoin crashes", sentiment_label="positive")
    (annotated,) = annotator()([item])
    assert (annotated.sentiment_label, annotated.sentiment_model) == ("positive", "vader-crypto")
    assert annotated.sentiment_score == Decimal("0.62")


def test_posts_scored_other_records_pass_through_in_order() -> None:
    candle = f.candle()
    post = f.social_post(title="rekt again", text="Protocol drained, $LINK dumps")
    (first, second) = annotator()([candle, post])
    assert first is candle
    assert isinstance(second, SocialPost)
    assert second.sentiment_label == "negative"
    assert second.currencies == ("BTC", "LINK")


def test_empty_and_huge_texts() -> None:
    empty = f.social_post(title=None, text=None, currencies=())
    huge = f.news_item(summary="Bitcoin " + "moon " * 200_000, sentiment_label=None)
    out = annotator()([empty, huge])
    assert out[0].currencies == () and out[0].sentiment_label == "neutral"
    assert isinstance(out[1], NewsItem) and out[1].currencies == ("BTC",)
    assert len(text_of(huge)) <= MAX_TEXT


def test_annotated_records_pass_the_rules_and_store(db: Database) -> None:
    items = [
        f.news_item(item_id=f"n{i}", title=title, sentiment_label=None, currencies=())
        for i, title in enumerate(["Bitcoin hacked", "ETH rallies", "Markets wait"])
    ]
    result = store(db, annotator()(items), source="rss")
    assert result.quarantined == 0
    stored = read_records(db, NewsItem)
    assert [item.sentiment_label for item in stored] == ["negative", "positive", "neutral"]
    assert Annotator(load_tagger(read_assets(db, active_only=True)), load_model()).tagger.tag(
        "Bitcoin"
    ) == ("BTC",)
