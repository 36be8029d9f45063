"""retention: rollup tables, derived candles marked, monthly partitions on PostgreSQL

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 12:00:00.000000

Retention rolls detail up before deleting it. A candle made by a rollup says so:
`derived_from` names what it was made of (`1m`, `1h`, `trades`) and `minutes` how many
minutes of detail it holds; candles the exchange served keep both NULL. Trades roll up
into `trade_stats`, order-book snapshots into `book_stats`, news and social sentiment
into `sentiment_daily`.

On PostgreSQL, candles, trades, tickers and order books become partitioned by month
(`storage/dialects/pg_partitions.py`): each table is renamed, a partitioned table of
the same name is created with a partition for every month holding a row and the
months ahead, every row is copied over, the counts are compared, and the old table is
dropped, all in the migration's transaction. Where the TimescaleDB extension is
installed they become hypertables with compression instead. SQLite is unchanged but
for the new columns and tables.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ohmycoins.storage.dialects
import ohmycoins.storage.tables
from ohmycoins.records import Candle, OrderBook, Ticker, Trade
from ohmycoins.storage.dialects import pg_partitions
from ohmycoins.storage.tables import RECORD_TABLES
from ohmycoins.timeframes import now_ms

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DECIMAL = ohmycoins.storage.tables.ExactDecimal
_PARTITIONED = (Candle, Trade, Ticker, OrderBook)


def upgrade() -> None:
    with op.batch_alter_table("candles", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("derived_from", ohmycoins.storage.dialects.LONG_TEXT, nullable=True)
        )
        batch_op.add_column(sa.Column("minutes", sa.BigInteger(), nullable=True))
    _create_rollup_tables()
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    timescale = pg_partitions.timescale_installed(conn)
    for record_type in _PARTITIONED:
        table = RECORD_TABLES[record_type]
        if timescale:
            pg_partitions.make_hypertable(conn, table, record_type.KEY)
        else:
            pg_partitions.partition_existing(conn, table, record_type.KEY, now_ms())


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        for record_type in _PARTITIONED:
            table = RECORD_TABLES[record_type]
            if pg_partitions.layout(conn, table.name) == "partitioned":
                pg_partitions.unpartition(conn, table)
    op.drop_table("sentiment_daily")
    op.drop_table("book_stats")
    op.drop_table("trade_stats")
    with op.batch_alter_table("candles", schema=None) as batch_op:
        batch_op.drop_column("minutes")
        batch_op.drop_column("derived_from")


def _create_rollup_tables() -> None:
    op.create_table(
        "trade_stats",
        sa.Column("exchange", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("symbol", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("trades", sa.BigInteger(), nullable=False),
        sa.Column("buy_trades", sa.BigInteger(), nullable=False),
        sa.Column("sell_trades", sa.BigInteger(), nullable=False),
        sa.Column("volume", _DECIMAL(), nullable=False),
        sa.Column("buy_volume", _DECIMAL(), nullable=False),
        sa.Column("sell_volume", _DECIMAL(), nullable=False),
        sa.Column("quote_volume", _DECIMAL(), nullable=False),
        sa.Column("largest_amount", _DECIMAL(), nullable=False),
        sa.PrimaryKeyConstraint("exchange", "symbol", "ts", name="pk_trade_stats"),
    )
    op.create_table(
        "book_stats",
        sa.Column("exchange", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("symbol", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("snapshots", sa.BigInteger(), nullable=False),
        sa.Column("spread_min", _DECIMAL(), nullable=True),
        sa.Column("spread_max", _DECIMAL(), nullable=True),
        sa.Column("spread_mean", _DECIMAL(), nullable=True),
        sa.Column("mid_mean", _DECIMAL(), nullable=True),
        sa.Column("bid_depth_1pct_mean", _DECIMAL(), nullable=True),
        sa.Column("ask_depth_1pct_mean", _DECIMAL(), nullable=True),
        sa.Column("imbalance_mean", _DECIMAL(), nullable=True),
        sa.PrimaryKeyConstraint("exchange", "symbol", "ts", name="pk_book_stats"),
    )
    op.create_table(
        "sentiment_daily",
        sa.Column("kind", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("currency", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("items", sa.BigInteger(), nullable=False),
        sa.Column("scored", sa.BigInteger(), nullable=False),
        sa.Column("positive", sa.BigInteger(), nullable=False),
        sa.Column("negative", sa.BigInteger(), nullable=False),
        sa.Column("neutral", sa.BigInteger(), nullable=False),
        sa.Column("score_sum", _DECIMAL(), nullable=True),
        sa.Column("score_mean", _DECIMAL(), nullable=True),
        sa.PrimaryKeyConstraint("kind", "currency", "day", name="pk_sentiment_daily"),
    )
