"""The hook news and social collectors call before storing: tags and sentiment.

`Annotator(tagger, model)` is built once per process (the tagger from the stored
universe, `load_tagger(assets)`) and called with a batch of records (`refresh_tagger`
takes the universe as stored now, so coins that enter the top-N are tagged from then
on): NewsItem and SocialPost come back with `currencies` (the union of what the source
gave and what the tagger finds) and, where the source gave none, a sentiment scored by
the model, whose name is recorded in `sentiment_model`. Other records pass through
unchanged. The text scored is the title and the summary (news) or the title and the
body (posts), stripped of markup and cut to `MAX_TEXT` characters so a huge body costs
no more than a long one.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Sequence
from typing import TypeVar

from ohmycoins.enrich.sentiment import SentimentModel
from ohmycoins.enrich.tagging import Tagger, load_tagger
from ohmycoins.records import Asset, NewsItem, Record, SocialPost

__all__ = ["MAX_TEXT", "Annotator", "text_of"]

MAX_TEXT = 4000
"""Characters of a text that are tagged and scored."""

R = TypeVar("R", bound=Record)
_TAG = re.compile(r"<[^>]{0,500}>")
_SPACE = re.compile(r"\s+")


def _plain(text: str | None) -> str:
    if not text:
        return ""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", text[: MAX_TEXT * 2]))).strip()


def text_of(item: NewsItem | SocialPost) -> str:
    """The text of an item that tagging and sentiment read."""
    if isinstance(item, NewsItem):
        parts = [_plain(item.title), _plain(item.summary)]
    else:
        parts = [_plain(item.title), _plain(item.text)]
    return ". ".join(part for part in parts if part)[:MAX_TEXT]


class Annotator:
    """Fills currencies and sentiment of news items and social posts."""

    def __init__(self, tagger: Tagger, model: SentimentModel) -> None:
        self.tagger = tagger
        self.model = model

    def __call__(self, records: Sequence[R]) -> list[R]:
        return self.annotate(records)

    def refresh_tagger(self, assets: Sequence[Asset]) -> None:
        """Tag with the universe as stored now (its active `assets`)."""
        self.tagger = load_tagger(assets)

    def annotate(self, records: Sequence[R]) -> list[R]:
        """`records` in the same order, news items and posts annotated."""
        items = [
            (index, record)
            for index, record in enumerate(records)
            if isinstance(record, (NewsItem, SocialPost))
        ]
        texts = [text_of(item) for _, item in items]
        unscored = [i for i, (_, item) in enumerate(items) if item.sentiment_label is None]
        scores = dict(zip(unscored, self.model.score([texts[i] for i in unscored]), strict=True))
        out = list(records)
        for position, (index, item) in enumerate(items):
            changes: dict[str, object] = {
                "currencies": self._currencies(item.currencies, texts[position])
            }
            sentiment = scores.get(position)
            if sentiment is not None:
                changes |= {
                    "sentiment_label": sentiment.label,
                    "sentiment_score": sentiment.score,
                    "sentiment_confidence": sentiment.confidence,
                    "sentiment_model": sentiment.model,
                }
            out[index] = dataclasses.replace(item, **changes)  # type: ignore[arg-type]
        return out

    def _currencies(self, given: Sequence[str], text: str) -> tuple[str, ...]:
        """What the source gave (upper-cased) and what the tagger finds, sorted."""
        found = {code.strip().upper() for code in given if code and code.strip()}
        found.update(self.tagger.tag(text))
        return tuple(sorted(found))
