"""Log lines never carry a configured secret, and the log file rotates."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

import pytest

from ohmycoins.logs import MAX_BYTES, configure_logging
from ohmycoins.settings import load_settings


@pytest.fixture(autouse=True)
def _restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        handler.close()
    root.handlers, root.level = handlers, level


def test_secrets_are_masked_in_the_file(tmp_path: Path) -> None:
    log_file = tmp_path / "omc.log"
    env = {
        "OMC_LOG_FILE": str(log_file),
        "OMC_COINGECKO_API_KEY": "CG-supersecret-123",
        "OMC_BINANCE_API_SECRET": "binance-secret-xyz",
        "OMC_API_METRICS_TOKEN": "metrics-scrape-token-42",
    }
    configure_logging(load_settings(env, tmp_path / "none.toml"))
    log = logging.getLogger("ohmycoins.test")
    log.info("calling with key %s", "CG-supersecret-123")
    log.warning("url https://x?apikey=CG-supersecret-123&secret=binance-secret-xyz")
    log.info("scraped with Bearer %s", "metrics-scrape-token-42")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = log_file.read_text()
    assert "calling with key ***" in text
    assert "supersecret" not in text and "binance-secret" not in text
    assert "scraped with Bearer ***" in text and "scrape-token" not in text


def test_log_file_rotates(tmp_path: Path) -> None:
    log_file = tmp_path / "omc.log"
    configure_logging(load_settings({"OMC_LOG_FILE": str(log_file)}, tmp_path / "none.toml"))
    handler = next(
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.handlers.RotatingFileHandler)
    )
    assert handler.maxBytes == MAX_BYTES and handler.backupCount == 5
    handler.maxBytes = 2_000
    for i in range(100):
        logging.getLogger("ohmycoins.test").warning("line %d %s", i, "x" * 50)
    assert (tmp_path / "omc.log.1").exists()
    assert log_file.stat().st_size <= 2_000
