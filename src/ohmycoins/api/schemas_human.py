"""Response bodies of the human-ledger endpoints (news, posts, hourly sentiment)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ohmycoins.api.schemas import DecimalStr, EpochMs, NextCursor

SentimentLabel = Literal["positive", "neutral", "negative"]
Currencies = list[str]


class NewsOut(BaseModel):
    item_id: str
    url: str
    title: str
    outlet: str
    published_ts: EpochMs | None = Field(
        description="When the source says it was published; null when its date could not "
        "be read (the date is unknown: never replaced by another time)."
    )
    source: str
    summary: str | None
    currencies: Currencies = Field(description="Upper-case symbols the item mentions.")
    sentiment_label: SentimentLabel | None
    sentiment_score: DecimalStr | None = Field(description="From -1 to 1.")
    sentiment_confidence: DecimalStr | None = Field(description="From 0 to 1.")
    sentiment_model: str | None = Field(description="The model that scored the item.")
    fetched_ts: EpochMs | None = Field(
        description="When it was first fetched; null for items stored before this was kept."
    )


class NewsPage(BaseModel):
    data: list[NewsOut]
    next: NextCursor


class SocialOut(BaseModel):
    platform: str
    post_id: str
    ts: EpochMs
    community: str | None
    author: str | None
    title: str | None
    text: str | None
    url: str | None
    score: int | None
    comments: int | None
    currencies: Currencies = Field(description="Upper-case symbols the post mentions.")
    sentiment_label: SentimentLabel | None
    sentiment_score: DecimalStr | None
    sentiment_confidence: DecimalStr | None
    sentiment_model: str | None


class SocialPage(BaseModel):
    data: list[SocialOut]
    next: NextCursor


class HourlySentimentOut(BaseModel):
    ts: EpochMs = Field(description="Start of the UTC hour.")
    count: int = Field(description="Scored items published in the hour.")
    mean_score: DecimalStr | None
    share_positive: DecimalStr
    share_negative: DecimalStr


class SentimentSeries(BaseModel):
    asset: str | None = Field(description="The symbol; null for every item.")
    kind: Literal["news", "social", "all"]
    start: EpochMs
    end: EpochMs
    data: list[HourlySentimentOut]
