"""provider binding: a credit names the provider (and provider transaction) that paid it, and the
database refuses a ledger row whose provider is not the payment's

Revision ID: 0006_provider_binding
Revises: api_clients
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_provider_binding"
down_revision = "api_clients"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_unique_constraint("uq_payments_id_provider", "payments", ["id", "provider"])
    op.add_column("ledger_transactions", sa.Column("provider", sa.String(32), nullable=True))
    op.add_column(
        "ledger_transactions",
        sa.Column("provider_transaction_id", sa.String(255), nullable=True),
    )
    op.execute(
        "UPDATE ledger_transactions AS l SET provider = p.provider "
        "FROM payments AS p WHERE p.id = l.payment_id"
    )
    op.create_foreign_key(
        "fk_ledger_transactions_payment_provider",
        "ledger_transactions",
        "payments",
        ["payment_id", "provider"],
        ["id", "provider"],
    )


def downgrade() -> None:
    op.drop_constraint(
        "fk_ledger_transactions_payment_provider", "ledger_transactions", type_="foreignkey"
    )
    op.drop_column("ledger_transactions", "provider_transaction_id")
    op.drop_column("ledger_transactions", "provider")
    op.drop_constraint("uq_payments_id_provider", "payments", type_="unique")
