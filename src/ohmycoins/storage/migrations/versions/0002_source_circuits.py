"""source circuits: the breaker state once per source, not on every task row

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 08:10:00.000000

A task row does not name its source (the registry does), so the breaker state held on
the task rows cannot be carried over: every circuit starts closed, and a source that is
still down opens again after its threshold of failed runs. The downgrade likewise
leaves every task's circuit closed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ohmycoins.storage.dialects

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "source_circuits",
        sa.Column("source", ohmycoins.storage.dialects.KEY_TEXT, nullable=False),
        sa.Column("state", ohmycoins.storage.dialects.LONG_TEXT, nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("opened_ts", sa.BigInteger(), nullable=True),
        sa.Column("updated_ts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )
    with op.batch_alter_table("collection_tasks", schema=None) as batch_op:
        batch_op.drop_column("circuit_opened_ts")
        batch_op.drop_column("circuit_state")
        batch_op.drop_column("consecutive_failures")


def downgrade() -> None:
    with op.batch_alter_table("collection_tasks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("consecutive_failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column(
                "circuit_state",
                ohmycoins.storage.dialects.LONG_TEXT,
                nullable=False,
                server_default="closed",
            )
        )
        batch_op.add_column(sa.Column("circuit_opened_ts", sa.BigInteger(), nullable=True))
    op.drop_table("source_circuits")
