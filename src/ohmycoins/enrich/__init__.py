"""Enrichment of human-ledger records: asset tags and sentiment.

`Annotator` is the hook news and social collectors call before storing; `Tagger`
finds asset symbols in text; `load_model` chooses the sentiment model.
"""

from ohmycoins.enrich.annotate import Annotator, text_of
from ohmycoins.enrich.sentiment import Sentiment, SentimentModel, VaderModel, load_model
from ohmycoins.enrich.tagging import Tagger, load_tagger

__all__ = [
    "Annotator",
    "Sentiment",
    "SentimentModel",
    "Tagger",
    "VaderModel",
    "load_model",
    "load_tagger",
    "text_of",
]
