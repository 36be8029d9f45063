"""A real Reddit listing (r/AskReddit/new, 100 submissions, recorded 2016 through
the OAuth host) served byte for byte and read through the keyless path:
`Reddit.fetch_new`, then `parse_listing`."""

from __future__ import annotations

from collections.abc import Callable

from ohmycoins.settings import SourceSettings
from ohmycoins.sources.reddit import Reddit, parse_listing
from tests.support.replay import Reply, replay_server


async def test_listing_of_100_submissions(recorded: Callable[..., Reply]) -> None:
    reply = recorded("reddit/r_askreddit_new_limit100.json")
    async with (
        replay_server({"/r/AskReddit/new.json": reply}) as url,
        Reddit(SourceSettings(url=url, rate_limit=60_000)) as api,
    ):
        raw = await api.fetch_new("AskReddit")
    parsed = parse_listing(raw)
    assert parsed.violations == []
    posts = parsed.records
    assert len(posts) == 100 and len({p.post_id for p in posts}) == 100
    first = posts[0]
    assert first.post_id == "t3_48fbm9"
    assert first.ts == 1_456_821_458_000  # created_utc 1456821458.0 seconds
    assert (first.community, first.author, first.score, first.comments) == (
        "AskReddit",
        "RedHeadQc",
        1,
        1,
    )
    assert first.title is not None and first.title.startswith("[Serious] Parents of Reddit")
    assert first.url == (
        "https://www.reddit.com/r/AskReddit/comments/48fbm9/"
        "serious_parents_of_reddit_whats_the_biggest_lie/"
    )
    assert first.text is None  # an empty self text
    assert all(p.platform == "reddit" and p.post_id.startswith("t3_") for p in posts)
    assert all(1_456_700_000_000 < p.ts < 1_456_900_000_000 for p in posts)
    assert all(p.score is not None and p.comments is not None for p in posts)
