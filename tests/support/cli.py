"""Checks of what the `omc` command line printed, and `omc` run as a user runs it,
shared by the CLI tests."""

from __future__ import annotations

import asyncio
import os
import socket
import sys

from typer.testing import Result


def one_error_line(result: Result) -> str:
    """The single stderr line of a refused command, after checking nothing escaped."""
    assert result.exit_code not in (0, None), result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def closed_port() -> int:
    """A local port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def omc_process(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    """`omc ARGS` started in its own process, `env` over this one's, output piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ohmycoins",
        *args,
        env={**os.environ, "COLUMNS": "200", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
