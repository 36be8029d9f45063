"""alerts: each alert's state and the last message delivered about it

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-07 12:00:00.000000

A new table; nothing existing changes. The downgrade drops it (the alerts' history
goes with it: the next evaluation fires what still holds).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ohmycoins.storage.dialects

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("rule", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("subject", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("state", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("message", ohmycoins.storage.dialects.LONG_TEXT, nullable=False),
        sa.Column("since_ts", sa.BigInteger(), nullable=False),
        sa.Column("updated_ts", sa.BigInteger(), nullable=False),
        sa.Column("resolved_ts", sa.BigInteger(), nullable=True),
        sa.Column("notified", ohmycoins.storage.dialects.LONG_TEXT, nullable=True),
        sa.Column("sent_ts", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("rule", "subject", name="pk_alerts"),
    )
    op.create_index("ix_alerts_state_updated", "alerts", ["state", "updated_ts"])


def downgrade() -> None:
    op.drop_index("ix_alerts_state_updated", table_name="alerts")
    op.drop_table("alerts")
