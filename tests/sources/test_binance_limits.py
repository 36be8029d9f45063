"""Binance's published IP limits, read from an `exchangeInfo` body (the shape of the
real answers in shared/fixtures/binance; these small bodies are written here)."""

from __future__ import annotations

import logging

import pytest

from ohmycoins.sources.binance import binance_rate_limits, binance_used_weights
from ohmycoins.sources.ratelimit import Limit

INFO = "https://api.binance.com/api/v3/exchangeInfo"


def _limit(kind: str, interval: str, number: object, limit: object) -> dict[str, object]:
    return {"rateLimitType": kind, "interval": interval, "intervalNum": number, "limit": limit}


def test_every_ip_window_is_read_and_order_limits_are_not() -> None:
    body = {
        "rateLimits": [
            _limit("REQUEST_WEIGHT", "MINUTE", 1, 6000),
            _limit("REQUEST_WEIGHT", "SECOND", 10, 1000),
            _limit("ORDERS", "SECOND", 10, 100),
            _limit("RAW_REQUESTS", "MINUTE", 5, 61000),
            _limit("REQUEST_WEIGHT", "HOUR", 1, 100000),
            _limit("REQUEST_WEIGHT", "DAY", 1, 1000000),
        ]
    }
    assert binance_rate_limits(INFO, body) == [
        Limit(6000, 60),
        Limit(1000, 10),
        Limit(61000, 300, per_request=True),
        Limit(100000, 3600),
        Limit(1000000, 86400),
    ]


def test_other_answers_publish_nothing() -> None:
    body = {"rateLimits": [_limit("REQUEST_WEIGHT", "MINUTE", 1, 2400)]}
    assert binance_rate_limits("https://fapi.binance.com/fapi/v1/exchangeInfo", body) is None
    assert binance_rate_limits(INFO, {"symbols": []}) is None
    assert binance_rate_limits(INFO, ["not", "an", "object"]) is None


def test_an_unreadable_limit_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    body = {
        "rateLimits": [
            _limit("REQUEST_WEIGHT", "FORTNIGHT", 1, 10),
            _limit("REQUEST_WEIGHT", "MINUTE", 1, "6000"),
            _limit("REQUEST_WEIGHT", "MINUTE", 0, 6000),
            "junk",
            _limit("RAW_REQUESTS", "MINUTE", 5, 61000),
        ]
    }
    with caplog.at_level(logging.WARNING):
        assert binance_rate_limits(INFO, body) == [Limit(61000, 300, per_request=True)]
    assert len([r for r in caplog.records if "unreadable rate limit" in r.message]) == 3


def test_the_used_weight_of_every_window_is_read_from_the_headers() -> None:
    headers = {
        "x-mbx-used-weight": "31",
        "x-mbx-used-weight-1m": "31",
        "x-mbx-used-weight-10s": "7",
        "x-mbx-order-count-10s": "1",
        "x-mbx-used-weight-1h": "soon",
    }
    assert binance_used_weights(headers) == [(31, 60), (7, 10)]
