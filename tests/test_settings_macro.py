"""The `[macro]` settings: which FRED series and Yahoo symbols are collected."""

from __future__ import annotations

from pathlib import Path

import pytest

from ohmycoins.errors import ConfigError
from ohmycoins.settings import MacroSettings, load_settings


def test_defaults_name_the_usual_macro_series(tmp_path: Path) -> None:
    macro = load_settings({}, tmp_path / "none.toml").macro
    assert macro == MacroSettings()
    assert macro.fred_series == ("DGS10", "DFF", "CPIAUCSL", "M2SL", "DTWEXBGS")
    assert macro.yahoo_symbols == ("^GSPC", "^IXIC", "DX-Y.NYB", "GC=F", "^VIX")


def test_macro_table_of_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "ohmycoins.toml"
    config.write_text('[macro]\nfred_series = ["DGS2", "T10Y2Y"]\nyahoo_symbols = []\n')
    macro = load_settings({}, config).macro
    assert (macro.fred_series, macro.yahoo_symbols) == (("DGS2", "T10Y2Y"), ())


def test_unknown_macro_key_fails_at_start(tmp_path: Path) -> None:
    config = tmp_path / "ohmycoins.toml"
    config.write_text('[macro]\nfred = ["DGS2"]\n')
    with pytest.raises(ConfigError, match=r"\[macro\] fred="):
        load_settings({}, config)


def test_macro_settings_are_frozen() -> None:
    with pytest.raises(ValueError, match="frozen"):
        MacroSettings().fred_series = ("X",)  # type: ignore[misc]
