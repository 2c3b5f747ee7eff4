"""consumed_records: an index on recorded_at, for the sweep's pruning past the retention

Revision ID: 0008_consumed_recorded_at
Revises: 0007_sweep_claims
"""

from __future__ import annotations

from alembic import op

revision = "0008_consumed_recorded_at"
down_revision = "0007_sweep_claims"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_consumed_records_recorded_at"), "consumed_records", ["recorded_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_consumed_records_recorded_at"), table_name="consumed_records")
