"""Our refinements of ccxt's exchange classes that need no server: each must give
exactly what ccxt's own code gives."""

from __future__ import annotations

import random
from typing import Any

import pytest
from ccxt.base.exchange import Exchange

from ohmycoins.sources.ccxt_classes import iso8601

EDGES: list[Any] = [
    0,
    1,
    999,
    1_000,
    59_999,
    1_735_689_599_999,  # the last millisecond of 2024
    1_735_689_600_000,
    951_782_400_000,  # 2000-02-29
    253_402_300_799_999,  # the last millisecond datetime can write
    253_402_300_800_000,
    8_640_000_000_000_000,
    8_640_000_000_000_001,
    -1,
    None,
    True,
    1_735_689_600_123.9,
    float("nan"),
    float("inf"),
    "1735689600123",
    "17356896OO123",
    "",
]


@pytest.mark.parametrize("timestamp", EDGES, ids=repr)
def test_iso8601_writes_what_ccxt_writes(timestamp: Any) -> None:
    assert iso8601(timestamp) == Exchange.iso8601(timestamp)


def test_iso8601_agrees_with_ccxt_across_the_range() -> None:
    draw = random.Random(17)
    stamps = [draw.randrange(0, 253_402_300_800_000) for _ in range(20_000)]
    stamps += [1_735_689_600_000 + n for n in range(-2_500, 2_500)]  # seconds in turn
    assert [iso8601(t) for t in stamps] == [Exchange.iso8601(t) for t in stamps]
