"""History before 1970, end to end on both backends: FRED's GDP from 1947, fetched
through the real path from a local replay server, checked, stored as negative epoch
milliseconds, served by the API (negative `start`, `end` and cursors), read by the
pandas client as 1947 dates, and exported.

tests/fixtures/fred/observations_gdp_1947.json is written in the shape of FRED's
observations answer (the recording in the shared fixtures reaches back to 1946 too)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pandas as pd

from ohmycoins.api import create_app
from ohmycoins.client import Client
from ohmycoins.collectors.macro import collect_fred
from ohmycoins.publish import MemoryBroker
from ohmycoins.records import MacroObservation, QuarantinedRecord
from ohmycoins.settings import Settings, SourceSettings
from ohmycoins.sources.fred import OBSERVATIONS, Fred
from ohmycoins.storage.database import Database
from ohmycoins.storage.export import ExportQuery, export_table
from ohmycoins.storage.queries import read_records
from tests.api.conftest import all_pages, make_client
from tests.support.replay import Reply, replay_server
from tests.support.serve import serving

GDP = Path(__file__).resolve().parents[1] / "fixtures" / "fred" / "observations_gdp_1947.json"


def day_ms(day: str) -> int:
    """Epoch ms of a UTC date's midnight, negative before 1970."""
    return (datetime.fromisoformat(day).replace(tzinfo=UTC) - EPOCH) // timedelta(milliseconds=1)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
JAN_1_1947 = -725_846_400_000
OCT_1_1969 = -7_948_800_000
JAN_1_1970 = 0


async def collect_gdp(db: Database) -> None:
    async with (
        replay_server({OBSERVATIONS: Reply.file(GDP)}) as url,
        Fred(SourceSettings(url=url, api_key="k", rate_limit=60_000), attempts=1) as api,
    ):
        result = await collect_fred(api, db, MemoryBroker(), ["GDP"])
    assert result.failures == [] and result.stored.quarantined == 0
    assert result.stored.written == 7
    [request] = url.requests
    assert request.query["observation_start"] == "1900-01-01"  # history is asked for


async def test_gdp_from_1947_is_stored_served_read_and_exported(db: Database) -> None:
    await collect_gdp(db)
    assert read_records(db, QuarantinedRecord) == []  # nothing refused as "ts must be >= 0"
    stored = {r.ts: r.value for r in read_records(db, MacroObservation)}
    assert (day_ms("1947-01-01"), day_ms("1969-10-01")) == (JAN_1_1947, OCT_1_1969)
    assert stored == {
        day_ms("1946-10-01"): None,  # FRED's "." (no value)
        JAN_1_1947: D("243.164"),
        day_ms("1947-04-01"): D("245.968"),
        day_ms("1947-07-01"): D("249.585"),
        day_ms("1947-10-01"): D("259.745"),
        OCT_1_1969: D("1017.101"),
        JAN_1_1970: D("1029.956"),
    }

    with make_client(db) as api:
        params = {"series_id": "GDP", "start": JAN_1_1947, "end": OCT_1_1969, "limit": 2}
        rows = all_pages(api, "/api/v1/macro", params)  # cursors before 1970 too
        newest_first = all_pages(api, "/api/v1/macro", {**params, "order": "desc"})
    assert [row["ts"] for row in rows] == sorted(ts for ts in stored if JAN_1_1947 <= ts < 0)
    assert rows[0]["value"] == "243.164"
    assert [row["ts"] for row in newest_first] == [row["ts"] for row in reversed(rows)]

    app = create_app(Settings(database_url=db.url), db=db, broker=MemoryBroker())
    with serving(app) as url, Client(url) as client:
        frame = client.macro("GDP", start="1947-01-01", end="1947-12-31")
    assert list(frame.index) == [
        pd.Timestamp(day, tz="UTC") for day in ("1947-01-01", "1947-04-01", "1947-07-01")
    ] + [pd.Timestamp("1947-10-01", tz="UTC")]
    assert frame["value"].iloc[0] == D("243.164") and set(frame["source"]) == {"fred"}

    out = io.BytesIO()
    query = ExportQuery("macro_observations", since=JAN_1_1947, until=JAN_1_1970)
    export_table(db, query, out, "csv")
    exported = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    assert [int(row["ts"]) for row in exported] == sorted(
        ts for ts in stored if JAN_1_1947 <= ts < JAN_1_1970
    )


def test_the_api_refuses_times_before_1900_with_a_clear_message(db: Database) -> None:
    with make_client(db) as api:
        ok = api.get("/api/v1/macro", params={"series_id": "GDP", "start": JAN_1_1947})
        refused = api.get("/api/v1/macro", params={"series_id": "GDP", "start": -3 * 10**12})
    assert ok.status_code == 200
    assert refused.status_code == 422 and "start" in refused.json()["message"]
