"""Labels for supervised learning: FUTURE data, kept apart from features.

A label at candle t reads candles after t: it must never be a feature, and is never
stored in the feature rows. Join labels to features in the training frame only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

Array = np.ndarray[Any, np.dtype[np.float64]]


def future_log_returns(close: Array, horizons: Sequence[int]) -> dict[str, Array]:
    """`future_logret_<h>`: log(close `h` bars AFTER t / close at t) for each horizon;
    NaN for the last `h` bars, whose future is not known yet."""
    labels: dict[str, Array] = {}
    for horizon in horizons:
        if horizon < 1:
            raise ValueError(f"a horizon is at least 1 bar, got {horizon}")
        out = np.full(len(close), np.nan)
        out[:-horizon] = np.log(close[horizon:] / close[:-horizon])
        labels[f"future_logret_{horizon}"] = out
    return labels
