"""Conformance: real recorded answers, served byte for byte by the replay server and
read through each source's real fetch path.

The recordings live outside the repository, in `shared/fixtures` beside the clone
(see its NOTES.md and PROVENANCE.md). They are read at test time, never copied in;
without them these tests skip and say why.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.replay import Reply

RECORDINGS = Path(__file__).resolve().parents[3] / "shared" / "fixtures"


@pytest.fixture(scope="session")
def recordings() -> Path:
    """The shared recordings directory; skips when it is not beside the repository."""
    if not RECORDINGS.is_dir():
        pytest.skip(f"no shared recordings at {RECORDINGS}: clone shared/ beside the repository")
    return RECORDINGS


@pytest.fixture
def recorded(recordings: Path) -> Callable[[str], Reply]:
    """`recorded("coingecko/x.json")`: a 200 reply with that recording's exact bytes."""

    def reply(name: str, status: int = 200) -> Reply:
        path = recordings / name
        if not path.is_file():
            pytest.skip(f"recording {name} is missing from {recordings}")
        return Reply.file(path, status=status)

    return reply
