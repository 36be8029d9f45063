"""Texts per second of tagging and sentiment, each against a baseline in the same run.

Tagging: the one-regex `Tagger` against a naive loop that tries one regex per asset.
Sentiment: VADER with the crypto lexicon against plain VADER. Texts are the labelled
headlines repeated to `--texts`.

    python bench/enrich.py --texts 20000
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ohmycoins.enrich.sentiment import VaderModel
from ohmycoins.enrich.tagging import Tagger
from ohmycoins.enrich.universe import DEFAULT_ASSETS

LABELLED = Path(__file__).parent.parent / "tests" / "fixtures" / "labelled" / "headlines.jsonl"


def headlines(count: int) -> list[str]:
    lines = LABELLED.read_text(encoding="utf-8").splitlines()
    base = [json.loads(line)["headline"] for line in lines]
    return (base * (count // len(base) + 1))[:count]


def naive_tagger() -> Callable[[str], tuple[str, ...]]:
    """One compiled regex per asset name and symbol, tried in turn on every text."""
    patterns = [
        (symbol, re.compile(rf"\b(?:{re.escape(symbol)}|{re.escape(name)})\b", re.IGNORECASE))
        for _, symbol, name in DEFAULT_ASSETS
    ]

    def tag(text: str) -> tuple[str, ...]:
        return tuple(symbol for symbol, pattern in patterns if pattern.search(text))

    return tag


def rate(label: str, run: Callable[[Sequence[str]], object], texts: Sequence[str]) -> float:
    started = time.perf_counter()
    run(texts)
    per_second = len(texts) / (time.perf_counter() - started)
    print(f"{label:<34} {per_second:>12,.0f} texts/s")
    return per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=20_000)
    texts = headlines(parser.parse_args().texts)
    tagger, naive = Tagger.default(), naive_tagger()
    fast = rate("tagging: one regex (Tagger)", tagger.tag_many, texts)
    slow = rate("tagging: regex per asset (baseline)", lambda ts: [naive(t) for t in ts], texts)
    print(f"{'':<34} {fast / slow:>12.1f}x")
    crypto = rate("sentiment: vader-crypto", VaderModel().score, texts)
    plain = rate("sentiment: plain vader (baseline)", VaderModel(None).score, texts)
    print(f"{'':<34} {crypto / plain:>12.2f}x")


if __name__ == "__main__":
    main()
