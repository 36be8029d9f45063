"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21 05:40:05.316265
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ohmycoins.storage.dialects
import ohmycoins.storage.tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("key_hash", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("scope", ohmycoins.storage.dialects.LONG_TEXT, nullable=False),
        sa.Column("name", ohmycoins.storage.dialects.LONG_TEXT, nullable=True),
        sa.Column("created_ts", sa.BigInteger(), nullable=False),
        sa.Column("last_used_ts", sa.BigInteger(), nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("key_id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_table(
        "assets",
        sa.Column("asset_id", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("symbol", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("name", ohmycoins.storage.dialects.LONG_TEXT, nullable=False),
        sa.Column("updated_ts", sa.BigInteger(), nullable=False),
        sa.Column("coingecko_id", ohmycoins.storage.dialects.LONG_TEXT, nullable=True),
        sa.Column("network_type", ohmycoins.storage.dialects.LONG_TEXT, nullable=True),
        sa.Column("rank", sa.BigInteger(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("asset_id", name="pk_assets"),
    )
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.create_index("ix_assets_rank", ["rank"], unique=False)
        batch_op.create_index("ix_assets_symbol", ["symbol"], unique=False)

    op.create_table(
        "candle_holes",
        sa.Column("exchange", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("symbol", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("timeframe", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("start_ts", sa.BigInteger(), nullable=False),
        sa.Column("end_ts", sa.BigInteger(), nullable=False),
        sa.Column("candles", sa.BigInteger(), nullable=False),
        sa.Column("found_ts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "exchange", "symbol", "timeframe", "start_ts", name="pk_candle_holes"
        ),
    )
    op.create_table(
        "candles",
        sa.Column("exchange", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("symbol", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("timeframe", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("open", ohmycoins.storage.tables.ExactDecimal(), nullable=False),
        sa.Column("high", ohmycoins.storage.tables.ExactDecimal(), nullable=False),
        sa.Column("low", ohmycoins.storage.tables.ExactDecimal(), nullable=False),
        sa.Column("close", ohmycoins.storage.tables.ExactDecimal(), nullable=False),
        sa.Column("volume", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.PrimaryKeyConstraint("exchange", "symbol", "timeframe", "ts", name="pk_candles"),
    )
    op.create_table(
        "catalyst_events",
        sa.Column("event_id", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("event_type", ohmycoins.storage.dialects.LONG_TEXT, nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("title", ohmycoins.storage.dialects.LONG_TEXT, nullable=False),
        sa.Column("impact", sa.BigInteger(), nullable=False),
        sa.Column("assets", ohmycoins.storage.tables.StringsJson(), nullable=True),
        sa.Column("sources", ohmycoins.storage.tables.StringsJson(), nullable=True),
        sa.Column("urls", ohmycoins.storage.tables.StringsJson(), nullable=True),
        sa.Column("exchange", ohmycoins.storage.dialects.LONG_TEXT, nullable=True),
        sa.PrimaryKeyConstraint("event_id", name="pk_catalyst_events"),
    )
    with op.batch_alter_table("catalyst_events", schema=None) as batch_op:
        batch_op.create_index("ix_catalyst_events_impact_ts", ["impact", "ts"], unique=False)
        batch_op.create_index("ix_catalyst_events_ts", ["ts"], unique=False)

    op.create_table(
        "collection_tasks",
        sa.Column("task_id", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("collector", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("interval_seconds", ohmycoins.storage.dialects.NUMBER, nullable=True),
        sa.Column("cron", ohmycoins.storage.dialects.LONG_TEXT, nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("next_run_ts", sa.BigInteger(), nullable=False),
        sa.Column("cursor", ohmycoins.storage.dialects.LONG_TEXT, nullable=True),
        sa.Column("params", ohmycoins.storage.dialects.LONG_TEXT, nullable=True),
        sa.Column("lease_owner", ohmycoins.storage.dialects.LONG_TEXT, nullable=True),
        sa.Column("lease_expires_ts", sa.BigInteger(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("circuit_state", ohmycoins.storage.dialects.LONG_TEXT, nullable=False),
        sa.Column("circuit_opened_ts", sa.BigInteger(), nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("last_run_ts", sa.BigInteger(), nullable=True),
        sa.Column("last_status", ohmycoins.storage.dialects.LONG_TEXT, nullable=True),
        sa.Column("last_error", ohmycoins.storage.dialects.LONG_TEXT, nullable=True),
        sa.Column("updated_ts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("task_id"),
    )
    with op.batch_alter_table("collection_tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_collection_tasks_due", ["paused", "next_run_ts", "priority"], unique=False
        )

    op.create_table(
        "collector_runs",
        sa.Column("run_id", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("collector", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("status", ohmycoins.storage.dialects.LONG_TEXT, nullable=False),
        sa.Column("started_ts", sa.BigInteger(), nullable=False),
        sa.Column("finished_ts", sa.BigInteger(), nullable=True),
        sa.Column("records_written", sa.BigInteger(), nullable=False),
        sa.Column("records_quarantined", sa.BigInteger(), nullable=False),
        sa.Column("accuracy", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("completeness", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("timeliness", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("quality", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("error", ohmycoins.storage.dialects.LONG_TEXT, nullable=True),
        sa.PrimaryKeyConstraint("run_id", name="pk_collector_runs"),
    )
    with op.batch_alter_table("collector_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_collector_runs_collector_started_ts", ["collector", "started_ts"], unique=False
        )

    op.create_table(
        "community_metrics",
        sa.Column("asset", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("sources", ohmycoins.storage.tables.StringsJson(), nullable=True),
        sa.Column("reddit_subscribers", sa.BigInteger(), nullable=True),
        sa.Column("reddit_active_accounts", sa.BigInteger(), nullable=True),
        sa.Column("telegram_users", sa.BigInteger(), nullable=True),
        sa.Column("twitter_followers", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("asset", "ts", name="pk_community_metrics"),
    )
    with op.batch_alter_table("community_metrics", schema=None) as batch_op:
        batch_op.create_index("ix_community_metrics_ts", ["ts"], unique=False)

    op.create_table(
        "macro_observations",
        sa.Column("series_id", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("source", ohmycoins.storage.dialects.LONG_TEXT, nullable=False),
        sa.Column("value", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.PrimaryKeyConstraint("series_id", "ts", name="pk_macro_observations"),
    )
    op.create_table(
        "market_snapshots",
        sa.Column("source", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("asset_id", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("symbol", ohmycoins.storage.dialects.LONG_TEXT, nullable=False),
        sa.Column("vs_currency", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("price", ohmycoins.storage.tables.ExactDecimal(), nullable=False),
        sa.Column("market_cap", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("rank", sa.BigInteger(), nullable=True),
        sa.Column("volume_24h", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("high_24h", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("low_24h", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("open_24h", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("change_pct_24h", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("circulating_supply", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("total_supply", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("max_supply", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.PrimaryKeyConstraint(
            "source", "asset_id", "vs_currency", "ts", name="pk_market_snapshots"
        ),
    )
    with op.batch_alter_table("market_snapshots", schema=None) as batch_op:
        batch_op.create_index("ix_market_snapshots_asset_id_ts", ["asset_id", "ts"], unique=False)
        batch_op.create_index("ix_market_snapshots_ts", ["ts"], unique=False)

    op.create_table(
        "news_items",
        sa.Column("item_id", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("url", ohmycoins.storage.dialects.LONG_TEXT, nullable=False),
        sa.Column("title", ohmycoins.storage.dialects.LONG_TEXT, nullable=False),
        sa.Column("outlet", ohmycoins.storage.dialects.LONG_TEXT, nullable=False),
        sa.Column("published_ts", sa.BigInteger(), nullable=False),
        sa.Column("source", ohmycoins.storage.dialects.LONG_TEXT, nullable=False),
        sa.Column("summary", ohmycoins.storage.dialects.LONG_TEXT, nullable=True),
        sa.Column("currencies", ohmycoins.storage.tables.StringsJson(), nullable=True),
        sa.Column("sentiment_label", ohmycoins.storage.dialects.LONG_TEXT, nullable=True),
        sa.Column("sentiment_score", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("sentiment_confidence", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("sentiment_model", ohmycoins.storage.dialects.LONG_TEXT, nullable=True),
        sa.PrimaryKeyConstraint("item_id", name="pk_news_items"),
    )
    with op.batch_alter_table("news_items", schema=None) as batch_op:
        batch_op.create_index("ix_news_items_published_ts", ["published_ts"], unique=False)

    op.create_table(
        "onchain_metrics",
        sa.Column("asset", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("sources", ohmycoins.storage.tables.StringsJson(), nullable=True),
        sa.Column("block_height", sa.BigInteger(), nullable=True),
        sa.Column("block_time_s", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("hash_rate", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("difficulty", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("tx_count", sa.BigInteger(), nullable=True),
        sa.Column("tx_volume_usd", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("active_addresses", sa.BigInteger(), nullable=True),
        sa.Column("mempool_size", sa.BigInteger(), nullable=True),
        sa.Column("fee_fast", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("fee_medium", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("fee_slow", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("gas_price_gwei", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("circulating_supply", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("total_supply", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("max_supply", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("market_cap", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("realized_cap", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("mvrv", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("nvt", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("exchange_inflow", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("exchange_outflow", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("commits_4w", sa.BigInteger(), nullable=True),
        sa.Column("stars", sa.BigInteger(), nullable=True),
        sa.Column("contributors", sa.BigInteger(), nullable=True),
        sa.Column("staked_amount", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("staking_ratio", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("tvl", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("quality_score", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.PrimaryKeyConstraint("asset", "ts", name="pk_onchain_metrics"),
    )
    with op.batch_alter_table("onchain_metrics", schema=None) as batch_op:
        batch_op.create_index("ix_onchain_metrics_ts", ["ts"], unique=False)

    op.create_table(
        "orderbooks",
        sa.Column("exchange", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("symbol", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("bids", ohmycoins.storage.tables.LevelsJson(), nullable=True),
        sa.Column("asks", ohmycoins.storage.tables.LevelsJson(), nullable=True),
        sa.Column("mid", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("spread", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("imbalance", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("bid_liquidity_0_1pct", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("ask_liquidity_0_1pct", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("bid_liquidity_1pct", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("ask_liquidity_1pct", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.PrimaryKeyConstraint("exchange", "symbol", "ts", name="pk_orderbooks"),
    )
    op.create_table(
        "protocol_fundamentals",
        sa.Column("protocol", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("source", ohmycoins.storage.dialects.LONG_TEXT, nullable=False),
        sa.Column("name", ohmycoins.storage.dialects.LONG_TEXT, nullable=True),
        sa.Column("category", ohmycoins.storage.dialects.LONG_TEXT, nullable=True),
        sa.Column("chain", ohmycoins.storage.dialects.LONG_TEXT, nullable=True),
        sa.Column("tvl", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("fees_24h", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("fees_7d", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("fees_30d", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("revenue_24h", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("revenue_7d", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("revenue_30d", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("market_cap", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.PrimaryKeyConstraint("protocol", "day", name="pk_protocol_fundamentals"),
    )
    with op.batch_alter_table("protocol_fundamentals", schema=None) as batch_op:
        batch_op.create_index("ix_protocol_fundamentals_day", ["day"], unique=False)

    op.create_table(
        "quarantine",
        sa.Column("fingerprint", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("record_type", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("source", ohmycoins.storage.dialects.LONG_TEXT, nullable=False),
        sa.Column("rule", ohmycoins.storage.dialects.LONG_TEXT, nullable=False),
        sa.Column("payload", ohmycoins.storage.dialects.LONG_TEXT, nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", name="pk_quarantine"),
    )
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.create_index("ix_quarantine_record_type_ts", ["record_type", "ts"], unique=False)
        batch_op.create_index("ix_quarantine_ts", ["ts"], unique=False)

    op.create_table(
        "social_posts",
        sa.Column("platform", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("post_id", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("community", ohmycoins.storage.dialects.KEY_TEXT, nullable=True),
        sa.Column("author", ohmycoins.storage.dialects.LONG_TEXT, nullable=True),
        sa.Column("title", ohmycoins.storage.dialects.LONG_TEXT, nullable=True),
        sa.Column("text", ohmycoins.storage.dialects.LONG_TEXT, nullable=True),
        sa.Column("url", ohmycoins.storage.dialects.LONG_TEXT, nullable=True),
        sa.Column("score", sa.BigInteger(), nullable=True),
        sa.Column("comments", sa.BigInteger(), nullable=True),
        sa.Column("currencies", ohmycoins.storage.tables.StringsJson(), nullable=True),
        sa.Column("sentiment_label", ohmycoins.storage.dialects.LONG_TEXT, nullable=True),
        sa.Column("sentiment_score", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("sentiment_confidence", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("sentiment_model", ohmycoins.storage.dialects.LONG_TEXT, nullable=True),
        sa.PrimaryKeyConstraint("platform", "post_id", name="pk_social_posts"),
    )
    with op.batch_alter_table("social_posts", schema=None) as batch_op:
        batch_op.create_index("ix_social_posts_community_ts", ["community", "ts"], unique=False)
        batch_op.create_index("ix_social_posts_ts", ["ts"], unique=False)

    op.create_table(
        "source_usage",
        sa.Column("source", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("month", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("updated_ts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source", "month", name="pk_source_usage"),
    )
    op.create_table(
        "sync_cursors",
        sa.Column("source", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("dataset", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("symbol", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("timeframe", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("cursor_ts", sa.BigInteger(), nullable=True),
        sa.Column("cursor_id", ohmycoins.storage.dialects.LONG_TEXT, nullable=True),
        sa.Column("updated_ts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source", "dataset", "symbol", "timeframe", name="pk_sync_cursors"),
    )
    op.create_table(
        "tickers",
        sa.Column("exchange", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("symbol", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("last", ohmycoins.storage.tables.ExactDecimal(), nullable=False),
        sa.Column("bid", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("ask", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("high_24h", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("low_24h", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("open_24h", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("base_volume_24h", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("quote_volume_24h", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.Column("change_pct_24h", ohmycoins.storage.tables.ExactDecimal(), nullable=True),
        sa.PrimaryKeyConstraint("exchange", "symbol", "ts", name="pk_tickers"),
    )
    op.create_table(
        "trades",
        sa.Column("exchange", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("symbol", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("trade_id", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("price", ohmycoins.storage.tables.ExactDecimal(), nullable=False),
        sa.Column("amount", ohmycoins.storage.tables.ExactDecimal(), nullable=False),
        sa.Column("side", ohmycoins.storage.dialects.LONG_TEXT, nullable=False),
        sa.PrimaryKeyConstraint("exchange", "symbol", "trade_id", name="pk_trades"),
    )
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.create_index(
            "ix_trades_exchange_symbol_ts", ["exchange", "symbol", "ts"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.drop_index("ix_trades_exchange_symbol_ts")

    op.drop_table("trades")
    op.drop_table("tickers")
    op.drop_table("sync_cursors")
    op.drop_table("source_usage")
    with op.batch_alter_table("social_posts", schema=None) as batch_op:
        batch_op.drop_index("ix_social_posts_ts")
        batch_op.drop_index("ix_social_posts_community_ts")

    op.drop_table("social_posts")
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_index("ix_quarantine_ts")
        batch_op.drop_index("ix_quarantine_record_type_ts")

    op.drop_table("quarantine")
    with op.batch_alter_table("protocol_fundamentals", schema=None) as batch_op:
        batch_op.drop_index("ix_protocol_fundamentals_day")

    op.drop_table("protocol_fundamentals")
    op.drop_table("orderbooks")
    with op.batch_alter_table("onchain_metrics", schema=None) as batch_op:
        batch_op.drop_index("ix_onchain_metrics_ts")

    op.drop_table("onchain_metrics")
    with op.batch_alter_table("news_items", schema=None) as batch_op:
        batch_op.drop_index("ix_news_items_published_ts")

    op.drop_table("news_items")
    with op.batch_alter_table("market_snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_market_snapshots_ts")
        batch_op.drop_index("ix_market_snapshots_asset_id_ts")

    op.drop_table("market_snapshots")
    op.drop_table("macro_observations")
    with op.batch_alter_table("community_metrics", schema=None) as batch_op:
        batch_op.drop_index("ix_community_metrics_ts")

    op.drop_table("community_metrics")
    with op.batch_alter_table("collector_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_collector_runs_collector_started_ts")

    op.drop_table("collector_runs")
    with op.batch_alter_table("collection_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_collection_tasks_due")

    op.drop_table("collection_tasks")
    with op.batch_alter_table("catalyst_events", schema=None) as batch_op:
        batch_op.drop_index("ix_catalyst_events_ts")
        batch_op.drop_index("ix_catalyst_events_impact_ts")

    op.drop_table("catalyst_events")
    op.drop_table("candles")
    op.drop_table("candle_holes")
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.drop_index("ix_assets_symbol")
        batch_op.drop_index("ix_assets_rank")

    op.drop_table("assets")
    op.drop_table("api_keys")
