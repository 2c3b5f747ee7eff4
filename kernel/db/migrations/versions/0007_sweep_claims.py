"""sweep claims: when the sweep last published a claim for a payment and how many it published,
so a payment already claimed is not claimed again before its back-off has passed

Revision ID: 0007_sweep_claims
Revises: 0006_provider_binding
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_sweep_claims"
down_revision = "0006_provider_binding"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("payments", sa.Column("sweep_claimed_at", sa.DateTime(timezone=True)))
    op.add_column(
        "payments", sa.Column("sweep_claims", sa.Integer(), nullable=False, server_default="0")
    )
    op.create_check_constraint(
        op.f("ck_payments_sweep_claims_counted"), "payments", "sweep_claims >= 0"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_payments_sweep_claims_counted"), "payments", type_="check")
    op.drop_column("payments", "sweep_claims")
    op.drop_column("payments", "sweep_claimed_at")
