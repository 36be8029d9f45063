"""Sentiment: accuracy on the labelled headlines against plain VADER, the crypto
lexicon, and how the model is chosen."""

from __future__ import annotations

import sys
import types
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ohmycoins.enrich.lexicon import normalise_phrases
from ohmycoins.enrich.sentiment import (
    MODEL_PATH_VARIABLE,
    TransformersModel,
    VaderModel,
    label_of,
    load_model,
)
from ohmycoins.errors import ConfigError
from tests.enrich.labelled import LABELS, load_headlines

MIN_ACCURACY = 0.80
MIN_CLASS_RECALL = {"positive": 0.85, "neutral": 0.60, "negative": 0.88}
MIN_GAIN_OVER_VADER = 0.20


def _accuracy(model: VaderModel) -> tuple[float, dict[str, float]]:
    rows = load_headlines()
    scored = model.score([row.headline for row in rows])
    right: Counter[str] = Counter()
    total: Counter[str] = Counter(row.sentiment for row in rows)
    for row, sentiment in zip(rows, scored, strict=True):
        right[row.sentiment] += sentiment.label == row.sentiment
    recall = {label: right[label] / total[label] for label in LABELS}
    return sum(right.values()) / len(rows), recall


def test_accuracy_and_class_recall_on_labelled_headlines() -> None:
    accuracy, recall = _accuracy(VaderModel())
    plain, plain_recall = _accuracy(VaderModel(None))
    report = (
        f"vader-crypto accuracy={accuracy:.3f} recall={recall!r:s}; "
        f"plain vader accuracy={plain:.3f} recall={plain_recall!r:s}"
    )
    print(report)
    assert accuracy >= MIN_ACCURACY, report
    assert all(recall[label] >= MIN_CLASS_RECALL[label] for label in LABELS), report
    assert accuracy - plain >= MIN_GAIN_OVER_VADER, report


def test_every_score_is_in_range_with_the_model_named() -> None:
    texts = [row.headline for row in load_headlines()] + ["", "!!!", "a" * 10_000]
    for sentiment in VaderModel().score(texts):
        assert sentiment.label in LABELS
        assert Decimal(-1) <= sentiment.score <= Decimal(1)
        assert Decimal(0) <= sentiment.confidence <= Decimal(1)
        assert sentiment.model == "vader-crypto"
        assert sentiment.label == label_of(float(sentiment.score))


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("Token was a rug pull", "rugpull"),
        ("Bitcoin hits all-time high", "alltimehigh"),
        ("Spot ETF approval expected", "etfapproval"),
        ("USDC loses its dollar peg", "depeg"),
        ("LUNA under $2 as UST still unpegged", "depeg"),
        ("DOGE price up 50% today", "rises"),
    ],
)
def test_multi_word_terms_become_one_token(text: str, token: str) -> None:
    assert token in normalise_phrases(text)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Protocol drained in exploit, funds stolen", "negative"),
        ("Exchange announces delisting of the token", "negative"),
        ("Traders liquidated as price dumps", "negative"),
        ("Memecoin mooning to a new all-time high", "positive"),
        ("HODL: the bullish case", "positive"),
        ("SEC rejected the application", "negative"),
        ("Binance pays $4.3B fine", "negative"),
        ("OP token falls after Optimism airdrop", "negative"),
    ],
)
def test_crypto_lexicon(text: str, label: str) -> None:
    (sentiment,) = VaderModel().score([text])
    assert sentiment.label == label, sentiment


def test_default_model_is_vader_crypto() -> None:
    assert load_model().name == "vader-crypto"


def test_a_missing_weights_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_model(str(tmp_path / "absent"))
    assert raised.value.setting == MODEL_PATH_VARIABLE


def test_weights_without_transformers_is_a_config_error(tmp_path: Path) -> None:
    try:
        import transformers  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("transformers is installed")
    with pytest.raises(ConfigError, match="transformers"):
        load_model(str(tmp_path))


def _fake_transformers(outputs: dict[str, list[dict[str, Any]]], fail: bool = False) -> Any:
    """A stand-in for the third-party `transformers` module (no weights exist here)."""
    module = types.ModuleType("transformers")
    module.__spec__ = types.SimpleNamespace(name="transformers")  # type: ignore[assignment]

    def pipeline(task: str, **options: Any) -> Any:
        assert task == "text-classification"
        assert options["model_kwargs"] == {"local_files_only": True}
        if fail:
            raise OSError("no config.json in the directory")
        return lambda texts, **_: [outputs[text] for text in texts]

    module.pipeline = pipeline  # type: ignore[attr-defined]
    return module


def test_local_transformers_model_is_chosen_and_mapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = tmp_path / "cryptobert"
    weights.mkdir()
    outputs = {
        "moon": [{"label": "Bullish", "score": 0.7}, {"label": "Neutral", "score": 0.2},
                 {"label": "Bearish", "score": 0.1}],
        "rekt": [{"label": "Bearish", "score": 0.9}, {"label": "Bullish", "score": 0.1}],
    }  # fmt: skip
    monkeypatch.setitem(sys.modules, "transformers", _fake_transformers(outputs))
    monkeypatch.setattr("importlib.util.find_spec", lambda name: object())
    model = load_model(str(weights))
    assert isinstance(model, TransformersModel)
    bull, bear = model.score(["moon", "rekt"])
    assert (bull.label, bull.score, bull.confidence) == ("positive", Decimal("0.6"), Decimal("0.7"))
    assert (bear.label, bear.score, bear.confidence) == (
        "negative",
        Decimal("-0.8"),
        Decimal("0.9"),
    )
    assert bull.model == "transformers:cryptobert"


def test_weights_that_do_not_load_are_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "transformers", _fake_transformers({}, fail=True))
    monkeypatch.setattr("importlib.util.find_spec", lambda name: object())
    with pytest.raises(ConfigError, match="cannot load"):
        load_model(str(tmp_path))
