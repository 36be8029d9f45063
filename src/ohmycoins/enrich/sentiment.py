"""Sentiment of headlines and posts: a label, a score in [-1, 1], a confidence in [0, 1].

Models are pluggable (`SentimentModel`); the name of the model that scored a row is
stored with it (`sentiment_model`), so rows scored by different models can be told
apart. `load_model` chooses:

- a local transformers text-classification model (CryptoBERT-style) when
  `OMC_SENTIMENT_MODEL_PATH` names a directory of weights and `transformers` is
  installed; weights are never downloaded (`local_files_only`);
- otherwise VADER with the crypto lexicon of `lexicon.py` (`vader-crypto`).

A path that is set but unusable (missing, `transformers` absent, weights that do not
load) is a `ConfigError`: a configured model is never silently replaced.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from ohmycoins.enrich.lexicon import LEXICON, normalise_phrases
from ohmycoins.errors import ConfigError

__all__ = [
    "MODEL_PATH_VARIABLE",
    "Sentiment",
    "SentimentModel",
    "TransformersModel",
    "VaderModel",
    "label_of",
    "load_model",
]

MODEL_PATH_VARIABLE = "OMC_SENTIMENT_MODEL_PATH"
NEUTRAL_BAND = 0.05
"""|compound| below this is neutral: VADER's own recommended threshold."""
_PLACES = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class Sentiment:
    label: str
    """`positive`, `neutral` or `negative`."""
    score: Decimal
    """From -1 (most negative) to 1 (most positive)."""
    confidence: Decimal
    """From 0 to 1: how sure the model is of `label`."""
    model: str


class SentimentModel(Protocol):
    """Scores texts; `name` is what rows record in `sentiment_model`."""

    @property
    def name(self) -> str: ...

    def score(self, texts: Sequence[str]) -> list[Sentiment]: ...


def _exact(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(_PLACES)


def label_of(score: float, band: float = NEUTRAL_BAND) -> str:
    if score >= band:
        return "positive"
    if score <= -band:
        return "negative"
    return "neutral"


def _vader_confidence(compound: float, band: float) -> float:
    """Polar labels: 0.5 just past the band, 1 at |compound| = 1. Neutral: 1 at 0,
    0.5 at the band's edge."""
    magnitude = min(abs(compound), 1.0)
    if magnitude >= band:
        return 0.5 + 0.5 * (magnitude - band) / (1 - band)
    return 1 - 0.5 * magnitude / band


class VaderModel:
    """VADER, optionally extended with a lexicon of extra valences."""

    def __init__(
        self,
        lexicon: Mapping[str, float] | None = LEXICON,
        *,
        name: str | None = None,
        band: float = NEUTRAL_BAND,
    ) -> None:
        self._analyzer = SentimentIntensityAnalyzer()
        self._phrases = lexicon is not None
        if lexicon:
            self._analyzer.lexicon.update(lexicon)
        self._name = name or ("vader-crypto" if lexicon else "vader")
        self._band = band

    @property
    def name(self) -> str:
        return self._name

    def score(self, texts: Sequence[str]) -> list[Sentiment]:
        return [self._score_one(text) for text in texts]

    def _score_one(self, text: str) -> Sentiment:
        prepared = normalise_phrases(text) if self._phrases else text
        compound = float(self._analyzer.polarity_scores(prepared)["compound"])
        return Sentiment(
            label_of(compound, self._band),
            _exact(compound),
            _exact(_vader_confidence(compound, self._band)),
            self._name,
        )


_LABELS = {
    "positive": "positive", "bullish": "positive", "pos": "positive", "label_2": "positive",
    "negative": "negative", "bearish": "negative", "neg": "negative", "label_0": "negative",
    "neutral": "neutral", "neu": "neutral", "label_1": "neutral",
}  # fmt: skip
"""Class names of common sentiment checkpoints (CryptoBERT: Bearish/Neutral/Bullish;
three-class `LABEL_0..2` checkpoints order negative, neutral, positive)."""


class TransformersModel:
    """A local text-classification checkpoint run through `transformers.pipeline`."""

    def __init__(self, path: str, *, batch_size: int = 32) -> None:
        transformers = importlib.import_module("transformers")
        try:
            self._pipeline = transformers.pipeline(
                "text-classification",
                model=path,
                tokenizer=path,
                top_k=None,
                model_kwargs={"local_files_only": True},
            )
        except Exception as exc:  # any loader failure means the configured path is unusable
            raise ConfigError(MODEL_PATH_VARIABLE, path, f"cannot load the model: {exc}") from exc
        self._name = f"transformers:{Path(path).name}"
        self._batch_size = batch_size

    @property
    def name(self) -> str:
        return self._name

    def score(self, texts: Sequence[str]) -> list[Sentiment]:
        if not texts:
            return []
        outputs = self._pipeline(list(texts), batch_size=self._batch_size, truncation=True)
        return [self._sentiment(output) for output in outputs]

    def _sentiment(self, output: Any) -> Sentiment:
        """From [{label, score}, ...] over all classes: the top label, P(pos) - P(neg),
        and the top probability as confidence."""
        classes = output if isinstance(output, list) else [output]
        probability = {"positive": 0.0, "neutral": 0.0, "negative": 0.0}
        for item in classes:
            label = _LABELS.get(str(item["label"]).lower())
            if label is not None:
                probability[label] += float(item["score"])
        top = max(probability, key=lambda label: probability[label])
        score = max(-1.0, min(1.0, probability["positive"] - probability["negative"]))
        confidence = max(0.0, min(1.0, probability[top]))
        return Sentiment(top, _exact(score), _exact(confidence), self._name)


def load_model(path: str | None = None) -> SentimentModel:
    """The model to score with (`path`: the `sentiment_model_path` setting): see the
    module docstring for the choice."""
    if path is None:
        return VaderModel()
    if not Path(path).is_dir():
        raise ConfigError(MODEL_PATH_VARIABLE, path, "no such directory of model weights")
    if importlib.util.find_spec("transformers") is None:
        raise ConfigError(MODEL_PATH_VARIABLE, path, "the transformers package is not installed")
    return TransformersModel(path)
