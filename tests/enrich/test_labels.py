"""Labels read the future, named so, and never join the feature set."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ohmycoins.enrich.default_features import DEFAULT_SET
from ohmycoins.enrich.labels import future_log_returns


def test_future_log_returns_and_their_unknown_tail() -> None:
    close = np.array([100.0, 110.0, 99.0, 121.0])
    labels = future_log_returns(close, [1, 2])
    assert labels["future_logret_1"][0] == pytest.approx(math.log(1.1))
    assert labels["future_logret_2"][1] == pytest.approx(math.log(121 / 110))
    assert np.isnan(labels["future_logret_1"][-1:]).all()
    assert np.isnan(labels["future_logret_2"][-2:]).all()
    with pytest.raises(ValueError, match="at least 1"):
        future_log_returns(close, [0])


def test_no_feature_is_a_label() -> None:
    assert not any(name.startswith("future") for name in DEFAULT_SET.columns)
