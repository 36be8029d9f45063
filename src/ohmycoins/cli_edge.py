"""The command line's edge: expected failures become one line on stderr and an exit code.

Every `omc` command runs inside `Commands.invoke`. A project error is printed as
`error: <message>`, on one line, and the command exits 2 when the user's input was
refused (a setting, an argument) or 1 when the work failed. The OS and driver errors
that a user's paths, URLs and flags cause are translated into project errors with
their context where they happen (settings, storage, the checks below); two kinds may
still arrive here unexpected and are printed the same way: an OSError naming a file
(a log file in a missing folder) and a database that stops answering mid-command.
Anything else is a bug and keeps its traceback.

The checks of arguments several commands share live here too: a time range
(`--since`, `--until`), a file to write, and an address to listen on.
"""

from __future__ import annotations

import os
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import OperationalError
from typer.core import TyperGroup

from ohmycoins.errors import ConfigError, OhMyCoinsError, StorageError, UsageError, os_reason
from ohmycoins.sources.parsing import to_epoch_ms
from ohmycoins.storage.database import driver_reason

__all__ = [
    "Commands",
    "check_address",
    "one_line",
    "open_output",
    "print_error",
    "time_range",
]

_stderr = Console(stderr=True)

BROKEN_PIPE_EXIT = 141
"""A reader that went away (`omc export ... | head`): the shell's code for SIGPIPE."""


class Commands(TyperGroup):
    """The `omc` group: runs a command and turns its expected failures into one line."""

    def invoke(self, ctx: Any) -> Any:  # typer's own click Context, which it keeps private
        try:
            return super().invoke(ctx)
        except OhMyCoinsError as exc:
            raise typer.Exit(print_error(exc)) from None
        except OperationalError as exc:
            failed = StorageError(f"the database failed: {driver_reason(exc)}")
            raise typer.Exit(print_error(failed)) from None
        except BrokenPipeError:
            _quiet_stdout()
            raise typer.Exit(BROKEN_PIPE_EXIT) from None
        except OSError as exc:
            if exc.filename is None:
                raise
            error = UsageError(f"cannot open {exc.filename}: {os_reason(exc)}")
            raise typer.Exit(print_error(error)) from None


def print_error(exc: Exception) -> int:
    """Print `exc` as `error: <message>` on one stderr line; returns its exit code: 2 for
    refused input, 1 for failed work."""
    _stderr.print(
        f"[red]error:[/red] {escape(one_line(str(exc)))}", soft_wrap=True, highlight=False
    )
    return 2 if isinstance(exc, ConfigError | UsageError) else 1


def one_line(text: str) -> str:
    """`text` with its line breaks and runs of blanks made single spaces."""
    return " ".join(text.split())


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush of what the closed
    pipe did not take does not fail a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def time_range(since: str | None, until: str | None, now_ms: int) -> tuple[int | None, int | None]:
    """`--since` and `--until` as epoch ms, checked here rather than by a source: each
    must parse, `--since` must not be in the future and must come before `--until`."""
    start, end = _time("--since", since), _time("--until", until)
    if start is not None and start > now_ms:
        raise UsageError(f"--since {since} is in the future (now is {_iso(now_ms)})")
    if start is not None and end is not None and start >= end:
        raise UsageError(f"--since {since} is not before --until {until}")
    return start, end


def _time(flag: str, value: str | None) -> int | None:
    """Epoch ms from an ISO-8601 time (`2024-01-01T00:00:00Z`) or epoch milliseconds."""
    if value is None:
        return None
    try:
        return to_epoch_ms(value, flag)
    except ValueError:
        raise UsageError(
            f"{flag} {value!r}: expected an ISO-8601 time (2024-01-01T00:00:00Z) or epoch ms"
        ) from None


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def open_output(path: str) -> BinaryIO:
    """`path` opened for writing; a path that cannot be written is a UsageError saying why."""
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        what = "is not a directory" if folder.exists() else "does not exist"
        raise UsageError(f"cannot write {path}: directory {folder} {what}")
    try:
        return target.open("wb")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {os_reason(exc)}") from None


def check_address(host: str, port: int) -> None:
    """Refuse, before anything starts, an address a server could not listen on: a port
    out of range, an unknown host, an address in use or reserved."""
    where = f"cannot listen on {host}:{port}"
    if not 0 <= port <= 65_535:
        raise UsageError(f"{where}: the port must be 0-65535")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
            probe.bind(address)
    except OSError as exc:
        raise UsageError(f"{where}: {os_reason(exc)}") from None
