"""`[backup]` and `[alerts]`, and the two variables that set one of their keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from ohmycoins.errors import ConfigError
from ohmycoins.settings import known_variable, load_settings


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings({}, tmp_path / "none.toml")
    assert (settings.backup.dir, settings.backup.keep) == ("./data/backups", 7)
    assert settings.backup.schedule == "0 3 * * *" and settings.backup.enabled
    assert settings.alerts.urls == () and settings.alerts.cooldown_minutes == 60


def test_file_then_variables(tmp_path: Path) -> None:
    config = tmp_path / "ohmycoins.toml"
    config.write_text(
        '[backup]\ndir = "/srv/b"\nkeep = 3\n\n'
        '[alerts]\nurls = ["json://file/hook"]\nstale_factor = 5\n'
    )
    from_file = load_settings({}, config)
    assert from_file.backup.dir == "/srv/b" and from_file.backup.keep == 3
    assert [u.get_secret_value() for u in from_file.alerts.urls] == ["json://file/hook"]
    env = {"OMC_BACKUP_DIR": "/backups", "OMC_ALERT_URLS": "json://a/x  mailto://b?to=c@d"}
    over = load_settings(env, config)
    assert over.backup.dir == "/backups" and over.backup.keep == 3
    assert [u.get_secret_value() for u in over.alerts.urls] == ["json://a/x", "mailto://b?to=c@d"]
    assert over.alerts.stale_factor == 5
    assert "json://a/x" not in repr(over.alerts)  # secrets, never printed


def test_a_bad_value_is_named_where_it_came_from(tmp_path: Path) -> None:
    config = tmp_path / "ohmycoins.toml"
    config.write_text("[alerts]\ncooldown_minutes = 0\n")
    with pytest.raises(ConfigError, match=r"\[alerts\] cooldown_minutes"):
        load_settings({}, config)
    config.write_text("[backup]\nkeep = 0\n")
    with pytest.raises(ConfigError, match=r"\[backup\] keep"):
        load_settings({}, config)
    config.write_text('[backup]\nschedule = "every night"\n')
    with pytest.raises(ConfigError, match=r"\[backup\] schedule.*cron expression"):
        load_settings({}, config)


def test_known_variables() -> None:
    for name in ("OMC_DATABASE_URL", "OMC_BACKUP_DIR", "OMC_ALERT_URLS", "OMC_CONFIG"):
        assert known_variable(name), name
    assert known_variable("OMC_CAPTURE_DIR")
    assert str(load_settings({"OMC_CAPTURE_DIR": "/capture"}).streams.capture_dir) == "/capture"
    assert known_variable("OMC_KRAKEN_API_KEY")  # any source
    assert known_variable("OMC_TEST_MYSQL_URL")  # the tests' server, not a source
    assert load_settings({"OMC_TEST_MYSQL_URL": "mysql://root@127.0.0.1/test"}).sources == {}
    for name in ("OMC_BACKUPS_DIR", "OMC_ALERTS", "DATABASE_URL", "OMC_KRAKEN_KEY"):
        assert not known_variable(name), name
