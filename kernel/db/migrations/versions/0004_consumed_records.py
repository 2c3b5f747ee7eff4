"""consumed records: the outcome of every webhook record the consumer settled, once per record

Revision ID: 0004_consumed_records
Revises: 0003_reversals
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_consumed_records"
down_revision = "0003_reversals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consumed_records",
        sa.Column("source_topic", sa.String(length=249), nullable=False),
        sa.Column("source_partition", sa.Integer(), nullable=False),
        sa.Column("source_offset", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint(
            "source_topic",
            "source_partition",
            "source_offset",
            name=op.f("pk_consumed_records"),
        ),
    )
    op.create_index(
        op.f("ix_consumed_records_reference"), "consumed_records", ["reference"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_consumed_records_reference"), table_name="consumed_records")
    op.drop_table("consumed_records")
