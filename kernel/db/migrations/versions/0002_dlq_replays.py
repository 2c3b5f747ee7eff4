"""dlq replays: the ledger of dead letters replayed by `payhooks dlq replay`

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dlq_replays",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("dlq_topic", sa.String(length=249), nullable=False),
        sa.Column("dlq_partition", sa.Integer(), nullable=False),
        sa.Column("dlq_offset", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column(
            "replayed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('replayed', 'refused')", name=op.f("ck_dlq_replays_outcome_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dlq_replays")),
        sa.UniqueConstraint(
            "dlq_topic", "dlq_partition", "dlq_offset", name="uq_dlq_replays_record"
        ),
    )
    op.create_index(op.f("ix_dlq_replays_reference"), "dlq_replays", ["reference"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_dlq_replays_reference"), table_name="dlq_replays")
    op.drop_table("dlq_replays")
