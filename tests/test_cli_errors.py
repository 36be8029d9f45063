"""A user's ordinary mistakes end with one line on stderr and a non-zero exit code,
never a traceback: the real `omc` in a subprocess, or the same app in-process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from ohmycoins.cli import app
from ohmycoins.cli_edge import BROKEN_PIPE_EXIT
from ohmycoins.storage.database import Database
from ohmycoins.storage.upsert import upsert
from tests.conftest import sqlite_url
from tests.factories import T0, candle
from tests.support.cli import closed_port, one_error_line


@pytest.fixture
def listening() -> Iterator[int]:
    """A local port something already listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


def omc(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.mark.slow
def test_a_refused_postgresql_is_one_line_from_the_real_command() -> None:
    port = closed_port()
    env = {**os.environ, "OMC_DATABASE_URL": f"postgresql://omc:secret@127.0.0.1:{port}/x"}
    done = subprocess.run(
        [sys.executable, "-m", "ohmycoins", "status"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1 and done.stdout == ""
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: database postgresql://omc:***@127.0.0.1:{port}/x refused")
    assert "refused" in line and "secret" not in line


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda tmp: (tmp / "omc.db").mkdir(), "omc.db is a directory"),
        (lambda tmp: (tmp / "file").write_text(""), "file is not a directory"),
    ],
    ids=["directory", "under-a-file"],
)
def test_a_sqlite_path_that_cannot_hold_the_database(tmp_path, monkeypatch, make, reason) -> None:
    make(tmp_path)
    path = tmp_path / ("file/omc.db" if (tmp_path / "file").exists() else "omc.db")
    monkeypatch.setenv("OMC_DATABASE_URL", f"sqlite:///{path}")
    line = one_error_line(omc("status"))
    assert line.startswith(f"error: cannot open database sqlite:///{path}: ")
    assert line.endswith(reason)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_an_unwritable_sqlite_directory(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    monkeypatch.setenv("OMC_DATABASE_URL", f"sqlite:///{folder}/omc.db")
    assert one_error_line(omc("status")).endswith(f"directory {folder} is not writable")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_a_sqlite_path_nobody_can_write(monkeypatch) -> None:
    """/proc takes no files, not even root's: SQLite itself refuses to open one there."""
    monkeypatch.setenv("OMC_DATABASE_URL", "sqlite:////proc/omc-test.db")
    assert one_error_line(omc("db", "upgrade")).startswith(
        "error: cannot open database sqlite:////proc/omc-test.db: "
    )


def test_export_into_a_missing_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OMC_DATABASE_URL", sqlite_url(tmp_path))
    target = tmp_path / "missing" / "x.csv"
    line = one_error_line(omc("export", "candles", "-o", str(target)))
    assert line == f"error: cannot write {target}: directory {target.parent} does not exist"
    assert not target.parent.exists()


def test_a_port_out_of_range_or_in_use(tmp_path, monkeypatch, listening: int) -> None:
    monkeypatch.setenv("OMC_DATABASE_URL", sqlite_url(tmp_path))
    line = one_error_line(omc("serve", "--port", "99999"))
    assert line == "error: cannot listen on 127.0.0.1:99999: the port must be 0-65535"
    in_use = one_error_line(omc("serve", "--port", str(listening)))
    assert in_use == f"error: cannot listen on 127.0.0.1:{listening}: address already in use"
    assert "0-65535" in one_error_line(omc("sim", "--port", "-1"))
    assert "0-65535" in one_error_line(omc("run", "--port", "70000"))
    assert "cannot listen on nohost.invalid:8000" in one_error_line(
        omc("serve", "--host", "nohost.invalid")
    )


def test_omc_config_naming_a_missing_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OMC_CONFIG", str(tmp_path / "nope.toml"))
    result = omc("status")
    line = one_error_line(result)
    assert line == f"error: invalid setting OMC_CONFIG='{tmp_path / 'nope.toml'}': no such file"
    assert result.exit_code == 2


def test_a_bad_value_in_the_file_is_named_by_file_and_key(tmp_path, monkeypatch) -> None:
    config = tmp_path / "ohmycoins.toml"
    config.write_text('[sources.binance]\nrate_limit = "x"\n')
    monkeypatch.setenv("OMC_CONFIG", str(config))
    line = one_error_line(omc("status"))
    assert line.startswith(f"error: invalid setting [sources.binance] rate_limit='x' in {config}: ")


def test_a_log_file_in_a_missing_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OMC_LOG_FILE", str(tmp_path / "missing" / "omc.log"))
    line = one_error_line(omc("status"))
    assert line.startswith(f"error: cannot open {tmp_path / 'missing' / 'omc.log'}: ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2024-02-01", "--until", "2024-01-01"], "is not before --until 2024-01-01"),
        (["--since", "2024-01-01", "--until", "2024-01-01"], "is not before --until"),
        (["--since", "2999-01-01T00:00:00Z"], "--since 2999-01-01T00:00:00Z is in the future"),
        (["--since", "soon"], "--since 'soon': expected an ISO-8601 time"),
        (["--since", "0", "--until", "later"], "--until 'later': expected an ISO-8601 time"),
    ],
)
@pytest.mark.parametrize("command", ["export", "backfill"])
def test_a_time_range_is_checked_before_any_work(
    tmp_path, monkeypatch, command: str, args: list[str], message: str
) -> None:
    """Refused here, not by the exchange: no source or database is reached."""
    monkeypatch.setenv("OMC_DATABASE_URL", f"sqlite:///{tmp_path}/never/omc.db")
    monkeypatch.setenv("OMC_BINANCE_URL", f"http://127.0.0.1:{closed_port()}")
    given = (
        ["candles"] if command == "export" else ["--exchange", "binance", "--symbol", "BTC/USDT"]
    )
    result = omc(command, *given, *args)
    assert message in one_error_line(result)
    assert result.exit_code == 2
    assert not (tmp_path / "never").exists()


def test_a_bad_where_is_one_line(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OMC_DATABASE_URL", sqlite_url(tmp_path))
    line = one_error_line(omc("export", "candles", "--where", "symbol"))
    assert line == "error: --where 'symbol': expected column=value"


@pytest.mark.slow
def test_a_reader_that_goes_away_ends_the_export_quietly(tmp_path) -> None:
    """`omc export candles | head -1`: the closed pipe ends the command, no traceback."""
    db = Database(sqlite_url(tmp_path))
    db.upgrade()
    upsert(db, [candle(ts=T0 + minute * 60_000) for minute in range(20_000)])
    db.dispose()
    env = {**os.environ, "OMC_DATABASE_URL": sqlite_url(tmp_path)}
    reader = subprocess.Popen(
        [sys.executable, "-m", "ohmycoins", "export", "candles"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert reader.stdout is not None and reader.stderr is not None
    assert reader.stdout.readline().startswith(b"exchange,")
    reader.stdout.close()
    errors = reader.stderr.read().decode()
    assert reader.wait() == BROKEN_PIPE_EXIT
    assert "Traceback" not in errors and "Exception ignored" not in errors
