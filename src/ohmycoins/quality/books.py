"""Rules every maintained order book keeps: sides sorted, best bid below best ask,
and diffs applied in an unbroken sequence. Pure, so the stream, the replay and the
conformance suite share them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def book_problem(bids: Sequence[Sequence[Any]], asks: Sequence[Sequence[Any]]) -> str | None:
    """Why a book cannot be served (unsorted side, crossed or locked), or None.

    Levels are `[price, amount, ...]`; bids best (highest) first, asks lowest first."""
    for name, side, descending in (("bids", bids, True), ("asks", asks, False)):
        for index in range(1, len(side)):
            before, price = side[index - 1][0], side[index][0]
            if (price >= before) if descending else (price <= before):
                order = "descending" if descending else "ascending"
                return f"{name} not strictly {order} at level {index}: {before} then {price}"
    if bids and asks and bids[0][0] >= asks[0][0]:
        return f"crossed book: best bid {bids[0][0]} >= best ask {asks[0][0]}"
    return None


def diff_sequence_problem(
    last_id: int | None, first: int, final: int, *, synced: bool
) -> str | None:
    """Why a diff spanning update ids [`first`, `final`] cannot follow a book whose last
    applied id is `last_id`, or None (Binance's rules).

    The first diff after a snapshot (`synced` False; `last_id` is the snapshot's
    `lastUpdateId`) must span `last_id + 1`; every later one must start at `last_id + 1`.
    """
    if last_id is None:
        return "diff before the snapshot"
    if final < first:
        return f"diff ids run backwards: U={first} u={final}"
    if not synced:
        if not first <= last_id + 1 <= final:
            return f"first diff U={first} u={final} does not span lastUpdateId+1={last_id + 1}"
        return None
    if first != last_id + 1:
        return f"diff U={first} does not follow u={last_id} (expected {last_id + 1})"
    return None
