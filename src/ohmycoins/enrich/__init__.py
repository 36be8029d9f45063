"""What is computed from records: asset tags and sentiment, catalyst events, derived
measures, features, and duplicate stories.

Pure: every function takes records (and the assets it needs) and none opens a
database, so the collectors read what is needed and pass it in. `Annotator` is the
hook news and social collectors call before storing; `Tagger` finds asset symbols in
text; `load_model` chooses the sentiment model. `catalysts`, `derived`, `features`
and `news_dedup` are imported by name.
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
